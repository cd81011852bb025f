"""The dashboard's model-loop panel: routed labels, pre-fill overrides per method, the
accuracy/coverage curve of each method with the auto-accept rules, and the managers' form
for the model-loop settings (routing, auto-accept target and minimum, pre-fill)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from annotation.errors import ApplicationError
from annotation.models import Project, Routing
from annotation.selectors.projects import MANAGE
from annotation.services.model_loop import MIN_LABELED_MAX, project_model_loop_update
from annotation.web.access import AuthedHttpRequest, project_for_role
from annotation.web.svg import ACCENT, BAD, INK, MUTED, OK, WARN, svg

SERIES_COLOURS = {"PRM": ACCENT, "judge": WARN, "MC": OK, "judge ∧ MC": BAD, "all three": INK}


def chart_calibration(calibration: dict[str, Any]) -> SafeString:
    """Accuracy (0.5..1) against coverage (0..1) per method on the labeled items, with the
    project's target as a dashed line: the PRM as a curve over its score margin, the others
    as points."""
    curves: dict[str, list[dict[str, float]]] = calibration.get("curves") or {}
    if not curves:
        return format_html(
            '<p class="muted">{}</p>', "No items with both model verdicts and human labels yet."
        )
    w, h, left, top, right, bottom = 560, 260, 46, 12, 150, 34
    pw, ph = w - left - right, h - top - bottom

    def x(c: float) -> float:
        return left + pw * min(max(c, 0.0), 1.0)

    def y(a: float) -> float:
        return top + ph * (1 - (min(max(a, 0.5), 1.0) - 0.5) / 0.5)

    parts = [
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="{MUTED}"/>',
        f'<text x="{left + pw / 2}" y="{h - 4}" text-anchor="middle" class="chart-label">'
        "coverage (share of labeled items accepted)</text>",
    ]
    for tick in (0.5, 0.75, 0.9, 1.0):
        parts.append(
            f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" class="chart-label">'
            f"{tick:g}</text>"
        )
    for tick in (0.0, 0.5, 1.0):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{top + ph + 14}" text-anchor="middle" '
            f'class="chart-label">{tick:g}</text>'
        )
    target = (calibration.get("choice") or {}).get("target")
    if isinstance(target, int | float):
        parts.append(
            f'<line x1="{left}" y1="{y(target):.1f}" x2="{left + pw}" y2="{y(target):.1f}" '
            f'stroke="{BAD}" stroke-dasharray="4 3"><title>target {target:g}</title></line>'
        )
    for n, (name, points) in enumerate(sorted(curves.items())):
        colour = SERIES_COLOURS.get(name, ACCENT)
        coords = [(x(p["coverage"]), y(p["accuracy"]), p) for p in points]
        if len(coords) > 1:
            line = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy, _ in coords)
            parts.append(
                f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for cx, cy, p in coords:
            margin = f", margin ≥ {p['margin']:g}" if "margin" in p else ""
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{colour}"><title>'
                f"{escape(name)}{margin}: accuracy {p['accuracy']:.3f}, coverage "
                f"{p['coverage']:.3f} ({int(p['n'])} items)</title></circle>"
            )
        ly = top + 8 + n * 18
        parts.append(
            f'<circle cx="{left + pw + 16}" cy="{ly}" r="5" fill="{colour}"/>'
            f'<text x="{left + pw + 26}" y="{ly + 4}" class="chart-label">{escape(name)}</text>'
        )
    return svg(w, h, "".join(parts), "Accuracy against coverage per method")


class ModelLoopForm(forms.Form):
    routing = forms.ChoiceField(choices=Routing.choices)
    auto_accept_target = forms.FloatField(min_value=0.5, max_value=1.0)
    auto_accept_min_labeled = forms.IntegerField(min_value=1, max_value=MIN_LABELED_MAX)
    prefill = forms.BooleanField(required=False)


def model_loop_context(project: Project, stats: dict[str, Any]) -> dict[str, Any]:
    """The panel's part of the dashboard context (`stats` = the stored `model_loop` figure)."""
    loop = stats.get("model_loop") or {}
    calibration = loop.get("calibration") or {}
    return {
        "loop": loop,
        "calibration_svg": chart_calibration(calibration),
        "loop_form": ModelLoopForm(
            initial={
                "routing": project.routing,
                "auto_accept_target": project.auto_accept_target,
                "auto_accept_min_labeled": project.auto_accept_min_labeled,
                "prefill": project.prefill,
            }
        ),
    }


@login_required
@require_POST
def model_loop_settings(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    """Managers change the model-loop settings from the dashboard."""
    project, _ = project_for_role(
        request, slug, MANAGE, "Only managers change the model-loop settings."
    )
    form = ModelLoopForm(request.POST)
    if not form.is_valid():
        field, errs = next(iter(form.errors.items()))
        messages.error(request, f"{field}: {' '.join(str(e) for e in errs)}")
        return redirect("dashboard", slug=slug)
    try:
        project_model_loop_update(project=project, **form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, "Model-loop settings saved. Refresh statistics to update the panel."
        )
    return redirect("dashboard", slug=slug)
