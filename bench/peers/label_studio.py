"""Stepwise side by side with Label Studio: the same work, through their REST APIs, with the
same client code, in one run.

    python bench/peers/label_studio.py                 # 2,000 pairs, 100 + 300 cycles (~2 min
                                                       # quiet; 3.5 min on the busy 2-core box)
    python bench/peers/label_studio.py --full          # 10,000 pairs, 300 + 1,000 (issue 13)
    python bench/peers/label_studio.py --n 50000       # the larger run (300 + 1,000 cycles)
    python bench/peers/label_studio.py --skip-install  # the Label Studio venv already exists

Label Studio 1.23.2 is pip-installed once (with gunicorn) into var/peers/; each run gets a
fresh data dir (its default SQLite, copied from a migrated template) and runs under gunicorn
with 2 gthread workers × 4 threads on a free loopback port, DEBUG off. Stepwise runs as in
production: gunicorn with 4 sync workers and `config.settings.production` on PostgreSQL
(database `stepwise_peer_ls`, emptied first), a Celery worker (concurrency 1, Redis db 9)
for the import and export runs. Both servers are started in their own process groups and
stopped by their PIDs in a `finally`, also on error or Ctrl-C.

The work, and how each step maps onto each API (one `httpx.Client` per simulated user,
keep-alive, `Authorization: Token <key>` on both):

| step | Label Studio | Stepwise |
| --- | --- | --- |
| preference project | POST /api/projects (Pairwise config) | POST /api/v1/projects/ (kind preference) + members |
| import N pairs, one upload, until claimable | POST /api/projects/{id}/import (JSON file; synchronous in the Community edition) | POST /api/v1/projects/{slug}/imports/ (native JSONL) + poll the run until `succeeded` |
| next item | GET /api/projects/{id}/next/ | POST /api/v1/projects/{slug}/assignments/next/ |
| submit | POST /api/tasks/{id}/annotations/ (pairwise result) | POST /api/v1/projects/{slug}/assignments/{id}/submit/ |
| full export | GET /api/projects/{id}/export?exportType=JSON&download_all_tasks=true (synchronous) | POST /api/v1/projects/{slug}/exports/ (format `label_studio`) + poll + GET download |

Pairs: a 300-character prompt and two 600-character responses, the same texts on both.
Phases: import; warm-up (8 clients × 3 cycles, not reported); 300 next→submit cycles from
one client (100 by default); 1,000 submits from 8 clients (300 by default) (each loops next→submit; throughput is submits per
second of wall time); the full export of every item with its annotations, written to disk,
counted and compared (the same items and annotations on both). Server RSS (the sum over the
process tree: LS's gunicorn; Stepwise's gunicorn and its Celery worker — PostgreSQL is not
included, Label Studio's SQLite lives in its processes) is sampled from /proc every 50 ms;
CPU seconds of the server trees and of PostgreSQL are recorded per phase.

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import string
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.peers import ls_peer  # noqa: E402
from bench.peers.measure import (  # noqa: E402
    CLIENTS,
    Phase,
    concurrent,
    count_export,
    cycles,
    measure,
    pct,
)
from bench.peers.rest_clients import LabelStudio, Stepwise  # noqa: E402

ROOT = ls_peer.ROOT
HOST = ls_peer.HOST
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/stepwise_peer_ls"
DEFAULT_BROKER = "redis://127.0.0.1:6379/9"


# --- data ---------------------------------------------------------------------------------


def _text(rng: random.Random, n: int) -> str:
    words = []
    size = 0
    while size < n:
        w = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9)))
        words.append(w)
        size += len(w) + 1
    return " ".join(words)[:n]


def pairs(n: int, seed: int = 7) -> Iterator[tuple[str, str, str, str]]:
    rng = random.Random(seed)
    for i in range(n):
        yield f"pair-{i}", _text(rng, 300), _text(rng, 600), _text(rng, 600)


def write_files(n: int, folder: Path) -> tuple[Path, Path]:
    """The same pairs as a Label Studio task list (JSON) and as Stepwise native JSONL."""
    ls_path, sw_path = folder / "tasks.json", folder / "items.jsonl"
    with open(ls_path, "w") as ls, open(sw_path, "w") as sw:
        ls.write("[")
        for i, (ext, prompt, a, b) in enumerate(pairs(n)):
            data = {"prompt": prompt, "answer1": a, "answer2": b}
            ls.write(("," if i else "") + json.dumps({"data": data, "meta": {"ext": ext}}))
            rec = {"external_id": ext, "prompt": prompt, "candidates": [{"text": a}, {"text": b}]}
            sw.write(json.dumps(rec) + "\n")
        ls.write("]")
    return ls_path, sw_path


def run_peer(peer: Any, pids: list[int], n: int, files: tuple[Path, Path], single: int,
             total8: int, out_dir: Path) -> dict[str, Phase]:  # fmt: skip
    phases = {k: Phase() for k in ("import", "single", "eight", "export")}
    peer.create_project()
    with measure(phases["import"], pids):
        phases["import"].extra = peer.import_file(*files, n)
    warm = Phase()
    concurrent(peer, CLIENTS * 3, warm)
    lock = threading.Lock()
    with measure(phases["single"], pids):
        cycles(peer, peer.annotators[0], single, phases["single"], random.Random(99), lock,
               [single])  # fmt: skip
    with measure(phases["eight"], pids):
        concurrent(peer, total8, phases["eight"])
    dest = out_dir / f"{peer.name.replace(' ', '_').lower()}_export.json"
    with measure(phases["export"], pids):
        peer.export(dest)
    phases["export"].extra = count_export(dest)
    phases["export"].extra["annotations_submitted"] = (
        warm.submits + phases["single"].submits + phases["eight"].submits
    )
    return phases


# --- Stepwise's servers -----------------------------------------------------------------------


def stepwise_prepare(database_url: str, broker: str) -> tuple[list[str], list[str]]:
    """Empty database (migrated), a manager and 8 annotators with tokens; empty broker db."""
    from bench import _django

    _django.setup(database_url, migrate=True)
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from annotation.models import User

    with connection.cursor() as cur:
        cur.execute("TRUNCATE annotation_project, annotation_importrun, annotation_exportrun "
                    "RESTART IDENTITY CASCADE")  # fmt: skip
    User.objects.filter(username__startswith="peer-").delete()
    hashed = make_password(secrets.token_urlsafe(16))
    names = ["peer-manager"] + [f"peer-annotator-{i}" for i in range(CLIENTS)]
    # The manager creates the project (security: the site-level permission to do so).
    users = User.objects.bulk_create(
        User(username=u, password=hashed, can_create_projects=u == "peer-manager") for u in names
    )
    tokens = [Token.objects.create(user=u).key for u in users]
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    import redis

    redis.Redis.from_url(broker).flushdb()
    return names, tokens


def stepwise_env(database_url: str, broker: str, media: Path) -> dict[str, str]:
    return dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker,
        DJANGO_ALLOWED_HOSTS=HOST,
        DJANGO_SECURE_COOKIES="false",
        DJANGO_DEBUG="false",
        DJANGO_LOG_LEVEL="WARNING",
        STEPWISE_MEDIA_ROOT=str(media),
        DJANGO_STATIC_ROOT=tempfile.mkdtemp(prefix="stepwise-peer-static-"),
        # Label Studio has no API throttle; the runs are polled and 8 clients loop as fast
        # as they can, so the per-user rate (security) would measure the throttle.
        STEPWISE_API_THROTTLE_USER="",
    )


def stepwise_start(env: dict[str, str], port: int, log: Path) -> list[subprocess.Popen]:
    out = open(log, "ab")  # noqa: SIM115
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"{HOST}:{port}",
         "--workers", "4", "--worker-class", "sync", "--log-level", "warning", "--timeout", "300"],
        env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default",
         "--concurrency", "1", "--without-gossip", "--without-mingle", "-l", "warning"],
        env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    procs = [web, worker]
    try:
        ls_peer.wait_http(f"http://{HOST}:{port}/healthz", web)
    except BaseException:
        for p in procs:
            ls_peer.stop(p)
        raise
    return procs


# --- the table --------------------------------------------------------------------------------


def ratio(ls: float | None, sw: float | None, *, higher_better: bool = False) -> str:
    if not ls or not sw:
        return "—"
    r = sw / ls if higher_better else ls / sw
    return f"{r:.1f}×"


def table(n: int, ls: dict[str, Phase], sw: dict[str, Phase]) -> tuple[str, dict[str, Any]]:
    def lat(ph: Phase, key: str) -> str:
        v = getattr(ph, key)
        return f"{pct(v, 50)} / {pct(v, 95)} ms"

    t8 = {k: p["eight"].submits / p["eight"].seconds for k, p in (("ls", ls), ("sw", sw))}
    ex = {k: p["export"] for k, p in (("ls", ls), ("sw", sw))}
    rows = [
        (f"import {n:,} pairs, one upload, until claimable",
         f"{ls['import'].seconds:.2f} s", f"{sw['import'].seconds:.2f} s",
         ratio(ls["import"].seconds, sw["import"].seconds)),
        ("next item, one client, p50 / p95", lat(ls["single"], "next_ms"),
         lat(sw["single"], "next_ms"),
         ratio(pct(ls["single"].next_ms, 95), pct(sw["single"].next_ms, 95))),
        ("submit, one client, p50 / p95", lat(ls["single"], "submit_ms"),
         lat(sw["single"], "submit_ms"),
         ratio(pct(ls["single"].submit_ms, 95), pct(sw["single"].submit_ms, 95))),
        (f"8 clients, {ls['eight'].submits:,} next→submit cycles",
         f"{t8['ls']:.1f} submits/s, p95 next {pct(ls['eight'].next_ms, 95)} / submit "
         f"{pct(ls['eight'].submit_ms, 95)} ms, {len(ls['eight'].errors)} errors",
         f"{t8['sw']:.1f} submits/s, p95 next {pct(sw['eight'].next_ms, 95)} / submit "
         f"{pct(sw['eight'].submit_ms, 95)} ms, {len(sw['eight'].errors)} errors",
         ratio(t8["ls"], t8["sw"], higher_better=True)),
        (f"full export, {ex['ls'].extra['records']:,} items with "
         f"{ex['ls'].extra['annotations']:,} annotations (JSON)",
         f"{ex['ls'].seconds:.2f} s, peak RSS {ex['ls'].peak_rss_mb:.0f} MB",
         f"{ex['sw'].seconds:.2f} s, peak RSS {ex['sw'].peak_rss_mb:.0f} MB",
         ratio(ex["ls"].seconds, ex["sw"].seconds)),
    ]  # fmt: skip
    lines = ["| work | Label Studio | Stepwise | ratio |", "| --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]

    def summary(p: dict[str, Phase]) -> dict[str, Any]:
        return {
            "import_s": round(p["import"].seconds, 3),
            "import": p["import"].extra,
            "single": {k: {"p50": pct(getattr(p["single"], k), 50),
                           "p95": pct(getattr(p["single"], k), 95)}
                       for k in ("next_ms", "submit_ms")},
            "errors": {k: len(ph.errors) for k, ph in p.items()},
            "error_samples": [e for ph in p.values() for e in ph.errors][:3],
            "eight": {"submits": p["eight"].submits,
                      "submits_per_s": round(p["eight"].submits / p["eight"].seconds, 1),
                      "next_p95_ms": pct(p["eight"].next_ms, 95),
                      "submit_p95_ms": pct(p["eight"].submit_ms, 95)},
            "export": {"seconds": round(p["export"].seconds, 3), **p["export"].extra,
                       "peak_rss_mb": p["export"].peak_rss_mb},
            "cpu_s": {k: ph.cpu_s for k, ph in p.items()},
            "peak_rss_mb": {k: ph.peak_rss_mb for k, ph in p.items()},
        }  # fmt: skip

    return "\n".join(lines), {"label_studio": summary(ls), "stepwise": summary(sw)}


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="10,000 pairs (issue 13)")
    parser.add_argument("--n", type=int, help="number of pairs (default 2,000; --full 10,000)")
    parser.add_argument("--skip-install", action="store_true")
    parser.add_argument("--single", type=int, help="one-client cycles (100; --full 300)")
    parser.add_argument("--submits", type=int, help="8-client submits (300; --full 1,000)")
    args = parser.parse_args()
    big = args.full or (args.n or 0) >= 10_000
    args.single = args.single or (300 if big else 100)
    args.submits = args.submits or (1000 if big else 300)
    n = args.n or (10_000 if args.full else 2_000)
    needed = CLIENTS * 3 + args.single + args.submits
    if n < needed:
        raise SystemExit(f"--n: at least {needed} pairs are needed for the labeling phases")
    database_url = os.environ.get("BENCH_PEER_DATABASE_URL", DEFAULT_DB)
    broker = os.environ.get("BENCH_PEER_BROKER_URL", DEFAULT_BROKER)

    ls_peer.ensure_installed(skip_install=args.skip_install)
    work = Path(tempfile.mkdtemp(prefix="peer-bench-", dir=ls_peer.PEERS_DIR))
    files = write_files(n, work)
    names, tokens = stepwise_prepare(database_url, broker)
    procs: list[subprocess.Popen] = []
    try:
        data_dir = ls_peer.fresh_data_dir()
        emails = ["admin@peer.bench"] + [f"annotator{i}@peer.bench" for i in range(CLIENTS)]
        ls_users = ls_peer.create_users(data_dir, emails)
        ls_port = ls_peer.free_port()
        ls_proc = ls_peer.start(data_dir, port=ls_port, log=work / "label_studio.log")
        procs.append(ls_proc)
        sw_port = ls_peer.free_port()
        sw_procs = stepwise_start(
            stepwise_env(database_url, broker, work / "media"), sw_port, work / "stepwise.log"
        )
        procs += sw_procs
        idle = {"ls": ls_peer.tree_rss_bytes(ls_proc.pid),
                "sw": sum(ls_peer.tree_rss_bytes(p.pid) for p in sw_procs)}  # fmt: skip
        ls = LabelStudio(f"http://{HOST}:{ls_port}", [ls_users[e]["token"] for e in emails])
        sw = Stepwise(f"http://{HOST}:{sw_port}", tokens, names)
        results: dict[str, dict[str, Phase]] = {}
        for key, peer, pids in (("ls", ls, [ls_proc.pid]),
                                ("sw", sw, [p.pid for p in sw_procs])):  # fmt: skip
            print(f"{peer.name}: running", file=sys.stderr, flush=True)
            results[key] = run_peer(peer, pids, n, files, args.single, args.submits, work)
    finally:
        for p in procs:
            ls_peer.stop(p)
    text, summary = table(n, results["ls"], results["sw"])
    same = {k: summary["label_studio"]["export"][k] == summary["stepwise"]["export"][k]
            for k in ("records", "annotations")}  # fmt: skip
    print(text)
    print(
        json.dumps(
            {
                "bench": "peers/label_studio",
                "label_studio_version": ls_peer.LS_VERSION,
                "pairs": n,
                "cpus": os.cpu_count(),
                "servers": {
                    "label_studio": "gunicorn 2 gthread workers x 4 threads, SQLite",
                    "stepwise": "gunicorn 4 sync workers, PostgreSQL, Celery worker c=1",
                },
                "idle_rss_mb": {k: round(v / 2**20, 1) for k, v in idle.items()},
                "same_export_records": same,
                **summary,
            }  # fmt: skip
        )
    )


if __name__ == "__main__":
    main()
