"""`python manage.py run_labeling_job --project SLUG --kind KIND [--model M] [--limit N] [--wait]`

Creates a labeling job exactly as the web page and the API do; its chunks go to the `gpu`
queue. `--wait` follows the job with a progress bar until it ends (exit status 1 unless it
succeeded); `--inline` runs the chunks in this process instead, with no worker needed.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from annotation.errors import ApplicationError
from annotation.models import Project
from labeling_jobs.models import ACTIVE_STATUSES, JobKind, JobStatus, LabelingJob
from labeling_jobs.services import labeling_job_create, labeling_job_run_inline


def _param(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise CommandError(f"--param expects key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


class Command(BaseCommand):
    help = "Start a labeling job (judge, Monte-Carlo, first-error search, consensus, ...)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--kind", required=True, choices=JobKind.values)
        parser.add_argument(
            "--model",
            default=None,
            help="model dir, GGUF file or cached hub id (default: demo model)",
        )
        parser.add_argument("--backend", default=None, choices=["transformers", "openai"])
        parser.add_argument("--limit", type=int, default=None, help="at most N items")
        parser.add_argument("--dataset", type=int, default=None, help="only this dataset id")
        parser.add_argument("--chunk-size", type=int, default=None)
        parser.add_argument("--param", action="append", default=[], type=_param, metavar="KEY=VALUE",
                            help="method parameter, e.g. n_rollouts=4 (JSON values)")  # fmt: skip
        parser.add_argument("--wait", action="store_true", help="follow the job until it ends")
        parser.add_argument("--inline", action="store_true", help="run the chunks in this process")

    def handle(self, *args: Any, **opts: Any) -> None:
        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"no project {opts['project']!r}")
        scope = {"dataset_id": opts["dataset"]} if opts["dataset"] else {}
        try:
            job = labeling_job_create(
                project=project, kind=opts["kind"], backend=opts["backend"], model_name=opts["model"],
                params=dict(opts["param"]), scope=scope, limit=opts["limit"],
                chunk_size=opts["chunk_size"], enqueue=not opts["inline"],
            )  # fmt: skip
        except ApplicationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"job {job.id}: {job.kind} on {job.progress_total} items of {project.slug} "
            f"({job.backend}: {job.model_name}), {job.chunks.count()} chunks"
        )
        if not (opts["wait"] or opts["inline"]):
            return
        bar = tqdm(total=job.progress_total, unit="item", desc=f"job {job.id}", disable=None)

        def show(j: LabelingJob) -> None:
            bar.n = j.progress_done
            bar.set_postfix_str(f"{j.status}, {j.tokens_generated} tokens")
            bar.refresh()

        if opts["inline"]:
            job = labeling_job_run_inline(job=job, progress=show)
        else:
            while True:
                job.refresh_from_db()
                show(job)
                if job.status not in ACTIVE_STATUSES:
                    break
                time.sleep(0.5)
        bar.close()
        self.stdout.write(
            f"job {job.id} {job.status}: {job.progress_done}/{job.progress_total} items, "
            f"{job.tokens_generated} tokens, {job.wall_seconds:.1f}s"
            + (f", skipped {job.skipped}" if job.skipped else "")
            + (f", stats {job.stats}" if job.stats else "")
        )
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(job.error or f"job {job.id} ended {job.status}")
