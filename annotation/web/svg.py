"""The frame and colours of the dashboards' server-rendered SVG charts."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Colours follow stepwise.css: accent blue, ok green, warn amber, bad red, muted grey.
ACCENT = "#2f5bd3"
OK = "#1f8a4c"
WARN = "#c98a0b"
BAD = "#c2412d"
MUTED = "#c9cfdb"
INK = "#1c2433"


def svg(width: int, height: int, body: str, label: str) -> SafeString:
    return mark_safe(  # noqa: S308 - every interpolated text in a body goes through escape()
        # Drawn at its natural width and shrunk to fit (.chart: max-width 100%); no style
        # attribute, which the Content-Security-Policy would refuse.
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )
