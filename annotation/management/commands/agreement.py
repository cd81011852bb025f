"""`python manage.py agreement --project SLUG [--field F] [--sources S] [--json]`: the
agreement figures the dashboard shows, computed now."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotation.errors import ApplicationError
from annotation.models import Project
from annotation.selectors.agreement import SOURCE_CHOICES, agreement_report


def _fmt(x: Any) -> str:
    if x is None:
        return "undefined"
    if isinstance(x, float):
        return f"{x:.3f}"
    return str(x)


class Command(BaseCommand):
    help = "Print inter-annotator agreement per label field (same numbers as the dashboard)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--field", action="append", help="field key (repeatable)")
        parser.add_argument("--sources", default="annotators", choices=sorted(SOURCE_CHOICES))
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"no project {opts['project']!r}")
        try:
            report = agreement_report(
                project=project, fields=opts["field"], sources=opts["sources"]
            )
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=2, ensure_ascii=False))
            return
        self.stdout.write(f"Project {project.slug} — raters: {', '.join(report['sources'])}")
        for f in report["fields"]:
            self.stdout.write("")
            self.stdout.write(f"{f['label']} [{f['field']}, {f['level']}]")
            self.stdout.write(
                f"  Krippendorff alpha {_fmt(f['alpha'])} · percent agreement "
                f"{_fmt(f['percent_agreement'])} · Fleiss kappa {_fmt(f['fleiss_kappa'])}"
                + (f" ({f['fleiss_note']})" if f["fleiss_note"] else "")
            )
            self.stdout.write(
                f"  units rated twice or more {f['n_units']} of {f['n_units_total']} · "
                f"ratings {f['n_ratings']} · raters {f['n_raters']}"
            )
            if "first_error_exact" in f:
                self.stdout.write(
                    f"  first error: exact {_fmt(f['first_error_exact'])} · within ±1 step "
                    f"{_fmt(f['first_error_within_one'])} ({f['first_error_pairs']} pairs)"
                )
            for r in f["raters"]:
                self.stdout.write(
                    f"    {r['name']:<28} ratings {r['n_ratings']:>7} · alpha without "
                    f"{_fmt(r['loo_alpha'])} · effect {_fmt(r['alpha_delta'])}"
                )
            for m in f.get("models", []):
                self.stdout.write(
                    f"    model {m['method']}/{m['model']}: units {m['n_units']} · alpha vs "
                    f"human majority {_fmt(m.get('alpha'))} · kappa {_fmt(m.get('cohen_kappa'))}"
                    f" · agreement {_fmt(m.get('percent_agreement'))}"
                )
