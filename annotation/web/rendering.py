"""Safe rich text for item content: escaped on the server, Markdown, sanitised, math left
for KaTeX.

The pipeline, for text that may come from any imported dataset:

1. math spans (``$$…$$``, ``\\[…\\]``, ``\\(…\\)``, ``$…$``) and code spans are cut out,
   escaped, and replaced by inert placeholders, so Markdown never sees (and mangles) the LaTeX inside them:
   ``\\\\`` would become ``\\``, ``a_1 * b_2`` would turn into emphasis;
2. the remaining text is HTML-escaped (``&`` and ``<``), so a ``<script>`` or an
   ``<img onerror=…>`` shows as text rather than being dropped or run;
3. Markdown renders it, the escaped math spans go back in with their delimiters, and nh3
   sanitises the result against its allow-list as a last line of defence.

Each math span is wrapped in ``<span class="tex">``; the browser typesets only those with
KaTeX auto-render (``trust: false``), which reads text nodes, so ``a < b`` inside math arrives
at KaTeX as written and a stray ``$`` in prose ("$5 and $10") is never taken for math.
"""

from __future__ import annotations

import functools
import html
import re
import threading

import markdown as md
import nh3
from django.utils.safestring import SafeString, mark_safe

# Code spans come first so that a `$` inside backticks stays code. Inline `$…$` must not
# start or end with a space (so "$5 and $10" is money, not math) and never spans a blank
# line; display spans may span lines.
_SPAN = re.compile(
    r"(?P<code>`+)(?P<codebody>.+?)(?P=code)"
    r"|(?<!\\)\$\$(?P<dd>.+?)(?<!\\)\$\$"
    r"|\\\[(?P<db>.+?)\\\]"
    r"|\\\((?P<ip>.+?)\\\)"
    r"|(?<![\\$])\$(?P<id>[^\s$](?:[^$\n]|\n(?!\s*\n))*?)(?<![\s\\])\$(?!\d)",
    re.DOTALL,
)
# Letters and digits only: Markdown leaves them alone wherever they fall.
_PLACEHOLDER = "SWMATHSPAN{}X"
_PLACEHOLDER_RE = re.compile(r"SWMATHSPAN(\d+)X")
_ATTRIBUTES = {**nh3.ALLOWED_ATTRIBUTES, "span": {"class"}}


def _escape(text: str) -> str:
    # `>` stays so Markdown blockquotes work; without `<` no tag can start.
    return text.replace("&", "&amp;").replace("<", "&lt;")


_markdown = threading.local()


def _to_html(text: str) -> str:
    """Markdown → HTML with one converter per thread, reset between texts (building a
    converter with its extensions costs more than converting a step)."""
    converter = getattr(_markdown, "converter", None)
    if converter is None:
        converter = _markdown.converter = md.Markdown(extensions=["extra", "sane_lists"])
    return str(converter.reset().convert(text))


def rich_text(text: str | None) -> SafeString:
    """Item text (problem, step, turn, candidate) as sanitised HTML with math delimiters kept
    verbatim (escaped) for client-side KaTeX. Pure, so the last few thousand texts are kept:
    the labeling page shows an item twice (prefetched as next, then as current)."""
    return mark_safe(_rich_text(text or ""))  # noqa: S308 - escaped, then sanitised by nh3


@functools.lru_cache(maxsize=4096)
def _rich_text(text: str) -> str:
    spans: list[str] = []

    def protect(m: re.Match[str]) -> str:
        if m.group("code") is not None:
            body = html.escape(m.group("codebody"), quote=False)
            if "\n" in body.strip("\n") or len(m.group("code")) >= 3:
                # A fenced block: drop an info string such as "python" on the first line.
                first, nl, rest = body.partition("\n")
                body = rest if nl and re.fullmatch(r"[\w+-]*", first.strip()) else body
                spans.append(f"<pre><code>{body.strip(chr(10))}</code></pre>")
            else:
                spans.append(f"<code>{body.strip()}</code>")
        else:
            # The span marks what the server decided is math; the browser typesets only
            # these, so a stray "$" in prose is never taken for a delimiter.
            spans.append(f'<span class="tex">{html.escape(m.group(0), quote=False)}</span>')
        return _PLACEHOLDER.format(len(spans) - 1)

    protected = _SPAN.sub(protect, text)
    rendered = _to_html(_escape(protected))
    restored = _PLACEHOLDER_RE.sub(lambda m: spans[int(m.group(1))], rendered)
    return str(nh3.clean(restored, attributes=_ATTRIBUTES).replace("<p></p>", ""))
