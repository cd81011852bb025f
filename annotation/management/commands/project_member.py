"""`python manage.py project_member SLUG USER [--role ROLE | --remove]`: add a member to a
project, change their role, or remove them, for scripted set-ups. USER is a username or the
email of an account. The project keeps at least one manager."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.errors import ApplicationError
from annotation.models import Role
from annotation.selectors.projects import membership_get, project_get_by_slug
from annotation.selectors.users import user_find
from annotation.services.projects import membership_remove, membership_set


class Command(BaseCommand):
    help = "Add a project member, change their role (--role), or remove them (--remove)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="project slug")
        parser.add_argument("user", help="username, or the email of the account")
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--role", choices=Role.values, help="add with, or change to, this role")
        action.add_argument("--remove", action="store_true", help="remove the membership")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = project_get_by_slug(slug=opts["project"])
        if project is None:
            raise CommandError(f"project: no project {opts['project']!r}")
        user = user_find(identifier=opts["user"])
        if user is None:
            raise CommandError(
                f"user: no user {opts['user']!r} (or several accounts share that email)"
            )
        try:
            if opts["remove"]:
                membership = membership_get(project=project, user=user)
                if membership is None:
                    raise CommandError(f"{user.username} is not a member of {project.slug}")
                membership_remove(membership=membership)
                self.stdout.write(f"{user.username} removed from {project.slug}")
                return
            membership = membership_set(project=project, user=user, role=opts["role"])
        except ApplicationError as exc:
            raise CommandError(f"{exc.field or 'error'}: {exc.message}") from None
        self.stdout.write(f"{user.username} is {membership.role} of {project.slug}")
