"""The Content-Security-Policy (django-csp) and the templates it relies on: no inline
script, event handler, style attribute or <style> element anywhere, so the strict policy
blocks nothing the pages need (tests/browser/ checks the same in Chromium)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted(
    p for d in ("frontend", "annotation", "labeling_jobs") for p in (ROOT / d).rglob("*.html")
)
INLINE = [
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"<[a-z][^>]*\son[a-z]+\s*=\s*[\"']", re.I), "inline event handler"),
    (re.compile(r"\shx-on[:-]", re.I), "hx-on handler (eval)"),
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_templates_were_found():
    assert len(TEMPLATES) > 20


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_template_has_nothing_inline(path):
    text = path.read_text()
    found = [what for pattern, what in INLINE if pattern.search(text)]
    assert not found, f"{path.relative_to(ROOT)}: {found}"


def test_python_built_html_has_no_style_attributes():
    for path in (ROOT / "annotation").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"""style=\\?["']""", text), path
        assert "<style" not in text, path


@pytest.mark.django_db
def test_pages_send_the_policy(client, make_user):
    client.force_login(make_user())
    for url in (reverse("home"), reverse("login"), "/api/v1/docs/", "/api/v1/projects/"):
        policy = client.get(url)["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"
        assert directives["object-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe" not in policy
