"""Measuring the peer benchmark: CPU and RSS of the server process trees from /proc, the
next→submit loops of one or eight clients, and counting an export."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.peers import ls_peer
from bench.peers.rest_clients import Api, ServerError

CLIENTS = 8
MAX_ERRORS = 200
TICK = os.sysconf("SC_CLK_TCK")


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
