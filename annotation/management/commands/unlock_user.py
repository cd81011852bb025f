"""`python manage.py unlock_user USERNAME`: clear a username's failed logins (django-axes), so
a locked-out user can log in at once from any address."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from annotation.services.users import user_login_unlock


class Command(BaseCommand):
    help = "Unlock a username locked out after too many failed logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **opts: Any) -> None:
        removed = user_login_unlock(username=opts["username"])
        if removed:
            self.stdout.write(f"{opts['username']}: {removed} lockout record(s) removed")
        else:
            self.stdout.write(f"{opts['username']}: no failed logins recorded; nothing to unlock")
