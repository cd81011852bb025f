"""Reads behind the dashboard: the figures a refresh computes (`annotation.services.stats`
stores them as ProjectStat rows) and the stored figures and refresh state the page shows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from annotation.agreement import json_float, position_bias_rate
from annotation.kinds import label_kind_for
from annotation.models import (
    Annotation,
    Assignment,
    Dataset,
    Flag,
    Item,
    PreferenceLabel,
    Project,
    ProjectStat,
    StatsRefresh,
    User,
)
from annotation.selectors.agreement import RATER_SOURCES, agreement_fields, agreement_ratings
from annotation.selectors.gold import project_quality_settings

THROUGHPUT_DAYS = 60
FLAGS_SHOWN = 20


def stats_progress(*, project: Project) -> dict[str, Any]:
    """Items complete / needed per dataset (human overlap k), and items with any label."""
    rows = (
        Item.objects.filter(project=project)
        .values("dataset_id")
        .annotate(
            items=Count("id"),
            complete=Count("id", filter=Q(is_complete=True)),
            done=Sum("done_count"),
            gold=Count("id", filter=Q(is_gold=True)),
        )
    )
    labelled = dict(
        Annotation.objects.filter(item__project=project, source__in=RATER_SOURCES)
        .values("item__dataset_id")
        .annotate(n=Count("item_id", distinct=True))
        .values_list("item__dataset_id", "n")
    )
    names = dict(Dataset.objects.filter(project=project).values_list("id", "name"))
    k = max(project.overlap, 1)
    datasets = []
    for r in rows:
        datasets.append(
            {
                "dataset": names.get(r["dataset_id"], str(r["dataset_id"])),
                "items": r["items"],
                "complete": r["complete"],
                "annotations_done": r["done"] or 0,
                "annotations_needed": r["items"] * k,
                "labelled": labelled.get(r["dataset_id"], 0),
                "gold": r["gold"],
            }
        )
    datasets.sort(key=lambda d: d["dataset"])
    total = {
        key: sum(d[key] for d in datasets)
        for key in (
            "items",
            "complete",
            "annotations_done",
            "annotations_needed",
            "labelled",
            "gold",
        )
    }
    return {"overlap": k, "datasets": datasets, "total": total}


def stats_throughput(*, project: Project, days: int = THROUGHPUT_DAYS) -> dict[str, Any]:
    """Human annotations per day over the last `days` days (zero days included)."""
    today = timezone.now().date()
    start = today - timedelta(days=days - 1)
    counts = dict(
        Annotation.objects.filter(
            item__project=project,
            source=Annotation.Source.HUMAN,
            created_at__date__gte=start,
        )
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    series = [
        {
            "day": (start + timedelta(days=i)).isoformat(),
            "n": counts.get(start + timedelta(days=i), 0),
        }
        for i in range(days)
    ]
    return {"days": series, "total": sum(s["n"] for s in series)}


def stats_gold_accuracy(*, project: Project) -> dict[int, dict[str, int]]:
    """Per annotator: units compared with a gold answer and how many matched.

    Compared on the fields the project's label kind names (`gold_field`): the first-error
    index (step projects), each turn code, the preference direction of each pair.
    """
    specs = agreement_fields(project=project)
    kind = label_kind_for(project)
    out: dict[int, dict[str, int]] = {}
    if not Annotation.objects.filter(item__project=project, source=Annotation.Source.GOLD).exists():
        return out
    for spec in specs:
        if not kind.gold_field(spec.key):
            continue
        gold = agreement_ratings(project=project, spec=spec, sources=(Annotation.Source.GOLD,))
        if gold.ratings.n_units == 0:
            continue
        gold_units = gold.unit_keys[gold.ratings.unit]
        order = np.argsort(gold_units)
        g_units, g_vals = gold_units[order], gold.ratings.value[order]
        raters = agreement_ratings(project=project, spec=spec, sources=RATER_SOURCES)
        r = raters.ratings
        units = raters.unit_keys[r.unit]
        pos = np.searchsorted(g_units, units)
        hit = (pos < len(g_units)) & (g_units[np.minimum(pos, len(g_units) - 1)] == units)
        correct = hit & (g_vals[np.minimum(pos, len(g_units) - 1)] == r.value)
        for j, uid in enumerate(raters.rater_ids):
            sel = r.rater == j
            n = int(hit[sel].sum())
            if n:
                acc = out.setdefault(uid, {"n": 0, "correct": 0})
                acc["n"] += n
                acc["correct"] += int(correct[sel].sum())
    return out


def stats_position_bias(*, project: Project) -> dict[int, dict[str, Any]]:
    rows = PreferenceLabel.objects.filter(
        annotation__item__project=project,
        annotation__source=Annotation.Source.HUMAN,
        left_candidate__isnull=False,
    ).exclude(strength=0).values_list(
        "annotation__annotator_id", "candidate_a_id", "candidate_b_id", "left_candidate_id",
        "strength",
    )  # fmt: skip
    by: dict[int, list[bool]] = {}
    for annotator, a, b, left, strength in rows.iterator(chunk_size=20_000):
        chosen = a if strength < 0 else b
        by.setdefault(annotator, []).append(chosen == left)
    out = {}
    for annotator, picks in by.items():
        rate, n, z = position_bias_rate(picks)
        out[annotator] = {"rate": json_float(rate), "n": n, "z": json_float(z)}
    return out


def stats_annotators(*, project: Project, agreement: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-annotator table: items done, median active time, leave-one-out α on the
    project's main field, gold accuracy (flagged under the project's minimum), position
    bias on preference items."""
    done = dict(
        Annotation.objects.filter(item__project=project, source__in=RATER_SOURCES)
        .values("annotator_id")
        .annotate(n=Count("id"))
        .values_list("annotator_id", "n")
    )
    times: dict[int, list[int]] = {}
    for annotator, ms in (
        Assignment.objects.filter(
            project=project, status=Assignment.Status.SUBMITTED, active_ms__gt=0
        )
        .values_list("annotator_id", "active_ms")
        .iterator(chunk_size=20_000)
    ):
        times.setdefault(annotator, []).append(ms)
    if not times:
        for annotator, spent in (
            Annotation.objects.filter(
                item__project=project, source=Annotation.Source.HUMAN, time_spent_ms__isnull=False
            )
            .values_list("annotator_id", "time_spent_ms")
            .iterator(chunk_size=20_000)
        ):
            if spent is not None:
                times.setdefault(annotator, []).append(spent)
    main = agreement["fields"][0] if agreement.get("fields") else None
    loo = {r["id"]: r for r in (main or {}).get("raters", [])}
    gold = stats_gold_accuracy(project=project)
    compares_pairs = label_kind_for(project).compares_pairs
    bias = stats_position_bias(project=project) if compares_pairs else {}
    settings_ = project_quality_settings(project=project)
    users = dict(
        User.objects.filter(id__in=set(done) | set(gold) | set(times)).values_list("id", "username")
    )
    kinds = dict(User.objects.filter(id__in=list(users)).values_list("id", "kind"))
    rows = []
    for uid in sorted(users, key=lambda u: users[u]):
        g = gold.get(uid)
        accuracy = g["correct"] / g["n"] if g else None
        rows.append(
            {
                "id": uid,
                "name": users[uid],
                "kind": kinds.get(uid, ""),
                "items_done": done.get(uid, 0),
                "median_ms": int(np.median(times[uid])) if uid in times else None,
                "loo_alpha": loo.get(uid, {}).get("loo_alpha"),
                "alpha_delta": loo.get(uid, {}).get("alpha_delta"),
                "gold_n": g["n"] if g else 0,
                "gold_accuracy": json_float(accuracy),
                "flagged": bool(
                    g
                    and g["n"] >= settings_.gold_min_items
                    and accuracy is not None
                    and accuracy < settings_.gold_min_accuracy
                ),
                "position_bias": bias.get(uid),
            }
        )
    return rows


def stats_flags(*, project: Project) -> dict[str, Any]:
    open_flags = Flag.objects.filter(item__project=project, resolved_at__isnull=True)
    by_reason = dict(open_flags.values("reason").annotate(n=Count("id")).values_list("reason", "n"))
    latest = [
        {
            "item": f.item.external_id,
            "item_id": f.item_id,
            "reason": f.reason,
            "note": f.note[:200],
            "user": f.user.username,
            "created_at": f.created_at.isoformat(),
        }
        for f in open_flags.select_related("item", "user").order_by("-id")[:FLAGS_SHOWN]
    ]
    return {"open": sum(by_reason.values()), "by_reason": by_reason, "latest": latest}


# --- stored figures -----------------------------------------------------------------------


def project_stats_get(*, project: Project) -> dict[str, Any]:
    """Every stored figure of a project by key, plus `computed_at` per key."""
    out: dict[str, Any] = {}
    for stat in ProjectStat.objects.filter(project=project):
        out[stat.key] = stat.value
        out.setdefault("_computed_at", {})[stat.key] = stat.computed_at
    return out


def stats_computed_at(*, project: Project) -> datetime | None:
    """When the project's figures were last computed (None: never)."""
    return (
        ProjectStat.objects.filter(project=project, key="agreement")
        .values_list("computed_at", flat=True)
        .first()
    )


def stats_refresh_latest(*, project: Project) -> StatsRefresh | None:
    """The project's newest dashboard refresh (queued, running or ended), or None."""
    return StatsRefresh.objects.filter(project=project).order_by("-id").first()
