"""`python manage.py grant_project_creation USERNAME [--revoke]`: let a user create projects
(a site-level permission; staff and superusers have it anyway)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.models import User
from annotation.services.users import user_project_creation_set


class Command(BaseCommand):
    help = "Grant (or with --revoke take back) the permission to create projects."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--revoke", action="store_true", help="take the permission back")

    def handle(self, *args: Any, **opts: Any) -> None:
        user = User.objects.filter(username=opts["username"]).first()
        if user is None:
            raise CommandError(f"no user {opts['username']!r}")
        user_project_creation_set(user=user, allowed=not opts["revoke"])
        state = "may not" if opts["revoke"] else "may"
        self.stdout.write(f"{user.username} {state} create projects")
