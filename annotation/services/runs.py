"""The life of every background run (imports, exports, dashboard refreshes, labeling jobs).

    queued ──claim──▶ running ──finish──▶ succeeded
       ▲                │ └───fail────▶ failed ──retry──▶ queued
       └──sweep/stale───┘

- `run_enqueue` queues a run's task after commit (through `annotation.dispatch`, so services
  never import task modules).
- `run_execute` is a task's body: it claims the run with a conditional UPDATE (a queued run,
  or a running one whose heartbeat is stale: its worker died, and this is the redelivered
  task), counts the attempt, beats from a thread while the work runs, and ends the run
  `failed` with the exception's message on any unexpected exception — never left running.
  A run held by a live worker raises `RunBusyError`, so the task can look again later.
- A run started `STEPWISE_RUN_MAX_ATTEMPTS` times without finishing (it keeps killing its
  worker) ends failed with a message that says so.
- `run_finish` / `run_fail` are conditional on the claim (status and attempt), so a worker
  that lost its run to another never overwrites the other's result.
- `runs_sweep` (Celery beat in production, a timer in `run_embedded`) fails or requeues
  running runs whose heartbeat is older than STEPWISE_RUN_STALE_SECONDS.
- `run_retry` puts a failed or cancelled run back in the queue with fresh attempts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.dispatch import enqueue_on_commit
from annotation.errors import ApplicationError
from annotation.run_models import ACTIVE_STATUSES, BackgroundRun, RunStatus

logger = logging.getLogger(__name__)

R = TypeVar("R", bound=BackgroundRun)
ERROR_MAX_CHARS = 5000


class RunBusyError(Exception):
    """A live worker holds the run (its heartbeat is fresh); look again after `retry_after`
    seconds, when the heartbeat will be stale if that worker died."""

    def __init__(self, run: BackgroundRun, retry_after: float) -> None:
        super().__init__(f"{_label(run)} is running in a live worker")
        self.run = run
        self.retry_after = retry_after


class RunLostError(Exception):
    """Raised by work that finds its run taken over (by a redelivered task, the sweep or a
    cancel): whatever it did in its transaction must roll back."""


def heartbeat_seconds() -> float:
    return float(settings.STEPWISE_RUN_HEARTBEAT_SECONDS)


def stale_seconds() -> float:
    return float(settings.STEPWISE_RUN_STALE_SECONDS)


def max_attempts() -> int:
    return int(settings.STEPWISE_RUN_MAX_ATTEMPTS)


def _label(run: BackgroundRun) -> str:
    return f"{run._meta.verbose_name} {run.pk}"


def _last_sign_of_life(run: BackgroundRun) -> datetime:
    return run.heartbeat_at or run.started_at or run.created_at


def exception_message(exc: BaseException) -> str:
    """What a failed run shows for an exception: the message of an expected failure, the
    type and message of anything else."""
    if isinstance(exc, ApplicationError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS]


# --- queue, claim, beat, finish, fail --------------------------------------------------------


def run_enqueue(*, run: BackgroundRun) -> None:
    """Queue the run's task after the current transaction commits."""
    enqueue_on_commit(run.dispatch_name, [run.pk])


def run_claim(*, model: type[R], run_id: int) -> R | None:
    """Claim a run for this delivery of its task; None when there is nothing to do.

    Claims a queued run, or a running one whose heartbeat is older than
    STEPWISE_RUN_STALE_SECONDS (its worker died; an import is one transaction, so starting
    again is correct). Raises RunBusyError for a running run with a fresh heartbeat. A run
    already started STEPWISE_RUN_MAX_ATTEMPTS times ends failed instead of being claimed.
    """
    run = model._default_manager.filter(pk=run_id).first()
    if run is None or run.status not in ACTIVE_STATUSES:
        return None
    now = timezone.now()
    if run.status == RunStatus.RUNNING:
        age = (now - _last_sign_of_life(run)).total_seconds()
        if age < stale_seconds():
            raise RunBusyError(run, retry_after=stale_seconds() - age + 1)
        logger.warning(
            "%s: no heartbeat for %.0f s, taking it over (attempt %d)",
            _label(run), age, run.attempts + 1,
        )  # fmt: skip
    same = Q(pk=run.pk, status=run.status, attempts=run.attempts)
    same &= Q(heartbeat_at=run.heartbeat_at) if run.heartbeat_at else Q(heartbeat_at__isnull=True)
    if run.attempts >= max_attempts():
        message = (
            f"Started {run.attempts} times without finishing: the worker running it stopped "
            "each time (killed, out of memory or restarted). Giving up; Retry starts it again."
        )
        model._default_manager.filter(same).update(
            status=RunStatus.FAILED, error=message, finished_at=now, heartbeat_at=now
        )
        logger.error("%s failed: %s", _label(run), message)
        return None
    claimed = model._default_manager.filter(same).update(
        status=RunStatus.RUNNING, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return None  # another delivery claimed it first
    run.refresh_from_db()
    return run


def run_beat(
    *, run: BackgroundRun, done: int | None = None, total: int | None = None, attempt: int | None
) -> bool:
    """Record a sign of life (and progress) of a running run; False when the run is no longer
    this worker's (`attempt` None: any worker's, for runs several workers share)."""
    fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if done is not None:
        fields["progress_done"] = done
    if total is not None:
        fields["progress_total"] = total
    qs = type(run)._default_manager.filter(pk=run.pk, status=RunStatus.RUNNING)
    if attempt is not None:
        qs = qs.filter(attempts=attempt)
    return bool(qs.update(**fields))


def run_finish(*, run: BackgroundRun, **fields: Any) -> bool:
    """End a claimed run `succeeded`, writing `fields` with it; False (nothing written) when
    the run is no longer this claim's. Inside a transaction, the caller raises RunLostError
    on False so that its work rolls back."""
    now = timezone.now()
    return bool(
        type(run)
        ._default_manager.filter(pk=run.pk, status=RunStatus.RUNNING, attempts=run.attempts)
        .update(status=RunStatus.SUCCEEDED, finished_at=now, heartbeat_at=now, **fields)
    )


def run_fail(*, run: BackgroundRun, error: str, attempt: int | None = None, **fields: Any) -> bool:
    """End a queued or running run `failed` with the message `error` (and `fields`); with
    `attempt`, only if it is still that claim's. False when it had already ended (or was
    taken over)."""
    now = timezone.now()
    qs = type(run)._default_manager.filter(pk=run.pk, status__in=ACTIVE_STATUSES)
    if attempt is not None:
        qs = qs.filter(attempts=attempt)
    return bool(
        qs.update(
            status=RunStatus.FAILED,
            error=error[:ERROR_MAX_CHARS],
            finished_at=now,
            heartbeat_at=now,
            **fields,
        )
    )


class RunBeat:
    """Beats a run from a thread every STEPWISE_RUN_HEARTBEAT_SECONDS while its work runs,
    with the latest progress the work reported.

    The thread has its own database connection, so beats commit while the work holds a long
    transaction (an import) on PostgreSQL. On SQLite, which has one writer at a time, a beat
    waits until the work's transaction ends; the claim, the finish and the sweep stay
    conditional, so a delayed beat never changes an outcome.
    """

    def __init__(self, *, run: BackgroundRun, attempt: int | None) -> None:
        self.run = run
        self.attempt = attempt
        self.interval = heartbeat_seconds()
        self._done: int | None = None
        self._total: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed_beats = 0

    def progress(self, done: int, total: int | None = None) -> None:
        """Report progress; the next beat writes it."""
        self._done, self._total = done, total

    def beat(self) -> bool:
        return run_beat(run=self.run, done=self._done, total=self._total, attempt=self.attempt)

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    if not self.beat():
                        logger.info("%s is no longer this worker's", _label(self.run))
                except DatabaseError as exc:
                    # SQLite: locked by the work's own transaction until it ends. Said once.
                    log = logger.debug if self._failed_beats else logger.warning
                    log("heartbeat of %s not written: %s", _label(self.run), exc)
                    self._failed_beats += 1
                    close_old_connections()
        finally:
            connection.close()

    def __enter__(self) -> RunBeat:
        if self.interval > 0:
            self._thread = threading.Thread(
                target=self._loop, name=f"beat-{_label(self.run)}", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            # A beat waiting for SQLite's write lock finishes once the work's transaction
            # has ended (which it has, here).
            self._thread.join(timeout=60)


def run_execute(
    *,
    model: type[R],
    run_id: int,
    work: Callable[[R, RunBeat], None],
) -> R | None:
    """A task's body: claim the run, do `work(run, beat)` with the heartbeat running, and
    make sure the run ends. `work` calls `run_finish` (or `run_fail` for an expected
    failure); an exception from it fails the run with its message and a log line. Returns
    the run as it ended, or None when this delivery had nothing to do. Raises RunBusyError
    (see `run_claim`)."""
    run = run_claim(model=model, run_id=run_id)
    if run is None:
        return None
    try:
        with RunBeat(run=run, attempt=run.attempts) as beat:
            work(run, beat)
    except RunLostError:
        logger.warning("%s was taken over while attempt %d ran", _label(run), run.attempts)
    except ApplicationError as exc:
        logger.warning("%s failed: %s", _label(run), exc)
        run_fail(run=run, error=exception_message(exc), attempt=run.attempts)
    except Exception as exc:
        logger.exception("%s failed with an unexpected error", _label(run))
        run_fail(run=run, error=exception_message(exc), attempt=run.attempts)
    run.refresh_from_db()
    return run


# --- retry ------------------------------------------------------------------------------------


@transaction.atomic
def run_retry(*, run: R, reset: dict[str, Any] | None = None) -> R:
    """Queue a failed or cancelled run again with fresh attempts; `reset` clears the run's
    own result fields. ApplicationError (conflict) for a run in any other state."""
    locked = type(run)._default_manager.select_for_update().get(pk=run.pk)
    if locked.status not in (RunStatus.FAILED, RunStatus.CANCELLED):
        raise ApplicationError(
            f"Only failed or cancelled runs can be retried; {_label(locked)} is {locked.status}.",
            code="conflict",
            field="status",
        )
    type(run)._default_manager.filter(pk=run.pk).update(
        status=RunStatus.QUEUED, attempts=0, error="", started_at=None, finished_at=None,
        heartbeat_at=None, progress_done=0, progress_total=0, **(reset or {}),
    )  # fmt: skip
    locked.refresh_from_db()
    run_enqueue(run=locked)
    return locked


# --- the sweep ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunKind:
    """A run model the sweep watches. `capped`: the sweep fails a stale run that has used up
    its attempts (labeling jobs cap per chunk instead). `requeue` queues the run's work again
    (default: its task, through its dispatch name)."""

    model: type[BackgroundRun]
    capped: bool = True
    requeue: Callable[[BackgroundRun], None] | None = None


_kinds: dict[str, RunKind] = {}


def run_kind_register(
    *,
    model: type[BackgroundRun],
    capped: bool = True,
    requeue: Callable[[BackgroundRun], None] | None = None,
) -> None:
    """Make the sweep watch `model` (called from the apps' `ready()`)."""
    _kinds[model._meta.label] = RunKind(model=model, capped=capped, requeue=requeue)


def run_kinds() -> list[RunKind]:
    return list(_kinds.values())


def _sweep_one(kind: RunKind, run: BackgroundRun, now: datetime) -> str | None:
    age = int((now - _last_sign_of_life(run)).total_seconds())
    same = Q(pk=run.pk, status=RunStatus.RUNNING, attempts=run.attempts)
    same &= Q(heartbeat_at=run.heartbeat_at) if run.heartbeat_at else Q(heartbeat_at__isnull=True)
    qs = type(run)._default_manager.filter(same)
    if kind.capped and run.attempts >= max_attempts():
        message = (
            f"No sign of life from its worker for {age} s, after {run.attempts} attempt(s) "
            "that did not finish (the worker was killed, ran out of memory or lost its "
            "connection). Giving up; Retry starts it again."
        )
        if qs.update(status=RunStatus.FAILED, error=message, finished_at=now, heartbeat_at=now):
            logger.error("sweep: %s failed: %s", _label(run), message)
            return "failed"
        return None
    with transaction.atomic():
        if not qs.update(status=RunStatus.QUEUED):
            return None
        (kind.requeue or (lambda r: run_enqueue(run=r)))(run)
    logger.warning("sweep: %s had no heartbeat for %d s; queued again", _label(run), age)
    return "requeued"


def runs_sweep(*, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Fail or requeue every running run whose heartbeat is older than
    STEPWISE_RUN_STALE_SECONDS; returns the counts per model. Idempotent: every change is
    conditional on the stale state it read, so a beat or a finish in between wins."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=stale_seconds())
    out: dict[str, dict[str, int]] = {}
    for label, kind in _kinds.items():
        counts = {"failed": 0, "requeued": 0}
        stale = (
            kind.model._default_manager.filter(status=RunStatus.RUNNING)
            .annotate(last_seen=Coalesce("heartbeat_at", "started_at", "created_at"))
            .filter(last_seen__lt=cutoff)
            .order_by("id")
        )
        for run in stale:
            outcome = _sweep_one(kind, run, now)
            if outcome:
                counts[outcome] += 1
        out[label] = counts
    return out
