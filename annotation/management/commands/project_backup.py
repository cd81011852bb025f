"""`python manage.py project_backup --project SLUG --out FILE`: write a project's full
backup (gzip-compressed JSONL, streamed) to FILE; `-` writes to standard output."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.models import Project
from annotation.services.backups import project_backup_write


class Command(BaseCommand):
    help = "Back up a project: every row, one streaming gzip JSONL file with a version header."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="slug of the project")
        parser.add_argument("--out", required=True, help="file to write (.jsonl.gz), or -")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"no project {opts['project']!r}")
        if opts["out"] == "-":
            project_backup_write(project=project, out=sys.stdout.buffer)
            return
        out = Path(opts["out"])
        partial = out.with_name(out.name + ".partial")
        try:
            with open(partial, "wb") as fh:
                size = project_backup_write(project=project, out=fh)
            os.replace(partial, out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self.stdout.write(f"backed up {project.slug!r} to {out} ({size:,} bytes)")
