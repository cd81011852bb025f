"""`python manage.py project_restore FILE [--as SLUG]`: restore a project backup as a new
project, all or nothing. A slug that exists is an error unless --as gives a new one."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.errors import ApplicationError
from annotation.services.backups import project_restore


class Command(BaseCommand):
    help = "Restore a project backup (from project_backup) as a new project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the backup (.jsonl.gz)")
        parser.add_argument(
            "--as", dest="slug", default="", help="slug of the restored project (default: the "
            "backup's; required when a project with that slug exists)",
        )  # fmt: skip

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            with open(opts["file"], "rb") as fh:
                project = project_restore(stream=fh, slug=opts["slug"] or None)
        except OSError as exc:
            raise CommandError(f"{opts['file']}: {exc.strerror or exc}") from None
        except ApplicationError as exc:
            hint = " (--as NEW_SLUG)" if exc.code == "conflict" else ""
            raise CommandError(f"{exc}{hint}") from None
        items = project.items.count()
        self.stdout.write(f"restored {project.slug!r} ({project.name}): {items:,} items")
