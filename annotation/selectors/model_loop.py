"""Dashboard figures of the model loop: human labels on routed items, how often humans
overrode each method's pre-fill, and the calibration of the auto-accept rules."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Q

from annotation.models import Annotation, Project, Provenance, StepLabel
from annotation.selectors.calibration import calibration_report


def stats_routed_labels(*, project: Project) -> dict[str, int]:
    """Human annotations in all, and those submitted on an item after uncertainty routing
    had ranked it."""
    human = Annotation.objects.filter(item__project=project, source=Annotation.Source.HUMAN)
    return {
        "human_labels": human.count(),
        "routed_labels": human.filter(
            item__routed_at__isnull=False, created_at__gte=F("item__routed_at")
        ).count(),
        "prefilled_labels": human.filter(prefilled=True).count(),
    }


def stats_overrides(*, project: Project) -> list[dict[str, Any]]:
    """Per pre-fill method: steps confirmed, steps changed, and the override rate."""
    rows = (
        StepLabel.objects.filter(
            annotation__item__project=project,
            provenance__in=[Provenance.MODEL_CONFIRMED, Provenance.MODEL_CHANGED],
        )
        .values("model_method")
        .annotate(
            confirmed=Count("id", filter=Q(provenance=Provenance.MODEL_CONFIRMED)),
            changed=Count("id", filter=Q(provenance=Provenance.MODEL_CHANGED)),
        )
        .order_by("model_method")
    )
    return [
        {
            "method": r["model_method"],
            "confirmed": r["confirmed"],
            "changed": r["changed"],
            "override_rate": r["changed"] / (r["confirmed"] + r["changed"]),
        }
        for r in rows
    ]


def stats_model_loop(*, project: Project) -> dict[str, Any]:
    return {
        "routing": project.routing,
        "prefill": project.prefill,
        **stats_routed_labels(project=project),
        "overrides": stats_overrides(project=project),
        "calibration": calibration_report(project=project),
    }
