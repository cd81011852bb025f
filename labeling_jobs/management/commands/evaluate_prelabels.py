"""`python manage.py evaluate_prelabels --project SLUG --against SOURCE [--json]`

ProcessBench's metrics for each method's newest job against an annotator's first-error
labels (e.g. `--against processbench-experts`, the imported ProcessBench annotator).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.models import Project
from labeling_jobs.selectors import evaluation_report


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


class Command(BaseCommand):
    help = "Compare the pre-labels' first errors with an annotator's (ProcessBench F1)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True)
        parser.add_argument("--against", required=True, help="username of the reference annotator")
        parser.add_argument("--job", action="append", default=[], metavar="METHOD=JOB_ID",
                            help="evaluate this job for a method instead of its newest")  # fmt: skip
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"no project {opts['project']!r}")
        job_ids = {}
        for spec in opts["job"]:
            method, _, jid = spec.partition("=")
            if not jid.isdigit():
                raise CommandError(f"--job expects METHOD=JOB_ID, got {spec!r}")
            job_ids[method] = int(jid)
        report = evaluation_report(project=project, against=opts["against"], job_ids=job_ids)
        if not report["n_reference_items"]:
            raise CommandError(f"{opts['against']!r} has no first-error labels in {project.slug}")
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=2, sort_keys=True))
            return
        self.stdout.write(
            f"{project.slug}: {report['n_reference_items']} items labeled by {opts['against']}"
        )
        header = f"{'method':<20}{'job':>6}{'cover':>8}{'acc_err':>9}{'acc_cor':>9}{'F1':>7}{'F1cov':>7}{'step agr':>10}"
        self.stdout.write(header)
        for name, m in report["methods"].items():
            step = "—" if m["step_agreement"] is None else f"{100 * m['step_agreement']:.1f}"
            self.stdout.write(
                f"{name:<20}{m['job_id']:>6}{100 * m['coverage']:>7.0f}%{_pct(m['acc_error']):>9}"
                f"{_pct(m['acc_correct']):>9}{_pct(m['f1']):>7}{_pct(m['f1_covered']):>7}{step:>10}"
            )
        if not report["methods"]:
            self.stdout.write("no labeling job with first-error verdicts yet")
