"""Import throughput on PostgreSQL through the service the CLI uses (`dataset_import`).

Generates N synthetic reasoning traces (5-8 steps of 100-300 characters) as native JSONL and
imports them; then 10,000 preference items (a 300-character prompt, two 600-character
responses). Each measurement runs in a fresh process so its peak RSS is its own.

    python bench/import_traces.py            # 10,000 traces + 10,000 preference items
    python bench/import_traces.py --full     # also 100,000 traces

The preference import runs `--repeat` times (best reported, all listed), then once end to end
over REST: gunicorn (production settings) and a Celery worker on Redis (CELERY_BROKER_URL,
default redis://127.0.0.1:6379/0), one multipart upload, timed until the run has finished
(`--no-rest` skips it).

Goals (issues 2 and 13): 100,000 traces in under 30 s with peak RSS under 500 MB; 10,000
preference items in under 0.6 s in the import service. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import _django  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
WORDS = [
    "".join(random.Random(i).choices(string.ascii_lowercase, k=random.Random(i).randint(2, 9)))
    for i in range(500)
]


def _text(rng: random.Random, n: int) -> str:
    out: list[str] = []
    size = 0
    while size < n:
        w = rng.choice(WORDS)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)[:n]


def write_traces(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w") as fh:
        for i in range(n):
            steps = [_text(rng, rng.randint(100, 300)) for _ in range(rng.randint(5, 8))]
            rec = {
                "external_id": f"trace-{i}",
                "prompt": _text(rng, 200),
                "steps": steps,
                "reference_answer": str(rng.randint(0, 999)),
                "final_answer": str(rng.randint(0, 999)),
                "final_answer_correct": rng.random() < 0.5,
                "generator_model": "bench",
            }
            fh.write(json.dumps(rec) + "\n")


def write_preferences(path: Path, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with open(path, "w") as fh:
        for i in range(n):
            rec = {
                "external_id": f"pref-{i}",
                "prompt": _text(rng, 300),
                "candidates": [{"text": _text(rng, 600)}, {"text": _text(rng, 600)}],
            }
            fh.write(json.dumps(rec) + "\n")


def child(kind: str, path: str) -> dict:
    _django.setup()
    from django.db import connection

    from annotation.models import ProjectKind
    from annotation.services.imports import dataset_import
    from annotation.services.projects import project_create

    with connection.cursor() as cur:
        cur.execute("TRUNCATE annotation_project RESTART IDENTITY CASCADE")
    project_kind = ProjectKind.STEP_LABELS if kind == "traces" else ProjectKind.PREFERENCE
    project = project_create(
        name=f"bench {kind}", slug=f"bench-{kind}", kind=project_kind, created_by=None
    )
    backend = _backend_pid(connection)
    db_cpu = _service_cpu([backend]) if backend else 0.0
    cpu = time.process_time()
    started = time.perf_counter()
    with open(path, "rb") as fh:
        result = dataset_import(project=project, dataset_name="bench", fmt="native", stream=fh)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    db_cpu = _service_cpu([backend]) - db_cpu if backend else None
    assert result.ok, result.errors[:3]
    return {
        "items": result.items_created,
        "rows": result.items_created + result.steps_created + result.candidates_created,
        "seconds": round(elapsed, 3),
        "items_per_s": round(result.items_created / elapsed),
        # Where the time goes: this process (parsing, checks, rows, the COPY thread) and the
        # PostgreSQL backend (COPY, indexes, foreign keys); the two overlap.
        "python_cpu_s": round(cpu, 3),
        "postgres_cpu_s": round(db_cpu, 3) if db_cpu is not None else None,
        "peak_rss_mb": round(_django.peak_rss_mb(), 1),
        "database": connection.vendor,
    }


def _backend_pid(connection: Any) -> int | None:
    """The PostgreSQL backend's pid when the server runs on this machine (for its CPU)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    return pid if Path(f"/proc/{pid}/stat").exists() else None


def _service_cpu(pids: list[int], *, sessions: bool = False) -> float:
    """CPU seconds used so far by these processes (with `sessions`: every process of the
    sessions they lead, i.e. gunicorn's and Celery's workers too), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    wanted = set(pids)
    for entry in Path("/proc").iterdir() if sessions else [Path(f"/proc/{p}") for p in pids]:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if sessions and int(stat[3]) not in wanted:  # field 6: the session id
            continue
        total += sum(int(v) for v in stat[11:15]) / tick
    return total


class _BackendCpu:
    """CPU of the PostgreSQL backends serving one database, sampled from /proc (a backend
    that opens and closes during the run is counted from its first sample)."""

    def __init__(self, database: str) -> None:
        self.marker = f" {database} ".encode()
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.sample(initial=True)

    def sample(self, *, initial: bool = False) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if self.marker not in (entry / "cmdline").read_bytes().replace(b"\0", b" ") + b" ":
                    continue
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, cpu = int(entry.name), sum(int(v) for v in stat[11:13]) / tick
            self.first.setdefault(pid, cpu if initial else 0.0)
            self.last[pid] = cpu

    def total(self) -> float:
        return sum(self.last[p] - self.first[p] for p in self.last)


def rest_upload(path: Path, n: int) -> dict:
    """End to end over REST: gunicorn (production settings) + a Celery worker on Redis, the
    file uploaded as one multipart request, timed until the import run has finished."""
    _django.setup()
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from annotation.models import ImportRun, ProjectKind, User, WorkerHeartbeat
    from annotation.services.projects import project_create

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE annotation_project, annotation_workerheartbeat RESTART IDENTITY CASCADE"
        )
    user, _ = User.objects.get_or_create(username="bench-manager")
    token, _ = Token.objects.get_or_create(user=user)
    project_create(
        name="bench rest", slug="bench-rest", kind=ProjectKind.PREFERENCE, created_by=user
    )
    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    media = tempfile.mkdtemp(prefix="stepwise-bench-media-")
    env = dict(
        os.environ, DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50), DATABASE_URL=os.environ["DATABASE_URL"],
        CELERY_BROKER_URL=broker, DJANGO_ALLOWED_HOSTS=HOST, DJANGO_SECURE_COOKIES="false",
        DJANGO_DEBUG="false", STEPWISE_MEDIA_ROOT=media,
        DJANGO_STATIC_ROOT=tempfile.mkdtemp(prefix="stepwise-bench-static-"),
        STEPWISE_API_THROTTLE_USER="",  # the run is polled every 50 ms
    )  # fmt: skip
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
             f"{HOST}:{port}", "--workers", "2", "--log-level", "warning", "--timeout", "120"],
            env=env, cwd=ROOT, start_new_session=True,
        ),
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default",
             "--pool", "solo", "-l", "warning", "-n", f"bench-{port}@%h"],
            env=env, cwd=ROOT, start_new_session=True,
        ),
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not WorkerHeartbeat.objects.exists() or not _http_ok(port):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise SystemExit("gunicorn or the Celery worker did not start")
            time.sleep(0.2)
        time.sleep(1.0)  # let both settle (imports, connections)
        body, ctype = _multipart(path, {"format": "native", "dataset": "bench"})
        db_cpu = _BackendCpu(connection.settings_dict["NAME"])
        app_cpu = _service_cpu([p.pid for p in procs], sessions=True)
        started = time.perf_counter()
        conn = http.client.HTTPConnection(HOST, port, timeout=300)
        conn.request("POST", "/api/v1/projects/bench-rest/imports/", body=body, headers={
            "Content-Type": ctype, "Authorization": f"Token {token.key}"})  # fmt: skip
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        uploaded = time.perf_counter() - started
        if resp.status != 201:
            raise SystemExit(f"upload answered {resp.status}: {answer}")
        run_url = f"/api/v1/projects/bench-rest/imports/{answer['id']}/"
        while True:
            conn.request("GET", run_url, headers={"Authorization": f"Token {token.key}"})
            run = json.loads(conn.getresponse().read())
            if run["status"] in ("succeeded", "failed"):
                break
            db_cpu.sample()
            time.sleep(0.05)
        total = time.perf_counter() - started
        app_cpu = _service_cpu([p.pid for p in procs], sessions=True) - app_cpu
        db_cpu.sample()
        conn.close()
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        shutil.rmtree(media, ignore_errors=True)
    if run["status"] != "succeeded":
        raise SystemExit(f"the import run failed: {run['message']} {run['errors'][:3]}")
    db_run = ImportRun.objects.get(id=answer["id"])
    return {
        "items": run["items_created"],
        "seconds_total": round(total, 3),
        "seconds_upload_request": round(uploaded, 3),
        "seconds_queued": round((db_run.started_at - db_run.created_at).total_seconds(), 3),
        "seconds_run": round((db_run.finished_at - db_run.started_at).total_seconds(), 3),
        "app_cpu_s": round(app_cpu, 2),
        "postgres_cpu_s": round(db_cpu.total(), 2),
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "n": n,
    }


def _http_ok(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=5)
        conn.request("GET", "/healthz")
        conn.getresponse().read()
        conn.close()
        return True
    except OSError:
        return False


def _multipart(path: Path, fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = "stepwise-bench-" + secrets.token_hex(8)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/jsonl\r\n\r\n".encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def run_child(kind: str, path: Path, n: int = 0) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path), "--n", str(n)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"))
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the preference import")
    parser.add_argument("--no-rest", action="store_true", help="skip the REST end-to-end run")
    args = parser.parse_args()
    if args.child:
        kind, path = args.child
        res = rest_upload(Path(path), args.n) if kind == "rest" else child(kind, path)
        print(json.dumps(res))
        return
    _django.setup(migrate=True)
    sizes = [10_000, 100_000] if args.full else [10_000]
    out: dict = {"benchmark": "import_traces"}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"traces-{n}.jsonl"
            write_traces(path, n)
            res = run_child("traces", path)
            res["file_mb"] = round(path.stat().st_size / 1e6, 1)
            out[f"traces_{n}"] = res
            print(f"traces {n}: {res}", file=sys.stderr)
            path.unlink()
        path = Path(tmp) / "prefs.jsonl"
        write_preferences(path, 10_000)
        runs = []
        for _ in range(max(args.repeat, 1)):
            runs.append(run_child("preferences", path))
            print(f"preferences 10000: {runs[-1]}", file=sys.stderr)
        best = min(runs, key=lambda r: r["seconds"])
        out["preferences_10000"] = dict(best, seconds_all=[r["seconds"] for r in runs])
        if not args.no_rest:
            res = run_child("rest", path, 10_000)
            out["preferences_10000_rest"] = res
            print(f"preferences 10000 over REST: {res}", file=sys.stderr)
    out["goal_100k_under_30s"] = (
        out.get("traces_100000", {}).get("seconds", 0) < 30 if args.full else None
    )
    out["goal_prefs_under_0_6s"] = out["preferences_10000"]["seconds"] < 0.6
    print(json.dumps(out))


if __name__ == "__main__":
    main()
