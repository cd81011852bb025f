"""The managers' dashboard: progress, throughput, agreement with its trend, annotators,
confusion matrices, pre-labelers vs humans, flagged items — as server-rendered SVG charts.

The page only reads precomputed ProjectStat rows and the latest StatsRefresh run
(`annotation.selectors.stats`). When a project has none yet, the page queues a refresh and
shows "computing…", polling its body fragment with htmx until the figures are there; it never
computes them in the request. A failed refresh shows its message; managers refresh again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_POST

from annotation.kinds.base import humanize
from annotation.models import Flag, Project
from annotation.selectors.projects import MANAGE, READ_ITEMS
from annotation.selectors.stats import (
    project_stats_get,
    stats_computed_at,
    stats_refresh_latest,
)
from annotation.services.stats import project_stats_refresh_start
from annotation.web.access import AuthedHttpRequest, project_for_role
from annotation.web.dashboard_model_loop import model_loop_context

# Colours and the SVG frame are shared with the model-loop panel (annotation.web.svg).
from annotation.web.svg import ACCENT, BAD, MUTED, OK, WARN
from annotation.web.svg import svg as _svg


def _project(request: AuthedHttpRequest, slug: str) -> tuple[Project, str]:
    return project_for_role(request, slug, READ_ITEMS, "Your role cannot see the dashboard.")


def _alpha_tone(alpha: float | None) -> str:
    """The CSS class of the colour `_alpha_colour` gives (pages carry no style attribute)."""
    return {OK: "tone-ok", WARN: "tone-warn", BAD: "tone-bad"}.get(
        _alpha_colour(alpha), "tone-muted"
    )


def _alpha_colour(alpha: float | None) -> str:
    if alpha is None:
        return MUTED
    if alpha >= 0.8:
        return OK
    if alpha >= 0.667:
        return WARN
    return BAD


def _num(x: Any, digits: int = 2) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


# --- SVG charts --------------------------------------------------------------------------

# Average advance of an 11 px label in the system sans-serif, for sizing label columns.
CHAR_PX = 6.2


def _label_width(labels: list[str], *, lo: int, hi: int) -> int:
    """A label column wide enough for the longest label, within [lo, hi] pixels."""
    longest = max((len(x) for x in labels), default=0)
    return int(min(max(longest * CHAR_PX + 16, lo), hi))


def _fit(label: str, width: float) -> str:
    """The label escaped, shortened with an ellipsis only when it cannot fit in `width`
    pixels; a shortened label carries the whole text as its tooltip."""
    room = max(int((width - 12) / CHAR_PX), 4)
    if len(label) <= room:
        return escape(label)
    return f"{escape(label[: room - 1])}…<title>{escape(label)}</title>"


def _day(iso_day: str) -> str:
    """'2026-11-30' as 'Nov 30'."""
    try:
        return dt.date.fromisoformat(iso_day).strftime("%b %-d")
    except ValueError:
        return iso_day


def chart_progress(progress: dict[str, Any]) -> SafeString:
    """Per dataset: a bar of items, filled by complete (k human labels) and labelled."""
    rows = progress.get("datasets", [])
    if not rows:
        return format_html('<p class="muted">{}</p>', "No items yet.")
    bar_w, h = 460, 26
    left = _label_width([d["dataset"] for d in rows], lo=120, hi=260)
    height = h * len(rows) + 24
    parts = []
    for i, d in enumerate(rows):
        y = 8 + i * h
        total = max(d["items"], 1)
        labelled = bar_w * d["labelled"] / total
        complete = bar_w * d["complete"] / total
        pct = 100 * d["complete"] / total
        parts.append(
            f'<text x="{left - 8}" y="{y + 14}" text-anchor="end" class="chart-label">'
            f"{_fit(d['dataset'], left)}</text>"
            f'<rect x="{left}" y="{y}" width="{bar_w}" height="18" rx="3" fill="{MUTED}" opacity=".45"/>'
            f'<rect x="{left}" y="{y}" width="{labelled:.1f}" height="18" rx="3" fill="{ACCENT}" opacity=".35">'
            f"<title>{d['labelled']:,} items with any label</title></rect>"
            f'<rect x="{left}" y="{y}" width="{complete:.1f}" height="18" rx="3" fill="{ACCENT}">'
            f"<title>{d['complete']:,} of {d['items']:,} items complete</title></rect>"
            f'<text x="{left + bar_w + 8}" y="{y + 14}" class="chart-value">'
            f"{d['complete']:,}/{d['items']:,} ({pct:.0f}%)</text>"
        )
    return _svg(left + bar_w + 130, height, "".join(parts), "Progress per dataset")


def chart_throughput(throughput: dict[str, Any]) -> SafeString:
    days = throughput.get("days", [])
    if not days:
        return format_html('<p class="muted">{}</p>', "No annotations yet.")
    w, h, pad = 720, 150, 28
    peak = max((d["n"] for d in days), default=0) or 1
    bw = (w - pad) / len(days)
    parts = [
        f'<line x1="{pad}" y1="{h - 18}" x2="{w}" y2="{h - 18}" stroke="{MUTED}"/>',
        f'<text x="{pad - 4}" y="14" text-anchor="end" class="chart-label">{peak:,}</text>',
        f'<text x="{pad - 4}" y="{h - 18}" text-anchor="end" class="chart-label">0</text>',
    ]
    for i, d in enumerate(days):
        bh = (h - 34) * d["n"] / peak
        x = pad + i * bw
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{h - 18 - bh:.1f}" width="{max(bw - 2, 1):.1f}" '
            f'height="{bh:.1f}" fill="{ACCENT}"><title>{escape(_day(d["day"]))}: {d["n"]:,}</title></rect>'
        )
    # The first date starts at its bar, the last ends at its bar: neither runs off the chart.
    ticks = {0: "start", len(days) // 2: "middle", len(days) - 1: "end"}
    for i, anchor in ticks.items():
        at = {"start": pad + i * bw, "middle": pad + i * bw + bw / 2, "end": pad + (i + 1) * bw}
        parts.append(
            f'<text x="{at[anchor]:.1f}" y="{h - 4}" text-anchor="{anchor}" '
            f'class="chart-label">{escape(_day(days[i]["day"]))}</text>'
        )
    return _svg(w, h, "".join(parts), "Annotations per day")


def chart_agreement(fields: list[dict[str, Any]]) -> SafeString:
    """Krippendorff's α per field (−0.2..1 axis), with the 0.667 and 0.8 guides."""
    if not fields:
        return format_html('<p class="muted">{}</p>', "No label fields.")
    bar_w, h = 380, 28
    left = _label_width([f["label"] for f in fields], lo=160, hi=320)
    lo, hi = -0.2, 1.0

    def x(v: float) -> float:
        return left + bar_w * (min(max(v, lo), hi) - lo) / (hi - lo)

    height = h * len(fields) + 30
    parts = []
    for guide in (0.0, 0.667, 0.8):
        parts.append(
            f'<line x1="{x(guide):.1f}" y1="4" x2="{x(guide):.1f}" y2="{height - 20}" '
            f'stroke="{MUTED}" stroke-dasharray="3 3"/>'
            f'<text x="{x(guide):.1f}" y="{height - 6}" text-anchor="middle" class="chart-label">{guide:g}</text>'
        )
    for i, f in enumerate(fields):
        y = 6 + i * h
        a = f.get("alpha")
        parts.append(
            f'<text x="{left - 8}" y="{y + 14}" text-anchor="end" class="chart-label">'
            f"{_fit(f['label'], left)}</text>"
        )
        if a is not None:
            x0, x1 = x(0.0), x(a)
            parts.append(
                f'<rect x="{min(x0, x1):.1f}" y="{y}" width="{abs(x1 - x0):.1f}" height="18" rx="3" '
                f'fill="{_alpha_colour(a)}"><title>α = {a:.3f} over {f["n_units"]:,} units</title></rect>'
                f'<text x="{x(hi) + 8:.1f}" y="{y + 14}" class="chart-value">α {a:.3f}</text>'
            )
        else:
            parts.append(
                f'<text x="{x(0.0) + 6:.1f}" y="{y + 14}" class="chart-label">undefined '
                f"(no unit rated twice)</text>"
            )
    return _svg(left + bar_w + 90, height, "".join(parts), "Krippendorff's alpha per field")


def chart_trend(trend: list[dict[str, Any]]) -> SafeString:
    pts = [(p["day"], p["alpha"]) for p in trend if p.get("alpha") is not None]
    if len(pts) < 2:
        return format_html('<span class="muted small">{}</span>', "one point" if pts else "")
    w, h = 140, 32
    d0, d1 = pts[0][0], pts[-1][0]
    span = max(d1 - d0, 1)
    coords = " ".join(
        f"{4 + (w - 8) * (d - d0) / span:.1f},{h - 4 - (h - 8) * (min(max(a, 0), 1)):.1f}"
        for d, a in pts
    )
    first = dt.date.fromordinal(dt.date(1970, 1, 1).toordinal() + d0).isoformat()
    body = (
        f'<polyline points="{coords}" fill="none" stroke="{ACCENT}" stroke-width="2"/>'
        f"<title>α from {first}: " + ", ".join(f"{a:.2f}" for _, a in pts) + "</title>"
    )
    return _svg(w, h, body, "Agreement trend")


def chart_confusion(field: dict[str, Any]) -> SafeString:
    """The coincidence matrix of a field as a heat map (pairs of values given to one unit)."""
    matrix = field.get("coincidence")
    values = field.get("values", [])
    if not matrix or len(values) > 12 or not any(any(r) for r in matrix):
        return SafeString("")
    n = len(values)
    cell, left, top = 34, 110, 70
    peak = max(max(r) for r in matrix) or 1
    parts = []
    for j, v in enumerate(values):
        parts.append(
            f'<text x="{left + j * cell + cell / 2}" y="{top - 8}" text-anchor="end" '
            f'transform="rotate(-40 {left + j * cell + cell / 2} {top - 8})" class="chart-label">'
            f"{_fit(humanize(str(v)), 110)}</text>"
        )
    for i, row in enumerate(matrix):
        parts.append(
            f'<text x="{left - 6}" y="{top + i * cell + cell / 2 + 4}" text-anchor="end" '
            f'class="chart-label">{_fit(humanize(str(values[i])), left)}</text>'
        )
        for j, c in enumerate(row):
            shade = c / peak
            colour = OK if i == j else BAD
            parts.append(
                f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell - 2}" height="{cell - 2}" '
                f'rx="3" fill="{colour}" fill-opacity="{0.08 + 0.85 * shade:.2f}">'
                f"<title>{escape(humanize(str(values[i])))} × "
                f"{escape(humanize(str(values[j])))}: {c:g}</title></rect>"
            )
            if c:
                parts.append(
                    f'<text x="{left + j * cell + cell / 2 - 1}" y="{top + i * cell + cell / 2 + 3}" '
                    f'text-anchor="middle" class="chart-cell">{c:.0f}</text>'
                )
    return _svg(left + n * cell + 10, top + n * cell + 10, "".join(parts),
                f"Coincidence matrix of {field['label']}")  # fmt: skip


# --- pages -------------------------------------------------------------------------------


def _when(value: str | None) -> dt.datetime | None:
    """A stored ISO time as a datetime (the template formats it); None when absent."""
    try:
        return dt.datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def ago(seconds: float) -> str:
    """'just now', '12 seconds ago', '3 minutes ago', '2 hours ago', '4 days ago'."""
    s = max(int(seconds), 0)
    if s < 5:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if s >= size:
            n = s // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def _freshness(project: Project, computed_at: dt.datetime | None) -> dict[str, Any]:
    """What the status line shows: when the figures were computed and whether a refresh is
    on its way."""
    refresh = stats_refresh_latest(project=project)
    return {
        "refresh": refresh,
        "busy": bool(refresh and refresh.is_active),
        "failed": bool(refresh and refresh.status == refresh.Status.FAILED),
        "computed_at": computed_at,
        "computed_ago": ago((timezone.now() - computed_at).total_seconds())
        if computed_at
        else None,
        # The poll sends it back: newer figures than these make the body reload.
        "since": f"{computed_at.timestamp():.6f}" if computed_at else "0",
    }


def _context(project: Project, role: str) -> dict[str, Any]:
    stats = project_stats_get(project=project)
    ready = "agreement" in stats and "progress" in stats
    computed_at = stats.get("_computed_at", {}).get("agreement") if ready else None
    ctx: dict[str, Any] = {
        "project": project,
        "role": role,
        "can_manage": role in MANAGE,
        "ready": ready,
        **_freshness(project, computed_at),
    }
    if not ready:
        return ctx
    agreement = stats["agreement"]
    fields = agreement.get("fields", [])
    for f in fields:
        f["trend_svg"] = chart_trend(f.get("trend", []))
        f["confusion_svg"] = chart_confusion(f)
        f["alpha_colour"] = _alpha_colour(f.get("alpha"))
        f["alpha_tone"] = _alpha_tone(f.get("alpha"))
    models = [{**m, "field_label": f["label"]} for f in fields for m in f.get("models", [])]
    annotators = stats.get("annotators", {}).get("rows", [])
    flags = stats.get("flags", {"open": 0, "latest": []})
    reasons = dict(Flag.Reason.choices)
    flags["latest"] = [
        {**f, "reason": reasons.get(f["reason"], humanize(f["reason"])),
         "created_at": _when(f.get("created_at"))}
        for f in flags.get("latest", [])
    ]  # fmt: skip
    ctx.update(
        {
            "progress": stats["progress"],
            "progress_svg": chart_progress(stats["progress"]),
            "throughput": stats.get("throughput", {}),
            "throughput_svg": chart_throughput(stats.get("throughput", {})),
            "fields": fields,
            "agreement_svg": chart_agreement(fields),
            "annotators": annotators,
            "flagged_annotators": [a for a in annotators if a.get("flagged")],
            "models": models,
            "flags": flags,
            **model_loop_context(project, stats),
        }
    )
    return ctx


@login_required
@require_GET
def dashboard(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    project, role = _project(request, slug)
    ctx = _context(project, role)
    if not ctx["ready"] and not ctx["busy"] and not ctx["failed"]:
        # First visit: queue the computation (never run it in the request) and poll.
        project_stats_refresh_start(project=project)
        ctx["busy"] = True
    return render(request, "web/dashboard.html", ctx)


@login_required
@require_GET
def dashboard_body(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    """The dashboard's body as a fragment; it polls itself while a refresh is running."""
    project, role = _project(request, slug)
    if not request.htmx:
        return redirect("dashboard", slug=slug)
    return render(request, "web/dashboard.html#dashboard-body", _context(project, role))


@login_required
@require_GET
def dashboard_status(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    """The status line ("computed 12 seconds ago", "updating…"), polled every few seconds by
    every viewer. When the stored figures are newer than the page's (`since`), the response
    triggers `stats-updated`, on which the body reloads itself."""
    project, role = _project(request, slug)
    if not request.htmx:
        return redirect("dashboard", slug=slug)
    computed_at = stats_computed_at(project=project)
    ctx = {"project": project, "can_manage": role in MANAGE, **_freshness(project, computed_at)}
    response = render(request, "web/dashboard.html#dashboard-status", ctx)
    try:
        since = float(request.GET.get("since", "0"))
    except ValueError:
        since = 0.0
    if computed_at and computed_at.timestamp() > since + 1e-6:
        response["HX-Trigger"] = "stats-updated"
    return response


@login_required
@require_POST
def dashboard_refresh(request: AuthedHttpRequest, slug: str) -> HttpResponse:
    """Managers queue a recomputation of the figures."""
    project, role = _project(request, slug)
    if role not in MANAGE:
        raise PermissionDenied("Only managers can refresh the statistics.")
    project_stats_refresh_start(project=project, user=request.user)
    if request.htmx:
        ctx = {"project": project, "can_manage": True,
               **_freshness(project, stats_computed_at(project=project))}  # fmt: skip
        return render(request, "web/dashboard.html#dashboard-status", ctx)
    return redirect("dashboard", slug=slug)


def number(x: Any, digits: int = 2) -> str:
    """Template helper (also used by tests)."""
    return _num(x, digits)


def badge(text: str, tone: str) -> SafeString:
    """A badge in one of the tones of stepwise.css (tone-ok, tone-warn, tone-bad, tone-muted)."""
    return format_html('<span class="badge {}">{}</span>', tone, text)
