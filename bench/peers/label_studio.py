"""Stepwise side by side with Label Studio: the same work, through their REST APIs, with the
same client code, in one run.

    python bench/peers/label_studio.py                 # 2,000 pairs, 100 + 300 cycles
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
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.peers import ls_peer  # noqa: E402

ROOT = ls_peer.ROOT
HOST = ls_peer.HOST
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/stepwise_peer_ls"
DEFAULT_BROKER = "redis://127.0.0.1:6379/9"
PAIRWISE_CONFIG = """<View>
  <Text name="prompt" value="$prompt"/>
  <Pairwise name="comparison" toName="answer1,answer2"/>
  <Text name="answer1" value="$answer1"/>
  <Text name="answer2" value="$answer2"/>
</View>"""
CLIENTS = 8
MAX_ERRORS = 200


class ServerError(RuntimeError):
    """A 5xx answer: counted, and the cycle is tried again."""


TICK = os.sysconf("SC_CLK_TCK")


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


# --- the shared client code ----------------------------------------------------------------


class Api:
    """One user's HTTP client: keep-alive, token auth, every call timed."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Token {token}"}, timeout=900
        )

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, float]:
        started = time.perf_counter()
        response = self.http.request(method, path, **kwargs)
        return response, (time.perf_counter() - started) * 1000

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response, _ = self.call(method, path, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def download(self, path: str, dest: Path, params: dict[str, str] | None = None) -> int:
        with self.http.stream("GET", path, params=params) as response:
            if response.status_code >= 400:
                response.read()
                raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:500]}")
            with open(dest, "wb") as fh:
                for chunk in response.iter_bytes(1 << 20):
                    fh.write(chunk)
        return dest.stat().st_size

    def close(self) -> None:
        self.http.close()


def check(r: httpx.Response, what: str, expected: int = 200) -> None:
    if r.status_code >= 500:
        raise ServerError(f"{what} {r.status_code}: {r.text[:200]}")
    if r.status_code != expected:
        raise RuntimeError(f"{what} {r.status_code}: {r.text[:300]}")


# --- the peers: each step on each API --------------------------------------------------------


class LabelStudio:
    name = "Label Studio"

    def __init__(self, base_url: str, tokens: list[str]) -> None:
        self.admin = Api(base_url, tokens[0])
        self.annotators = [Api(base_url, t) for t in tokens[1:]]
        self.project_id = 0

    def create_project(self) -> None:
        p = self.admin.ok(
            "POST", "/api/projects", json={"title": "peer bench", "label_config": PAIRWISE_CONFIG}
        )
        self.project_id = p["id"]

    def import_file(self, ls_path: Path, sw_path: Path, n: int) -> dict[str, Any]:
        with open(ls_path, "rb") as fh:
            out = self.admin.ok(
                "POST",
                f"/api/projects/{self.project_id}/import",
                files={"file": ("tasks.json", fh, "application/json")},
            )
        # Community edition imports synchronously: the tasks exist when the response comes.
        count = self.admin.ok("GET", f"/api/projects/{self.project_id}/")["task_number"]
        if count != n:
            raise RuntimeError(f"import: {count} tasks of {n}: {out}")
        return {"tasks": count}

    def next(self, api: Api) -> tuple[Any, float]:
        r, ms = api.call("GET", f"/api/projects/{self.project_id}/next/")
        if r.status_code == 404:
            return None, ms
        check(r, "next")
        return r.json(), ms

    def submit(self, api: Api, task: Any, rng: random.Random) -> float:
        result = [{
            "from_name": "comparison", "to_name": "comparison", "type": "pairwise",
            "value": {"selected": rng.choice(("left", "right"))},
        }]  # fmt: skip
        r, ms = api.call(
            "POST",
            f"/api/tasks/{task['id']}/annotations/",
            json={"result": result, "lead_time": 12.5},
        )
        check(r, "submit", 201)
        return ms

    def export(self, dest: Path) -> None:
        self.admin.download(
            f"/api/projects/{self.project_id}/export",
            dest,
            params={"exportType": "JSON", "download_all_tasks": "true"},
        )


class Stepwise:
    name = "Stepwise"
    slug = "peer-bench"

    def __init__(self, base_url: str, tokens: list[str], usernames: list[str]) -> None:
        self.admin = Api(base_url, tokens[0])
        self.annotators = [Api(base_url, t) for t in tokens[1:]]
        self.usernames = usernames
        self.base = f"/api/v1/projects/{self.slug}"

    def create_project(self) -> None:
        self.admin.ok(
            "POST",
            "/api/v1/projects/",
            json={
                "name": "peer bench", "slug": self.slug, "kind": "preference",
                "label_schema": {"principles": [], "justification_required": False},
            },
        )  # fmt: skip
        for username in self.usernames[1:]:
            self.admin.ok(
                "POST", f"{self.base}/members/", json={"username": username, "role": "annotator"}
            )

    def import_file(self, ls_path: Path, sw_path: Path, n: int) -> dict[str, Any]:
        with open(sw_path, "rb") as fh:
            run = self.admin.ok(
                "POST",
                f"{self.base}/imports/",
                files={"file": ("items.jsonl", fh, "application/x-ndjson")},
                data={"format": "native", "dataset": "pairs"},
            )
        while run["status"] in ("queued", "running"):
            time.sleep(0.01)
            run = self.admin.ok("GET", f"{self.base}/imports/{run['id']}/")
        if run["status"] != "succeeded" or run["items_created"] != n:
            raise RuntimeError(f"import run: {run}")
        return {"tasks": run["items_created"]}

    def next(self, api: Api) -> tuple[Any, float]:
        r, ms = api.call("POST", f"{self.base}/assignments/next/", json={})
        if r.status_code == 204:
            return None, ms
        check(r, "next")
        return r.json(), ms

    def submit(self, api: Api, assignment: Any, rng: random.Random) -> float:
        labels = {"candidate_a": 0, "candidate_b": 1, "strength": rng.choice((-1, 1))}
        r, ms = api.call(
            "POST",
            f"{self.base}/assignments/{assignment['id']}/submit/",
            json={"labels": labels, "client_token": uuid.uuid4().hex, "active_ms": 12_500},
        )
        check(r, "submit", 201)
        return ms

    def export(self, dest: Path) -> None:
        run = self.admin.ok("POST", f"{self.base}/exports/", json={"format": "label_studio"})
        while run["status"] in ("queued", "running"):
            time.sleep(0.01)
            run = self.admin.ok("GET", f"{self.base}/exports/{run['id']}/")
        if run["status"] != "succeeded":
            raise RuntimeError(f"export run: {run}")
        data = [f for f in run["files"] if f["name"].endswith((".json", ".jsonl"))]
        self.admin.download(data[0]["url"], dest)


# --- measuring --------------------------------------------------------------------------------


def cpu_by_pid(roots: list[int]) -> dict[int, float]:
    """CPU seconds per live process of the trees under `roots`, and of PostgreSQL's
    processes (keyed by negative pid)."""
    stats: dict[int, tuple[int, str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        rest = raw[raw.rindex(")") + 2 :].split()
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        stats[int(entry)] = (int(rest[1]), comm, (int(rest[11]) + int(rest[12])) / TICK)
    out: dict[int, float] = {}
    for pid, (_, comm, cpu) in stats.items():
        if comm == "postgres":
            out[-pid] = cpu
            continue
        p = pid
        for _ in range(8):
            if p in roots:
                out[pid] = cpu
                break
            p = stats[p][0] if p in stats else 0
            if p <= 1:
                break
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> dict[str, float]:
    """Per role, CPU used between two samples (a process born between them counts from 0;
    one that ended in between is lost: server processes live through a phase)."""
    out = {"server": 0.0, "postgres": 0.0}
    for pid, cpu in after.items():
        out["postgres" if pid < 0 else "server"] += max(0.0, cpu - before.get(pid, 0.0))
    return {k: round(v, 2) for k, v in out.items()}


class Sampler:
    """Peak RSS (sum over the server trees) every 50 ms while a phase runs."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        return sum(ls_peer.tree_rss_bytes(p) for p in self.pids)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> Sampler:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Phase:
    seconds: float = 0.0
    next_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    submits: int = 0
    errors: list[str] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)


@contextmanager
def measure(phase: Phase, pids: list[int]) -> Iterator[None]:
    cpu0 = cpu_by_pid(pids)
    with Sampler(pids) as sampler:
        started = time.perf_counter()
        yield
        phase.seconds = time.perf_counter() - started
    phase.peak_rss_mb = round(sampler.peak / 2**20, 1)
    phase.cpu_s = cpu_delta(cpu0, cpu_by_pid(pids))


def cycles(peer: Any, api: Api, n: int, phase: Phase, rng: random.Random, lock: threading.Lock,
           budget: list[int]) -> None:  # fmt: skip
    """next→submit until `n` cycles are done here or the shared budget is spent. A failed
    request (5xx, reset connection) is counted as an error and the cycle is tried again, as
    a labeling client would; a client that keeps failing (MAX_ERRORS) gives up."""
    done = 0
    while done < n:
        with lock:
            if budget[0] <= 0:
                return
            budget[0] -= 1
        try:
            item, ms = peer.next(api)
            if item is None:
                raise RuntimeError(f"{peer.name}: nothing left to claim")
            sub = peer.submit(api, item, rng)
        except (httpx.HTTPError, ServerError) as exc:
            with lock:
                budget[0] += 1
                phase.errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                if len(phase.errors) >= MAX_ERRORS:
                    raise RuntimeError(f"{peer.name}: {len(phase.errors)} errors") from exc
            continue
        done += 1
        with lock:
            phase.next_ms.append(ms)
            phase.submit_ms.append(sub)
            phase.submits += 1


def concurrent(peer: Any, total: int, phase: Phase) -> None:
    lock, budget, fatal = threading.Lock(), [total], []

    def work(i: int) -> None:
        try:
            cycles(peer, peer.annotators[i], total, phase, random.Random(i), lock, budget)
        except Exception as exc:  # noqa: BLE001 - reported after the phase
            fatal.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if fatal:
        raise RuntimeError(f"{peer.name}: {fatal[0]} ({len(fatal)} clients stopped)")


def count_export(path: Path) -> dict[str, int]:
    """Items and annotations in a Label Studio JSON (array) or JSONL export."""
    raw = path.read_bytes()
    tasks = json.loads(raw) if raw.lstrip().startswith(b"[") else [
        json.loads(line) for line in raw.splitlines() if line.strip()
    ]  # fmt: skip
    annotations = sum(len(t.get("annotations") or []) for t in tasks)
    # Both projects ask for one annotation per item: more is a lock that did not hold.
    over = sum(len(t.get("annotations") or []) > 1 for t in tasks)
    return {"records": len(tasks), "annotations": annotations, "bytes": len(raw),
            "items_annotated_twice": over}  # fmt: skip


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
    users = User.objects.bulk_create(User(username=u, password=hashed) for u in names)
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
