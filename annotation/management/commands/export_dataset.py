"""`python manage.py export_dataset --project SLUG --format F --out DIR [--option k=v ...]`:
write an export (data files, manifest.json, README.md) into DIR, synchronously."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.errors import ApplicationError
from annotation.exporters import EXPORT_FORMAT_NAMES
from annotation.exporters.pipeline import export_write
from annotation.models import Project


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


class Command(BaseCommand):
    help = "Export a project's labels in a training format (streams; prints the counts)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True)
        parser.add_argument("--format", required=True, choices=EXPORT_FORMAT_NAMES)
        parser.add_argument("--out", required=True, help="output folder (created)")
        parser.add_argument(
            "--option",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="an export option; VALUE is JSON when it parses (test_size=0.1, dedup=false)",
        )
        parser.add_argument("--options-json", default="", help="all options as a JSON object")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"no project {opts['project']!r}")
        options: dict[str, Any] = {}
        if opts["options_json"]:
            try:
                options = json.loads(opts["options_json"])
            except json.JSONDecodeError as exc:
                raise CommandError(f"--options-json: {exc}") from None
        for pair in opts["option"]:
            name, sep, raw = pair.partition("=")
            if not sep:
                raise CommandError(f"--option {pair!r}: expected NAME=VALUE")
            options[name.strip()] = _value(raw)
        try:
            manifest = export_write(
                project=project, fmt=opts["format"], options=options, out_dir=Path(opts["out"])
            )
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        for f in manifest["files"]:
            self.stdout.write(f"{f['split']:>6}  {f['records']:>9,}  {f['path']}")
        self.stdout.write(
            f"{manifest['counts']['total']:,} records; manifest.json and README.md in {opts['out']}"
        )
