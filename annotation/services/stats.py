"""Dashboard statistics: computed by a task into ProjectStat rows, read by the page.

Keys written (one row each): `progress`, `throughput`, `agreement`, `annotators`, `flags`,
`model_loop`
(the figures are computed by `annotation.selectors.stats`). Each recomputation is a
StatsRefresh run (`annotation.services.runs`): `project_stats_refresh_start` queues one unless
one is already queued or running for the project (at most one is, by a constraint), and the
task's `project_stats_refresh_execute` claims it, beats, stores the figures and ends the run in
one transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.models import Project, ProjectStat, StatsRefresh, User
from annotation.selectors.agreement import agreement_report
from annotation.selectors.model_loop import stats_model_loop
from annotation.selectors.stats import (
    stats_annotators,
    stats_flags,
    stats_progress,
    stats_throughput,
)
from annotation.services.runs import (
    RunBeat,
    RunLostError,
    run_enqueue,
    run_execute,
    run_finish,
)

logger = logging.getLogger(__name__)


def _figures(project: Project) -> dict[str, Any]:
    agreement = agreement_report(project=project)
    return {
        "progress": stats_progress(project=project),
        "throughput": stats_throughput(project=project),
        "agreement": agreement,
        "annotators": {"rows": stats_annotators(project=project, agreement=agreement)},
        "flags": stats_flags(project=project),
        "model_loop": stats_model_loop(project=project),
    }


def _figures_store(project: Project, figures: dict[str, Any]) -> None:
    now = timezone.now()
    for key, value in figures.items():
        ProjectStat.objects.update_or_create(
            project=project, key=key, defaults={"value": value, "computed_at": now}
        )


def project_stats_refresh(*, project: Project) -> dict[str, Any]:
    """Compute every dashboard figure now and store it; returns them by key. The figures are
    computed outside any transaction (SQLite would hold its write lock all along) and
    stored in one."""
    figures = _figures(project)
    with transaction.atomic():
        _figures_store(project, figures)
    return figures


def project_stats_refresh_start(*, project: Project, user: User | None = None) -> bool:
    """Queue a refresh after commit; False when one is already queued or running.

    A running refresh whose worker died is not waited for: the sweep (or a redelivered task)
    takes it over, and it ends failed after its capped attempts, after which a new refresh
    can start.
    """
    try:
        with transaction.atomic():
            refresh = StatsRefresh.objects.create(project=project, created_by=user)
            run_enqueue(run=refresh)
    except IntegrityError:
        return False  # statsrefresh_one_active: one is queued or running
    return True


def project_stats_refresh_execute(*, refresh_id: int) -> StatsRefresh | None:
    """The task's body: claim the refresh and run it once; None when this delivery has
    nothing to do. Raises RunBusyError while a live worker holds it."""
    return run_execute(model=StatsRefresh, run_id=refresh_id, work=_refresh_work)


def _refresh_work(refresh: StatsRefresh, beat: RunBeat) -> None:
    project = Project.objects.get(id=refresh.project_id)
    figures = _figures(project)
    with transaction.atomic():
        _figures_store(project, figures)
        done = len(figures)
        if not run_finish(run=refresh, progress_done=done, progress_total=done):
            raise RunLostError(f"stats refresh {refresh.id} was taken over")
