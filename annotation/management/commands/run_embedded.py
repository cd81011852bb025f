"""`make run`: migrate, create the demo, then serve the web app (gunicorn with threads: see
`web_server_argv`) and two Celery workers.

One worker takes the `default` queue (imports, exports, statistics), the other the `gpu`
queue (model jobs) in its own process, so a long model job never holds up an export. The
model worker runs one task at a time in its process (`--pool solo`: the model stays loaded
between chunks, torch keeps its threads) with progress bars off (they would reach the log as
WARNING lines). Ctrl-C stops all three. The workers use the broker from settings (a
filesystem broker under var/ by default, so no Redis is needed). This process also runs the
sweep of background runs whose worker stopped beating every STEPWISE_RUN_SWEEP_SECONDS (what
Celery beat does in production).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError

from annotation.services.runs import runs_sweep
from config.env import env

logger = logging.getLogger(__name__)


def sweep_if_due(*, last: float, now: float) -> float:
    """Run the sweep when STEPWISE_RUN_SWEEP_SECONDS have passed since `last`; returns when
    it last ran. A failed sweep (SQLite busy with a long import) waits for the next turn."""
    if now - last < settings.STEPWISE_RUN_SWEEP_SECONDS:
        return last
    try:
        counts = runs_sweep()
    except DatabaseError as exc:
        logger.warning("sweep of background runs skipped: %s", exc)
    else:
        for label, c in counts.items():
            if c["failed"] or c["requeued"]:
                logger.warning(
                    "sweep: %s: %d failed, %d requeued", label, c["failed"], c["requeued"]
                )
    return now


# Progress bars of model loading, GGUF conversion (transformers draws it with tqdm.auto,
# which only TQDM_DISABLE turns off) and dataset tokenisation off in the workers: Celery logs
# a worker's stderr as WARNING lines.
QUIET_ENV = {
    "TQDM_DISABLE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}
MODEL_WORKER_ENV = {
    **QUIET_ENV,
    "TRL_EXPERIMENTAL_SILENCE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    # Sleep, not spin, while waiting: the cores are shared with the web app and the other
    # worker (see labeling_jobs.apps).
    "OMP_WAIT_POLICY": "PASSIVE",
}


def web_server_argv(addr: str) -> list[str]:
    """The web app's command line: gunicorn with threads (no autoreload, no per-request
    process), STEPWISE_WEB_WORKERS processes of STEPWISE_WEB_THREADS threads each. SQLite
    takes one writer at a time (IMMEDIATE transactions queue on its busy timeout), so a
    few threads serve a small team; more processes add little on SQLite."""
    workers = env.int("STEPWISE_WEB_WORKERS", default=2)
    threads = env.int("STEPWISE_WEB_THREADS", default=4)
    return [
        sys.executable, "-m", "gunicorn", "config.wsgi:application",
        "--bind", addr, "--workers", str(workers), "--worker-class", "gthread",
        "--threads", str(threads), "--timeout", "300", "--graceful-timeout", "10",
        "--log-level", "warning",
    ]  # fmt: skip


class Command(BaseCommand):
    help = "Run Stepwise on the embedded default: web app on 127.0.0.1:8000 plus Celery workers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default=env.str("STEPWISE_ADDR", default="127.0.0.1:8000"))
        parser.add_argument("--no-demo", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        if not opts["no_demo"]:
            call_command("demo_setup")
        env_vars = dict(os.environ)
        env_vars.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.embedded")
        celery = [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO"]
        worker = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [*celery, "-Q", "default", "--concurrency", "1", "-n", "embedded-default@%h"],
            env={**env_vars, **QUIET_ENV},
        )
        model_worker = subprocess.Popen(  # noqa: S603
            [*celery, "-Q", "gpu", "--pool", "solo", "-n", "embedded-gpu@%h"],
            env={**env_vars, **MODEL_WORKER_ENV},
        )
        web = subprocess.Popen(web_server_argv(opts["addr"]), env=env_vars)  # noqa: S603
        self.stdout.write(
            self.style.SUCCESS(f"Stepwise is serving on http://{opts['addr']}/ (Ctrl-C stops)")
        )
        children = [web, worker, model_worker]

        def _stop(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _stop)
        last_sweep = time.monotonic()
        try:
            while all(p.poll() is None for p in children):
                time.sleep(0.5)
                last_sweep = sweep_if_due(last=last_sweep, now=time.monotonic())
        except KeyboardInterrupt:
            pass
        finally:
            for p in children:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for p in children:
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()
        self.stdout.write("Stopped.")
