"""Shared set-up for benchmarks: a dedicated PostgreSQL database, migrated, and Django ready."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/stepwise_bench"


def setup(database_url: str | None = None, *, migrate: bool = False) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = database_url or os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.embedded"
    os.environ.setdefault("DJANGO_DEBUG", "false")
    if migrate and os.environ["DATABASE_URL"].startswith("postgres"):
        _ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def _ensure_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _proc_cpu_seconds(pid: int) -> float | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PgCpu:
    """CPU seconds the database's server processes use while the block runs (sampled from
    /proc every 20 ms, so a connection that lives under 20 ms may be missed). PostgreSQL
    must run on this machine. On a shared machine CPU time is a steadier measure than
    wall time: other sessions' load stretches wall time, not (much) the CPU a run needs."""

    def __init__(self, database_url: str) -> None:
        import psycopg

        self._conn = psycopg.connect(database_url, autocommit=True)
        self._start: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        rows = self._conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
        for (pid,) in rows:
            cpu = _proc_cpu_seconds(pid)
            if cpu is not None:
                self._start.setdefault(pid, cpu)
                self._last[pid] = cpu

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            time.sleep(0.02)

    def __enter__(self) -> PgCpu:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self._conn.close()

    @property
    def seconds(self) -> float:
        return sum(self._last[p] - self._start[p] for p in self._last)
