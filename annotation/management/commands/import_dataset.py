"""python manage.py import_dataset PATH --format F --project SLUG [--create-project KIND
[--mode every_step|first_error]] [--split MODE [--split-pattern REGEX]]"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from annotation.errors import ApplicationError
from annotation.importers import FORMAT_NAMES
from annotation.importers.split import SPLIT_MODES
from annotation.kinds import label_schema_default
from annotation.models import Project, ProjectKind, User
from annotation.services.imports import ImportResult, dataset_import
from annotation.services.projects import project_create

logger = logging.getLogger(__name__)

# --mode values and the step mode of the label schema each sets.
MODE_ALIASES = {
    "every_step": "rate_every_step",
    "rate_every_step": "rate_every_step",
    "first_error": "first_error",
}


class Command(BaseCommand):
    help = "Import a file into a project's dataset (all or nothing; a re-import is a no-op)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--format", required=True, help=f"one of: {', '.join(FORMAT_NAMES)}")
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument(
            "--create-project",
            metavar="KIND",
            choices=ProjectKind.values,
            help="create the project with this kind if it does not exist",
        )
        parser.add_argument(
            "--mode",
            choices=tuple(MODE_ALIASES),
            help="with --create-project step_labels: how steps are labeled (every_step: rate "
            "each step -1/0/+1; first_error: mark the first wrong step, as ProcessBench)",
        )
        parser.add_argument("--dataset", help="dataset name (default: the file name)")
        parser.add_argument("--answers", help="GSM8K-style JSONL with reference answers")
        parser.add_argument(
            "--label-config",
            metavar="XML_FILE",
            help="label_studio: the Label Studio project's labeling config (XML)",
        )
        parser.add_argument(
            "--split",
            choices=tuple(SPLIT_MODES),
            help="native, gsm8k_solutions: how to cut reasoning text into steps ("
            + "; ".join(f"{k}: {v}" for k, v in SPLIT_MODES.items())
            + ")",
        )
        parser.add_argument(
            "--split-pattern",
            metavar="REGEX",
            help="with --split regex: the regular expression that separates two steps",
        )
        parser.add_argument("--license", default="")
        parser.add_argument("--provenance", default="")
        parser.add_argument("--owner", help="username of the manager of a created project")

    def handle(self, *args: Any, **opts: Any) -> None:
        path = Path(opts["path"])
        if not path.is_file():
            raise CommandError(f"path: no such file {path}")
        if opts["format"] not in FORMAT_NAMES:
            raise CommandError(
                f"format: unknown format {opts['format']!r}; known formats: {', '.join(FORMAT_NAMES)}"
            )
        options: dict[str, Any] = {}
        if opts["answers"]:
            if not Path(opts["answers"]).is_file():
                raise CommandError(f"answers: no such file {opts['answers']}")
            options["answers"] = str(Path(opts["answers"]).resolve())
        if opts["split"]:
            options["split"] = opts["split"]
        if opts["split_pattern"]:
            options["split_pattern"] = opts["split_pattern"]
        if opts["label_config"]:
            config = Path(opts["label_config"])
            if not config.is_file():
                raise CommandError(f"label-config: no such file {config}")
            options["label_config"] = config.read_text(encoding="utf-8", errors="replace")
        started = time.perf_counter()
        try:
            # A project created for this import goes away with a rejected file.
            with transaction.atomic():
                project, created = self._project(opts)
                result = self._import(path, project, options, opts)
        except CommandError:
            raise
        except Exception as exc:
            # A file we failed to reject properly is still the user's file: one line, not a
            # traceback (unless asked for); the transaction rolled back.
            if opts.get("traceback"):
                raise
            logger.warning("import of %s failed: %s: %s", path, type(exc).__name__, exc)
            raise CommandError(
                f"{path.name}: the import failed ({type(exc).__name__}: {exc}); nothing was "
                "written. Run again with --traceback for details."
            ) from None
        elapsed = time.perf_counter() - started
        if created:
            self.stdout.write(f"Created project {project.slug} ({project.kind})")
        for skipped in result.skipped[:10]:
            self.stdout.write(f"  skipped {skipped.line}: {skipped.reason}")
        self.stdout.write(self.style.SUCCESS(f"{result.message} ({elapsed:.2f} s)"))
        self.stdout.write(
            f"  items {result.items_created}, steps {result.steps_created}, turns "
            f"{result.turns_created}, candidates {result.candidates_created}, annotations "
            f"{result.annotations_created}, unchanged {result.items_unchanged}, skipped "
            f"{result.records_skipped}"
        )

    def _project(self, opts: dict[str, Any]) -> tuple[Project, bool]:
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is not None:
            if opts.get("mode"):
                raise CommandError(
                    f"mode: project {project.slug!r} exists; --mode applies when the import "
                    "creates the project (change it in the project's settings)"
                )
            return project, False
        if not opts["create_project"]:
            raise CommandError(
                f"project: no project {opts['project']!r}; pass --create-project KIND to create it"
            )
        owner = None
        if opts["owner"]:
            owner = User.objects.filter(username=opts["owner"]).first()
            if owner is None:
                raise CommandError(f"owner: no user {opts['owner']!r}")
        schema = None
        if opts.get("mode"):
            if "mode" not in label_schema_default(opts["create_project"]):
                raise CommandError(
                    f"mode: {opts['create_project']} projects have no step mode; --mode is for "
                    "reasoning-trace projects"
                )
            schema = {"mode": MODE_ALIASES[opts["mode"]]}
        try:
            project = project_create(
                name=opts["project"].replace("-", " ").title(),
                slug=opts["project"],
                kind=opts["create_project"],
                created_by=owner,
                label_schema=schema,
            )
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        return project, True

    def _import(
        self, path: Path, project: Project, options: dict[str, Any], opts: dict[str, Any]
    ) -> ImportResult:
        with open(path, "rb") as fh:
            result = dataset_import(
                project=project,
                dataset_name=opts["dataset"] or path.name,
                fmt=opts["format"],
                stream=fh,
                options=options,
                dataset_license=opts["license"],
                dataset_provenance=opts["provenance"],
            )
        if not result.ok:
            for issue in result.errors:
                self.stderr.write(f"  {path.name}: {issue}")
            raise CommandError(result.message)
        return result
