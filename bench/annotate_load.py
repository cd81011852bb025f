"""The task stream under load: simulated annotators claim → render → submit over HTTP against
the app under gunicorn with the production settings, on PostgreSQL.

    python bench/annotate_load.py            # 5,000 items, 15 s with 20 annotators
    python bench/annotate_load.py --full     # 100,000 items, 60 s (issue 3)

Set-up: a fresh `step_labels` project (overlap k, default 2) filled through `dataset_import`
with native JSONL traces (5-8 steps of 100-300 characters), 20 annotator users with API
tokens, `ANALYZE`, then `gunicorn config.wsgi:application` on a free loopback port.

Each simulated annotator is a thread with its own HTTP connection and no think time (a closed
loop, so the figures are what the machine sustains, queueing included): POST
assignments/next/ (the claim; its JSON is the REST render), then — when the web labeling page
exists — GET /projects/<slug>/annotate/ as a logged-in browser would (timed on its own), then
POST assignments/<id>/submit/ with ratings for every step and a fresh client token.

Phases: a warm-up (every worker imports and connects; not reported), one annotator alone
(latency without contention), then 20 annotators for the duration. Afterwards the database is
counted: annotations must equal the successful submits (none lost, none unexpected), no item
above k, no (item, annotator) twice, and the items' done counts must add up.

Goal (issue 3): p95 under 50 ms for claim+render and for submit on the 2-core machine, which
here also runs PostgreSQL and this load generator. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import heapq
import http.client
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import _django  # noqa: E402
from bench.import_traces import write_traces  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/stepwise_bench_annotate"
SLUG = "bench-annotate"
USER_PREFIX = "bench-annotator-"
HOST = "127.0.0.1"


# --- set-up (in this process, through the services) -------------------------------------------


def prepare(*, n_items: int, overlap: int, annotators: int, password: str) -> dict[str, Any]:
    """A fresh project with `n_items` traces and `annotators` users with tokens."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from annotation.models import Membership, ProjectKind, Role, User
    from annotation.services.imports import dataset_import
    from annotation.services.projects import project_create

    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("TRUNCATE annotation_project RESTART IDENTITY CASCADE")
    User.objects.filter(username__startswith=USER_PREFIX).delete()
    project = project_create(
        name="Bench annotate",
        slug=SLUG,
        kind=ProjectKind.STEP_LABELS,
        created_by=None,
        overlap=overlap,
        label_schema={"mode": "rate_every_step"},
        show_suggestions=True,
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "traces.jsonl"
        write_traces(path, n_items)
        with open(path, "rb") as fh:
            result = dataset_import(project=project, dataset_name="bench", fmt="native", stream=fh)
    assert result.ok, result.errors[:3]
    import_s = time.perf_counter() - started
    hashed = make_password(password)  # one hash for all: PBKDF2 is slow by design
    users = User.objects.bulk_create(
        User(username=f"{USER_PREFIX}{i:04d}", password=hashed) for i in range(annotators)
    )
    Membership.objects.bulk_create(
        Membership(project=project, user=u, role=Role.ANNOTATOR) for u in users
    )
    tokens = [
        t.key
        for t in Token.objects.bulk_create(Token(user=u, key=Token.generate_key()) for u in users)
    ]
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    return {
        "project_id": project.id,
        "items": result.items_created,
        "import_s": round(import_s, 2),
        "users": [u.username for u in users],
        "tokens": tokens,
    }


def count_database(*, project_id: int, overlap: int) -> dict[str, int]:
    from django.db import connection

    human = (
        "FROM annotation_annotation a JOIN annotation_item i ON i.id = a.item_id "
        "WHERE i.project_id = %s AND a.source = 'human'"
    )
    with connection.cursor() as cur:
        cur.execute(f"SELECT a.id {human}", [project_id])  # noqa: S608 - constant SQL
        ids = [row[0] for row in cur.fetchall()]
        cur.execute(
            f"SELECT count(*) FROM (SELECT a.item_id {human} GROUP BY a.item_id "  # noqa: S608
            "HAVING count(*) > %s) t",
            [project_id, overlap],
        )
        items_over_k = cur.fetchone()[0]
        cur.execute(
            f"SELECT count(*) FROM (SELECT a.item_id, a.annotator_id {human} "  # noqa: S608
            "GROUP BY a.item_id, a.annotator_id HAVING count(*) > 1) t",
            [project_id],
        )
        duplicate_pairs = cur.fetchone()[0]
        cur.execute(
            "SELECT coalesce(sum(done_count), 0), count(*) FILTER (WHERE done_count > %s) "
            "FROM annotation_item WHERE project_id = %s",
            [overlap, project_id],
        )
        done_sum, done_over_k = cur.fetchone()
        cur.execute(
            "SELECT count(*) FROM annotation_annotationrevision r "
            "JOIN annotation_annotation a ON a.id = r.annotation_id "
            "JOIN annotation_item i ON i.id = a.item_id WHERE i.project_id = %s",
            [project_id],
        )
        revisions = cur.fetchone()[0]
    return {
        "ids": ids,
        "annotations": len(ids),
        "revisions": revisions,
        "items_over_k": items_over_k + done_over_k,
        "duplicate_item_annotator": duplicate_pairs,
        "done_count_sum": int(done_sum),
    }


# --- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_gunicorn(
    *, database_url: str, port: int, workers: int, worker_class: str, threads: int
) -> subprocess.Popen:
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=database_url,
        CELERY_BROKER_URL="memory://",
        DJANGO_ALLOWED_HOSTS=HOST,
        DJANGO_SECURE_COOKIES="false",  # plain HTTP on loopback: no HTTPS redirect
        DJANGO_DEBUG="false",
        # The benchmark is hundreds of requests per second from a few users: no throttles.
        STEPWISE_API_THROTTLE_ANON="",
        STEPWISE_API_THROTTLE_USER="",
        STEPWISE_API_THROTTLE_LOGIN="",
        DJANGO_CACHE_URL="locmemcache://",
        # Nothing is collected for an API benchmark; an existing folder keeps WhiteNoise quiet.
        DJANGO_STATIC_ROOT=tempfile.mkdtemp(prefix="stepwise-bench-static-"),
    )
    cmd = [
        sys.executable, "-m", "gunicorn", "config.wsgi:application",
        "--bind", f"{HOST}:{port}", "--workers", str(workers),
        "--worker-class", worker_class, "--threads", str(threads),
        "--log-level", "warning", "--chdir", str(ROOT),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)
    wait_until_up(proc, port)
    return proc


def start_embedded(*, database_url: str, port: int) -> subprocess.Popen:
    """The web server of `make run` (run_embedded's own command line) with the embedded
    settings as a new user gets them: SQLite, DEBUG as the embedded default has it."""
    from annotation.management.commands.run_embedded import web_server_argv

    env = {k: v for k, v in os.environ.items() if k != "DJANGO_DEBUG"}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.embedded",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL="memory://",
        STEPWISE_API_THROTTLE_ANON="",
        STEPWISE_API_THROTTLE_USER="",
        STEPWISE_API_THROTTLE_LOGIN="",
    )
    proc = subprocess.Popen(
        web_server_argv(f"{HOST}:{port}"), env=env, cwd=ROOT, start_new_session=True
    )
    wait_until_up(proc, port)
    return proc


def wait_until_up(proc: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    stop_gunicorn(proc)
    raise SystemExit("the server did not answer within 60 s")


def stop_gunicorn(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- the simulated annotators ----------------------------------------------------------------


@dataclass
class Stats:
    claim_ms: list[float] = field(default_factory=list)
    page_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    submitted_ids: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    exhausted: int = 0
    lag_ms: list[float] = field(default_factory=list)

    def merge(self, other: Stats) -> None:
        self.claim_ms += other.claim_ms
        self.page_ms += other.page_ms
        self.submit_ms += other.submit_ms
        self.submitted_ids += other.submitted_ids
        self.errors += other.errors
        self.exhausted += other.exhausted
        self.lag_ms += other.lag_ms


# A kept-alive connection the server closed while idle (gunicorn's threaded workers close
# after 2 s): the request never reached the server, so it is sent again on a new connection,
# as browsers do.
_STALE = (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected)


def send(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
) -> tuple[http.client.HTTPResponse, bytes]:
    reused = conn.sock is not None
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response, response.read()
    except _STALE:
        conn.close()
        if not reused:
            raise
    except (OSError, http.client.HTTPException):
        conn.close()
        raise
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response, response.read()
    except (OSError, http.client.HTTPException):
        conn.close()
        raise


class Annotator:
    """One simulated annotator on one keep-alive HTTP connection (gunicorn's sync workers
    close it after each response; http.client reconnects, as a browser would)."""

    def __init__(self, port: int, token: str, username: str, password: str, seed: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.api_headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.username = username
        self.password = password
        self.cookie = ""
        self.rng = random.Random(seed)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, bytes, dict[str, str], float]:
        started = time.perf_counter()
        response, data = send(self.conn, method, path, body, headers or {})
        elapsed = (time.perf_counter() - started) * 1000
        return response.status, data, dict(response.getheaders()), elapsed

    def login(self) -> None:
        """A browser session for the web labeling page (form login with its CSRF token)."""
        status, body, headers, _ = self.request("GET", "/accounts/login/")
        csrf_cookie = re.search(r"csrftoken=([^;]+)", headers.get("Set-Cookie", ""))
        csrf_field = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)
        if status != 200 or not csrf_cookie or not csrf_field:
            raise RuntimeError(f"login page: {status}")
        form = urlencode(
            {
                "username": self.username,
                "password": self.password,
                "csrfmiddlewaretoken": csrf_field.group(1).decode(),
            }
        ).encode()
        status, _, headers, _ = self.request(
            "POST",
            "/accounts/login/",
            form,
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={csrf_cookie.group(1)}",
                "Referer": f"http://{HOST}:{self.port}/accounts/login/",
            },
        )
        session = re.search(r"sessionid=([^;]+)", headers.get("Set-Cookie", ""))
        if status != 302 or not session:
            raise RuntimeError(f"login failed: {status}")
        self.cookie = f"sessionid={session.group(1)}; csrftoken={csrf_cookie.group(1)}"

    def cycle(self, stats: Stats, *, web_page: bool) -> bool:
        """claim → render → submit once; False when nothing is left to claim."""
        base = f"/api/v1/projects/{SLUG}/assignments"
        status, body, _, ms = self.request("POST", f"{base}/next/", b"{}", self.api_headers)
        if status == 204:
            stats.exhausted += 1
            return False
        if status != 200:
            stats.errors.append(f"claim {status}: {body[:200]!r}")
            return True
        stats.claim_ms.append(ms)
        assignment = json.loads(body)
        if web_page:
            status, page, _, ms = self.request(
                "GET", f"/projects/{SLUG}/annotate/", headers={"Cookie": self.cookie}
            )
            if status == 200:
                stats.page_ms.append(ms)
            else:
                stats.errors.append(f"annotate page {status}: {page[:200]!r}")
        steps = assignment["item"]["steps"]
        labels = {
            "steps": [
                {"index": s["index"], "rating": self.rng.choice((-1, 0, 1, 1, 1))} for s in steps
            ],
        }
        payload = json.dumps(
            {
                "labels": labels,
                "client_token": uuid.uuid4().hex,
                "active_ms": self.rng.randint(5_000, 60_000),
            }
        ).encode()
        status, body, _, ms = self.request(
            "POST", f"{base}/{assignment['id']}/submit/", payload, self.api_headers
        )
        if status == 201:
            stats.submit_ms.append(ms)
            stats.submitted_ids.append(json.loads(body)["id"])
        else:
            stats.errors.append(f"submit {status}: {body[:200]!r}")
        return True


def run_phase(
    annotators: list[Annotator], seconds: float, *, web_page: bool, think_ms: float = 0.0
) -> tuple[Stats, float]:
    """Every annotator loops claim → render → submit until the deadline, pausing `think_ms`
    (±50 %, so they do not march in step) after each submit."""
    results = [Stats() for _ in annotators]
    barrier = threading.Barrier(len(annotators) + 1)
    deadline = 0.0

    def work(annotator: Annotator, stats: Stats) -> None:
        barrier.wait()
        try:
            while time.perf_counter() < deadline:
                if not annotator.cycle(stats, web_page=web_page):
                    break
                if think_ms:
                    time.sleep(annotator.rng.uniform(0.5, 1.5) * think_ms / 1000)
        except Exception as exc:  # noqa: BLE001 - a dropped connection is a benchmark error
            stats.errors.append(f"{type(exc).__name__}: {exc}")

    threads = [
        threading.Thread(target=work, args=pair) for pair in zip(annotators, results, strict=True)
    ]
    for t in threads:
        t.start()
    started = time.perf_counter()
    deadline = started + seconds
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    total = Stats()
    for stats in results:
        total.merge(stats)
    return total, elapsed


# --- open loop: annotators at human pace ------------------------------------------------------


class Human:
    """One simulated person: works on the item they hold for an exponentially distributed
    time (mean `mean_s`), then submits it and claims the next, whatever the server's
    response times were (an open loop: the schedule never waits for the server). Requests go
    out on the dispatcher's threads, each with its own connection."""

    def __init__(self, token: str, seed: int) -> None:
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.rng = random.Random(seed)
        self.held: dict[str, Any] | None = None
        self.lock = threading.Lock()


class ThreadConnections:
    def __init__(self, port: int) -> None:
        self.port = port
        self.local = threading.local()

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes, float]:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
        started = time.perf_counter()
        response, data = send(conn, method, path, body, headers)
        return response.status, data, (time.perf_counter() - started) * 1000


def human_step(conns: ThreadConnections, human: Human, stats: Stats, due: float) -> None:
    """Submit the item the person holds (if any), then claim the next."""
    base = f"/api/v1/projects/{SLUG}/assignments"
    with human.lock:
        stats.lag_ms.append(max(0.0, (time.perf_counter() - due) * 1000))
        try:
            if human.held is not None:
                steps = human.held["item"]["steps"]
                labels = {"steps": [
                    {"index": s["index"], "rating": human.rng.choice((-1, 0, 1, 1, 1))}
                    for s in steps
                ]}  # fmt: skip
                payload = json.dumps({"labels": labels, "client_token": uuid.uuid4().hex,
                                      "active_ms": human.rng.randint(5_000, 60_000)}).encode()  # fmt: skip
                status, body, ms = conns.request(
                    "POST", f"{base}/{human.held['id']}/submit/", payload, human.headers
                )
                human.held = None
                if status == 201:
                    stats.submit_ms.append(ms)
                    stats.submitted_ids.append(json.loads(body)["id"])
                else:
                    stats.errors.append(f"submit {status}: {body[:200]!r}")
            status, body, ms = conns.request("POST", f"{base}/next/", b"{}", human.headers)
            if status == 204:
                stats.exhausted += 1
            elif status == 200:
                stats.claim_ms.append(ms)
                human.held = json.loads(body)
            else:
                stats.errors.append(f"claim {status}: {body[:200]!r}")
        except Exception as exc:  # noqa: BLE001 - a dropped connection is a benchmark error
            stats.errors.append(f"{type(exc).__name__}: {exc}")


def run_open_loop(
    port: int, humans: list[Human], seconds: float, *, mean_s: float, threads: int
) -> tuple[Stats, float]:
    """Each person's items arrive as a Poisson process (exponential gaps, mean `mean_s`); the
    first one after an exponential wait too, so the start is not a burst. Steps are handed to
    a pool of `threads` workers at their due time; `lag_ms` says how late a step started
    (the load generator keeping up, or one person's previous step still in flight)."""
    conns = ThreadConnections(port)
    stats = Stats()
    pool = ThreadPoolExecutor(max_workers=threads)
    started = time.perf_counter()
    end = started + seconds
    heap = [(started + h.rng.expovariate(1 / mean_s), i) for i, h in enumerate(humans)]
    heapq.heapify(heap)
    futures = []
    while heap and heap[0][0] < end:
        due, i = heapq.heappop(heap)
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        futures.append(pool.submit(human_step, conns, humans[i], stats, due))
        heapq.heappush(heap, (due + humans[i].rng.expovariate(1 / mean_s), i))
    pool.shutdown(wait=True)
    for f in futures:
        f.result()
    return stats, time.perf_counter() - started


def open_loop_level(
    port: int,
    server_pid: int,
    tokens: list[str],
    n: int,
    seconds: float,
    *,
    mean_s: float,
    seed: int,
) -> tuple[Stats, dict[str, Any], dict[str, float]]:
    humans = [Human(tokens[i], seed=seed * 100_000 + i) for i in range(n)]
    threads = max(16, min(128, n // 10))
    cpu_before = cpu_busy()
    with CpuSampler(server_pid) as sampler:
        stats, elapsed = run_open_loop(port, humans, seconds, mean_s=mean_s, threads=threads)
    cpu_after = cpu_busy()
    summary = summarize(stats, elapsed)
    summary["annotators"] = n
    summary["mean_s_per_item"] = mean_s
    summary["offered_items_per_s"] = round(n / mean_s, 1)
    summary["dispatch_lag_ms"] = percentiles(stats.lag_ms)
    summary["exhausted"] = stats.exhausted
    summary["machine_cpu_busy"] = round(
        (cpu_after[0] - cpu_before[0]) / max(1, cpu_after[1] - cpu_before[1]), 2
    )
    cycles = max(1, len(stats.submit_ms))
    summary["cpu_ms_per_cycle"] = {
        role: round(sec * 1000 / cycles, 1) for role, sec in sampler.seconds().items()
    }
    return stats, summary, sampler.seconds()


def level_holds(summary: dict[str, Any], goal_ms: float) -> bool:
    claim, submit = summary["claim_render_ms"], summary["submit_ms"]
    return (
        summary["errors"] == 0
        and claim.get("n", 0) > 0
        and claim["p95"] < goal_ms
        and submit.get("p95", 0) < goal_ms
    )


def percentiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)

    return {
        "n": len(ordered),
        "p50": pct(50),
        "p95": pct(95),
        "p99": pct(99),
        "max": round(ordered[-1], 1),
    }


TICK = os.sysconf("SC_CLK_TCK")


def cpu_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _proc_stat(pid: str) -> tuple[str, int, float] | None:
    """(command, parent pid, CPU seconds) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2 :].split()
    return comm, int(rest[1]), (int(rest[11]) + int(rest[12])) / TICK


class CpuSampler:
    """CPU seconds spent during a phase by the gunicorn workers, the PostgreSQL backends of the
    benchmark's database and this load generator: on a shared machine this says whose the cycles were. Sampled twice
    a second per process, so a database connection that is recycled mid-phase
    (CONN_MAX_AGE) still counts up to its last sample."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.first: dict[str, float] = {}
        self.last: dict[str, tuple[str, float]] = {}
        self.stop = threading.Event()
        self.started = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _role(self, pid: str, comm: str, ppid: int) -> str | None:
        if ppid == self.server_pid or int(pid) == self.server_pid:
            return "app"
        if comm == "postgres":
            # Only the backends of the benchmark's database ("postgres: user db host(port)
            # ..."): other sessions' databases on a shared server are "other" load.
            db = os.environ.get("DATABASE_URL", "").rsplit("/", 1)[-1]
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                return None
            return "postgres" if f" {db} " in cmdline else None
        if int(pid) == os.getpid():
            return "load_generator"
        return None

    def _sample(self) -> None:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            stat = _proc_stat(pid)
            if stat is None:
                continue
            role = self._role(pid, stat[0], stat[1])
            if role is None:
                continue
            # A process born during the phase counts from zero.
            self.first.setdefault(pid, 0.0 if self.started else stat[2])
            self.last[pid] = (role, stat[2])

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            self._sample()

    def __enter__(self) -> CpuSampler:
        self._sample()
        self.started = True
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._sample()

    def seconds(self) -> dict[str, float]:
        out = {"app": 0.0, "postgres": 0.0, "load_generator": 0.0}
        for pid, (role, last) in self.last.items():
            out[role] += last - self.first.get(pid, 0.0)
        return out


def summarize(stats: Stats, elapsed: float) -> dict[str, Any]:
    cycles = len(stats.submit_ms)
    requests = len(stats.claim_ms) + len(stats.page_ms) + len(stats.submit_ms)
    return {
        "seconds": round(elapsed, 1),
        "claim_render_ms": percentiles(stats.claim_ms),
        "web_page_ms": percentiles(stats.page_ms),
        "submit_ms": percentiles(stats.submit_ms),
        "submits_per_s": round(cycles / elapsed, 1),
        "requests_per_s": round(requests / elapsed, 1),
        "errors": len(stats.errors),
        "error_samples": stats.errors[:5],
    }


def integrity_of(everything: Stats, *, project_id: int, overlap: int) -> dict[str, Any]:
    db = count_database(project_id=project_id, overlap=overlap)
    client_ids = set(everything.submitted_ids)
    db_ids = set(db.pop("ids"))
    integrity = {
        **db,
        "successful_submits": len(everything.submitted_ids),
        "lost": len(client_ids - db_ids),
        "unexpected": len(db_ids - client_ids),
        "duplicate_ids_returned": len(everything.submitted_ids) - len(client_ids),
        "done_count_matches": db["done_count_sum"] == db["annotations"],
    }
    integrity["ok"] = (
        integrity["lost"] == 0
        and integrity["unexpected"] == 0
        and integrity["items_over_k"] == 0
        and integrity["duplicate_item_annotator"] == 0
        and integrity["duplicate_ids_returned"] == 0
        and integrity["done_count_matches"]
        and integrity["revisions"] == integrity["annotations"]
    )
    return integrity


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="100,000 items for 60 s")
    parser.add_argument("--items", type=int, help="number of items (default 5,000; --full 100,000)")
    parser.add_argument("--seconds", type=float, help="20-annotator phase (default 15; --full 60)")
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--overlap", type=int, default=2, choices=(1, 2))
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--single-seconds", type=float, default=5.0)
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="pause of each annotator between submit and the next claim (default 0: closed loop)",
    )
    parser.add_argument("--no-web", action="store_true", help="skip the web labeling page")
    parser.add_argument(
        "--open-loop",
        metavar="N[,N...]",
        help="open loop instead: N annotators at human pace (each level for --minutes)",
    )
    parser.add_argument(
        "--search",
        action="store_true",
        help="with --open-loop: go up the levels, stop at the first that misses the goal",
    )
    parser.add_argument("--minutes", type=float, default=1.0, help="per open-loop level")
    parser.add_argument("--mean-s", type=float, default=30.0, help="mean seconds per item")
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="the embedded default as `make run` serves it: SQLite, embedded settings, its "
        "web server (annotation/management/commands/run_embedded.py)",
    )
    args = parser.parse_args()
    levels = [int(x) for x in args.open_loop.split(",")] if args.open_loop else []
    n_items = args.items or (100_000 if args.full else 5_000)
    if levels:
        # Each annotation takes one of k slots; room for every level with a margin.
        offered = sum(levels if args.search else levels) * args.minutes * 60 / args.mean_s
        n_items = max(n_items, int(offered * 1.5 / args.overlap) + 1_000)
    seconds = args.seconds or (60.0 if args.full else 15.0)
    n_users = max([args.annotators, *levels])

    tmp_db = None
    if args.embedded:
        tmp_db = tempfile.mkdtemp(prefix="stepwise-bench-embedded-")
        database_url = f"sqlite:///{tmp_db}/stepwise.sqlite3"
    else:
        database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    _django.setup(database_url, migrate=True)
    password = secrets.token_urlsafe(16)
    setup = prepare(n_items=n_items, overlap=args.overlap, annotators=n_users, password=password)
    port = free_port()
    load_before = load_average()
    if args.embedded:
        server = start_embedded(database_url=database_url, port=port)
    else:
        server = start_gunicorn(
            database_url=database_url,
            port=port,
            workers=args.workers,
            worker_class=args.worker_class,
            threads=args.threads,
        )
    result: dict[str, Any] = {
        "bench": "annotate_load",
        "database": "sqlite" if args.embedded else "postgresql",
        "items": setup["items"],
        "import_s": setup["import_s"],
        "overlap": args.overlap,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
    }
    if args.embedded:
        from annotation.management.commands.run_embedded import web_server_argv

        result["server"] = {"embedded": " ".join(web_server_argv(f"{HOST}:{port}")[2:])}
    else:
        result["server"] = {
            "gunicorn_workers": args.workers,
            "worker_class": args.worker_class,
            "threads": args.threads,
            "settings": "config.settings.production",
        }
    everything = Stats()
    try:
        if levels:
            result.update(
                mode="open_loop",
                **open_loop(args, levels, server.pid, port, setup["tokens"], everything),
            )
        else:
            result.update(
                mode="closed_loop",
                **closed_loop(args, seconds, server.pid, port, setup, password, everything),
            )
    finally:
        stop_gunicorn(server)
    result["load_average_after"] = load_average()
    result["errors_total"] = len(everything.errors)
    result["integrity"] = integrity_of(
        everything, project_id=setup["project_id"], overlap=args.overlap
    )
    ok = result["errors_total"] == 0 and result["integrity"]["ok"]
    result["integrity_ok"] = ok
    print(json.dumps(result))
    if not ok:
        raise SystemExit(1)


def closed_loop(
    args: argparse.Namespace,
    seconds: float,
    server_pid: int,
    port: int,
    setup: dict[str, Any],
    password: str,
    everything: Stats,
) -> dict[str, Any]:
    annotators = [
        Annotator(port, token, username, password, seed=i)
        for i, (token, username) in enumerate(
            zip(setup["tokens"][: args.annotators], setup["users"], strict=False)
        )
    ]
    probe = annotators[0].request("GET", f"/projects/{SLUG}/annotate/")[0]
    web_page = not args.no_web and probe != 404
    if web_page:
        for a in annotators:
            a.login()
    # Warm-up: every worker process loads the code paths and opens its DB connection.
    warm, _ = run_phase(annotators, 3.0, web_page=web_page)
    everything.merge(warm)
    single, single_s = run_phase(annotators[:1], args.single_seconds, web_page=web_page)
    everything.merge(single)
    cpu_before = cpu_busy()
    with CpuSampler(server_pid) as sampler:
        load, load_s = run_phase(annotators, seconds, web_page=web_page, think_ms=args.think_ms)
    cpu_after = cpu_busy()
    everything.merge(load)
    busy = (cpu_after[0] - cpu_before[0]) / max(1, cpu_after[1] - cpu_before[1])
    machine_cpu_s = (cpu_after[0] - cpu_before[0]) / TICK
    cycles = max(1, len(load.submit_ms))
    by_role = sampler.seconds()
    cpu_ms_per_cycle = {role: round(sec * 1000 / cycles, 1) for role, sec in by_role.items()}
    cpu_ms_per_cycle["other_processes"] = round(
        max(0.0, machine_cpu_s - sum(by_role.values())) * 1000 / cycles, 1
    )
    return {
        "annotators": args.annotators,
        "web_page": web_page,
        "single_annotator": summarize(single, single_s),
        "concurrent": {
            **summarize(load, load_s),
            "think_ms": args.think_ms,
            "machine_cpu_busy": round(busy, 2),
            "cpu_ms_per_cycle": cpu_ms_per_cycle,
        },
        "goal_p95_ms": 50,
    }


def open_loop(
    args: argparse.Namespace,
    levels: list[int],
    server_pid: int,
    port: int,
    tokens: list[str],
    everything: Stats,
) -> dict[str, Any]:
    goal_ms = 50.0
    # Warm-up: a few closed-loop cycles so every worker has loaded its code and connection.
    warm = [Human(t, seed=10_000_000 + i) for i, t in enumerate(tokens[:4])]
    conns = ThreadConnections(port)
    warm_stats = Stats()
    for _ in range(10):
        for h in warm:
            human_step(conns, h, warm_stats, time.perf_counter())
    everything.merge(warm_stats)
    results = []
    largest_holding = 0
    queue = sorted(levels) if args.search else list(levels)
    level = 0
    while queue:
        n = queue.pop(0)
        level += 1
        stats, summary, _ = open_loop_level(
            port, server_pid, tokens, n, args.minutes * 60, mean_s=args.mean_s, seed=level + 1
        )
        everything.merge(stats)
        summary["holds_goal"] = level_holds(summary, goal_ms)
        summary["load_average"] = load_average()
        results.append(summary)
        print(json.dumps({"open_loop_level": summary}), file=sys.stderr)
        if summary["holds_goal"]:
            largest_holding = max(largest_holding, n)
        elif args.search:
            if largest_holding == 0 and n >= 20:
                queue = [n // 2]  # not even the lowest level: halve until one holds
            else:
                break
    return {
        "levels": results,
        "largest_annotators_holding_goal": largest_holding,
        "goal": f"claim and submit p95 < {goal_ms:.0f} ms, 0 errors, none lost or duplicated",
    }


if __name__ == "__main__":
    main()
