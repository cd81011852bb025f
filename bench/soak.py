"""Soak (issue 9.7): the production stack under mixed work for a while, then the books.

    python bench/soak.py                # 1 minute
    python bench/soak.py --minutes 10   # the issue's run

PostgreSQL + Redis, the app under gunicorn (`config.settings.production`, 4 sync workers) and
two Celery workers as in production (`default` queue, prefork ×2; `gpu` queue, solo). On a
fresh `step_labels` project (k = 2, 5,000 traces, 20 annotators with tokens), at the same
time for `--minutes`:

- 20 annotators at human pace over REST (bench/annotate_load.py's open loop: each item takes
  an exponentially distributed 30 s on average; claim, then submit when done);
- one import: a 20,000-trace JSONL file uploaded over REST into the same project (the import
  run on the `default` worker);
- one export: `trl_stepwise` over REST (the export run on the `default` worker);
- one labeling job: `mc_estimate` on a tiny random Llama built in a temporary folder (the
  same one the worker-crash test uses), 24 items in chunks of 4 (the `gpu` worker).

Before that, a warm-up that is not counted: one small job (4 items) and one export, so that
the first reading of RSS is taken after the workers have loaded torch, the model and the
exporters (what a worker keeps for its life); the runs of the warm-up are counted as runs.

Then, once the runs have ended (or `--grace` seconds passed): errors (HTTP errors of the
annotators and of the REST calls), annotations lost or duplicated (the submits the clients saw
against the database), items above k, runs not finished (not `succeeded`), and the resident
memory (VmRSS, summed over each server's processes) of the web app and of the workers at the
start of the soak and at its end. Goal: 0 / 0 / 0 / 0, RSS growth under 10%.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import _django  # noqa: E402
from bench.annotate_load import (  # noqa: E402
    HOST,
    SLUG,
    Human,
    Stats,
    free_port,
    integrity_of,
    load_average,
    percentiles,
    prepare,
    run_open_loop,
    stop_gunicorn,
    wait_until_up,
)
from bench.import_traces import _multipart, write_traces  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/stepwise_bench_soak"


def rss_mb(pgid: int) -> float:
    """Resident memory of every process in a process group (a server and its children)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getpgid(int(pid)) != pgid:
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ProcessLookupError):
            continue
    return round(total / 1024, 1)


class Rest:
    """A manager's REST calls (upload, export, polling) on their own connection."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Token {token}"}
        self.errors: list[str] = []

    def call(self, method: str, path: str, body: bytes | None = None, ctype: str = "") -> Any:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=600)
        headers = dict(self.headers, **({"Content-Type": ctype} if ctype else {}))
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        if response.status >= 400:
            self.errors.append(f"{method} {path} {response.status}: {data[:200]!r}")
            return None
        return json.loads(data) if data else None

    def run_until_ended(self, path: str, deadline: float) -> dict[str, Any]:
        while True:
            run = self.call("GET", path) or {}
            if run.get("status") in ("succeeded", "failed", "cancelled"):
                return run
            if time.monotonic() > deadline:
                return run
            time.sleep(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--import-items", type=int, default=20_000)
    parser.add_argument("--job-items", type=int, default=24)
    parser.add_argument("--mean-s", type=float, default=30.0, help="mean seconds per item")
    parser.add_argument(
        "--grace", type=float, default=300.0, help="seconds to wait for the runs after the soak"
    )
    args = parser.parse_args()

    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    broker = os.environ.get("SOAK_BROKER_URL") or os.environ.get(
        "CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"
    )
    if not broker.startswith("redis://"):
        raise SystemExit("the soak runs on Redis: set CELERY_BROKER_URL=redis://...")
    os.environ["CELERY_BROKER_URL"] = broker
    _django.setup(database_url, migrate=True)
    from django.contrib.auth.hashers import make_password
    from rest_framework.authtoken.models import Token

    from annotation.models import ExportRun, ImportRun, Membership, Project, Role, User
    from labeling_jobs.models import LabelingJob
    from labeling_jobs.services import labeling_job_create
    from tests.labeling_jobs.conftest import build_tiny_model

    setup = prepare(
        n_items=args.items,
        overlap=2,
        annotators=args.annotators,
        password=secrets.token_urlsafe(16),
    )
    project = Project.objects.get(id=setup["project_id"])
    manager = User.objects.create(
        username=f"soak-manager-{secrets.token_hex(3)}", password=make_password(None)
    )
    Membership.objects.create(project=project, user=manager, role=Role.MANAGER)
    manager_token = Token.objects.create(user=manager).key
    work = Path(tempfile.mkdtemp(prefix="stepwise-soak-"))
    model_dir = build_tiny_model(work / "tiny-llama")
    import_file = work / "import.jsonl"
    write_traces(import_file, args.import_items, seed=7)

    port = free_port()
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker,
        DJANGO_ALLOWED_HOSTS=HOST,
        DJANGO_SECURE_COOKIES="false",
        DJANGO_DEBUG="false",
        STEPWISE_API_THROTTLE_ANON="",
        STEPWISE_API_THROTTLE_USER="",
        STEPWISE_API_THROTTLE_LOGIN="",
        DJANGO_CACHE_URL="locmemcache://",
        STEPWISE_MEDIA_ROOT=str(work / "media"),
        DJANGO_STATIC_ROOT=str(work / "static"),
        TQDM_DISABLE="1",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    (work / "static").mkdir()
    name = f"soak-{port}"
    commands = {
        "web": [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
                f"{HOST}:{port}", "--workers", "4", "--log-level", "warning", "--timeout", "300"],
        "worker_default": [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q",
                           "default", "--concurrency", "2", "-l", "warning", "-n",
                           f"{name}-default@%h", "--without-mingle", "--without-gossip"],
        "worker_gpu": [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "gpu",
                       "--pool", "solo", "-l", "warning", "-n", f"{name}-gpu@%h",
                       "--without-mingle", "--without-gossip"],
    }  # fmt: skip
    procs: dict[str, subprocess.Popen] = {}
    result: dict[str, Any] = {"bench": "soak", "minutes": args.minutes, "cpus": os.cpu_count()}
    try:
        for role, cmd in commands.items():
            procs[role] = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)
        wait_until_up(procs["web"], port)
        time.sleep(5.0)  # the workers connect to Redis and PostgreSQL
        if any(p.poll() is not None for p in procs.values()):
            raise SystemExit("a server exited at start")
        rest = Rest(port, manager_token)
        humans = [Human(t, seed=i) for i, t in enumerate(setup["tokens"])]
        # Warm-up, not counted: one small job and one export, so that the workers have
        # loaded what they keep (torch and the model, the exporters) before RSS is first read.
        warm_job = labeling_job_create(
            project=project, kind="mc_estimate", model_name=str(model_dir), chunk_size=4,
            limit=4, params={"n_rollouts": 2, "max_new_tokens": 16},
        )  # fmt: skip
        warm_export = rest.call("POST", f"/api/v1/projects/{SLUG}/exports/",
                                json.dumps({"format": "trl_stepwise"}).encode(),
                                "application/json")  # fmt: skip
        warm_deadline = time.monotonic() + 300
        if warm_export is not None:
            warm_export = rest.run_until_ended(
                f"/api/v1/projects/{SLUG}/exports/{warm_export['id']}/", warm_deadline
            )
        while time.monotonic() < warm_deadline:
            warm_job.refresh_from_db()
            if warm_job.status in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(1.0)
        result["warm_up"] = {"job": warm_job.status,
                             "export": (warm_export or {}).get("status", "not started")}  # fmt: skip
        rss_start = {role: rss_mb(p.pid) for role, p in procs.items()}
        result["load_average_before"] = load_average()
        deadline = time.monotonic() + args.minutes * 60 + args.grace
        runs: dict[str, Any] = {}

        def do_import() -> None:
            body, ctype = _multipart(import_file, {"format": "native", "dataset": "soak-import"})
            started = time.perf_counter()
            answer = rest.call("POST", f"/api/v1/projects/{SLUG}/imports/", body, ctype)
            if answer is None:
                runs["import"] = {"status": "not started"}
                return
            run = rest.run_until_ended(f"/api/v1/projects/{SLUG}/imports/{answer['id']}/", deadline)
            runs["import"] = {"id": answer["id"], "status": run.get("status"),
                              "items_created": run.get("items_created"),
                              "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip

        def do_export() -> None:
            time.sleep(min(10.0, args.minutes * 15))  # some annotations first
            started = time.perf_counter()
            body = json.dumps({"format": "trl_stepwise"}).encode()
            answer = rest.call(
                "POST", f"/api/v1/projects/{SLUG}/exports/", body, "application/json"
            )
            if answer is None:
                runs["export"] = {"status": "not started"}
                return
            run = rest.run_until_ended(f"/api/v1/projects/{SLUG}/exports/{answer['id']}/", deadline)
            runs["export"] = {"id": answer["id"], "status": run.get("status"),
                              "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip

        job = labeling_job_create(
            project=project, kind="mc_estimate", model_name=str(model_dir), chunk_size=4,
            limit=args.job_items, params={"n_rollouts": 4, "max_new_tokens": 48},
        )  # fmt: skip
        job_started = time.perf_counter()
        side = [threading.Thread(target=do_import), threading.Thread(target=do_export)]
        for t in side:
            t.start()
        stats, elapsed = run_open_loop(
            port, humans, args.minutes * 60, mean_s=args.mean_s, threads=16
        )
        rss_soak_end = {role: rss_mb(p.pid) for role, p in procs.items()}
        for t in side:
            t.join(timeout=max(1.0, deadline - time.monotonic()))
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.status in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(1.0)
        job.refresh_from_db()
        runs["labeling_job"] = {"id": job.id, "status": job.status,
                                "seconds": round(time.perf_counter() - job_started, 1)}  # fmt: skip
        rss_end = {role: rss_mb(p.pid) for role, p in procs.items()}
    finally:
        for p in procs.values():
            stop_gunicorn(p)
        shutil.rmtree(work, ignore_errors=True)

    everything = Stats()
    everything.merge(stats)
    integrity = integrity_of(everything, project_id=setup["project_id"], overlap=2)
    started_runs = [
        *ImportRun.objects.filter(project=project).values_list("status", flat=True),
        *ExportRun.objects.filter(project=project).values_list("status", flat=True),
        *LabelingJob.objects.filter(project=project).values_list("status", flat=True),
    ]
    not_finished = sum(1 for s in started_runs if s != "succeeded")
    errors = len(stats.errors) + len(rest.errors)
    growth = {
        role: round((rss_end[role] - rss_start[role]) / max(1.0, rss_start[role]), 3)
        for role in rss_start
    }
    result.update(
        annotators=args.annotators,
        mean_s_per_item=args.mean_s,
        seconds=round(elapsed, 1),
        claim_ms=percentiles(stats.claim_ms),
        submit_ms=percentiles(stats.submit_ms),
        submits=len(stats.submit_ms),
        runs=runs,
        errors=errors,
        error_samples=(stats.errors + rest.errors)[:5],
        lost=integrity["lost"],
        duplicated=integrity["duplicate_item_annotator"] + integrity["duplicate_ids_returned"],
        unexpected=integrity["unexpected"],
        items_above_k=integrity["items_over_k"],
        runs_not_finished=not_finished,
        rss_mb_start=rss_start,
        rss_mb_soak_end=rss_soak_end,
        rss_mb_end=rss_end,
        rss_growth=growth,
        load_average_after=load_average(),
    )
    result["goal_met"] = (
        errors == 0
        and result["lost"] == 0
        and result["duplicated"] == 0
        and result["items_above_k"] == 0
        and not_finished == 0
        and all(g < 0.10 for g in growth.values())
    )
    print(json.dumps(result))


if __name__ == "__main__":
    # SIGTERM stops the servers through the finally above.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    main()
