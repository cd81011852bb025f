"""Segmenters that turn one block of reasoning text into steps (the `split` import option).

Model outputs often arrive as one chain of thought. The `native` and `gsm8k_solutions`
importers take `split` (and `split_pattern` for `regex`):

- `none`: keep the steps as given (native's default);
- `lines`: every non-blank line is a step, kept as written (gsm8k_solutions' default);
- `blank_lines`: paragraphs: blank lines separate steps;
- `numbered`: a step starts at each numbered or bulleted line (`1.`, `2)`, `(3)`, `-`, `*`,
  `•`); lines without a marker continue the step above; text before the first marker is a
  step of its own;
- `step_markers`: a step starts at each `Step N:` (or `Step N.`), wherever it is on a line;
- `sentences`: a step ends after `.`, `!` or `?` followed by white space and a character that
  is not a lower-case letter (so `3.5` and `e.g. this` stay whole), and at blank lines;
- `regex`: each match of `split_pattern` separates two steps and is dropped; use a lookahead
  (`(?=Step \\d)`) to split before a marker and keep it.

Except under `lines`, every step is stripped of surrounding white space; empty ones are
dropped. The custom
pattern is bounded (MAX_PATTERN_LENGTH characters) and runs with a time limit per item
(PATTERN_TIMEOUT_S, through the `regex` module), so a pattern with catastrophic backtracking
fails the import with a message instead of hanging the worker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import regex

from annotation.errors import ApplicationError
from annotation.importers.base import FatalRecordError, RecordError

SPLIT_MODES: dict[str, str] = {
    "none": "as given (no split)",
    "lines": "one step per non-blank line",
    "blank_lines": "blank lines (paragraphs)",
    "numbered": "numbered or bulleted lines",
    "step_markers": '"Step N:" markers',
    "sentences": "sentences",
    "regex": "a custom regular expression",
}
SPLIT_OPTIONS_HELP: dict[str, str] = {
    "split": "how to cut reasoning text into steps: " + ", ".join(SPLIT_MODES),
    "split_pattern": "with split 'regex': the regular expression that separates steps",
}
MAX_PATTERN_LENGTH = 200
PATTERN_TIMEOUT_S = 0.25

_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n")
_MARKER_LINE = re.compile(r"^[ \t]*(?:\d{1,4}[.)]|\(\d{1,4}\)|[-*•+])[ \t]+", re.MULTILINE)
_STEP_MARKER = re.compile(r"(?:\*\*|#{1,6}[ \t]*)?\bStep[ \t]+\d{1,4}[ \t]*[:.]", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)\]]*\s+(?=[^a-z\s])|\n[ \t\r\f\v]*\n")
_LIST_NUMBER = re.compile(r"\(?\d{1,4}[.)]")


class SplitOptionError(ApplicationError):
    """A bad `split` or `split_pattern` option; `field` names which (without `options.`)."""

    field: str

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)


class SplitTimeoutError(Exception):
    """The custom pattern ran past its time limit on one text."""


def split_steps(split: StepSplit, texts: list[str], field: str) -> list[str]:
    """Split each text and concatenate the steps: a parser's helper that raises
    FatalRecordError (time limit: stop reading) or RecordError (no step at all) on `field`."""
    out: list[str] = []
    try:
        for text in texts:
            out.extend(split.split(text))
    except SplitTimeoutError as exc:
        raise FatalRecordError("split_pattern", str(exc)) from None
    if not out:
        raise RecordError(field, f"splits into no steps (split: {split.describe()})")
    return out


@dataclass(frozen=True, slots=True)
class StepSplit:
    """A segmenter: `mode` (a key of SPLIT_MODES) and, for `regex`, its pattern."""

    mode: str = "none"
    pattern: str = ""

    @property
    def active(self) -> bool:
        return self.mode != "none"

    def as_dict(self) -> dict[str, str]:
        """How the dataset records it: {} for none."""
        if not self.active:
            return {}
        return {"mode": self.mode, "pattern": self.pattern} if self.pattern else {"mode": self.mode}

    def describe(self) -> str:
        text = SPLIT_MODES.get(self.mode, self.mode)
        return f"{text} /{self.pattern}/" if self.mode == "regex" else text

    def split(self, text: str) -> list[str]:
        """The steps of `text` (possibly none); raises SplitTimeoutError."""
        if self.mode == "none":
            parts = [text]
        elif self.mode == "lines":
            # As gsm8k_solutions always split: each line kept as written, less a final \r.
            return [line.rstrip("\r") for line in text.split("\n") if line.strip()]
        elif self.mode == "blank_lines":
            parts = _BLANK_LINES.split(text)
        elif self.mode == "numbered":
            parts = _split_before(_MARKER_LINE, text)
        elif self.mode == "step_markers":
            parts = _split_before(_STEP_MARKER, text)
        elif self.mode == "sentences":
            parts = _sentences(text)
        else:
            parts = _split_on(_compiled(self.pattern), text)
        return [s for s in (p.strip() for p in parts) if s]


NO_SPLIT = StepSplit()


def _sentences(text: str) -> list[str]:
    out: list[str] = []
    carry = ""
    for part in _SENTENCE_END.split(text):
        if _LIST_NUMBER.fullmatch(part.strip()):
            carry += part.strip() + " "  # "1." is a list number, not a sentence
            continue
        out.append(carry + part)
        carry = ""
    if carry:
        out.append(carry)
    return out


def _split_before(pattern: re.Pattern[str], text: str) -> list[str]:
    starts = [m.start() for m in pattern.finditer(text)]
    bounds = [0, *starts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def _split_on(pattern: Any, text: str) -> list[str]:
    """Split at every match of a custom pattern, dropping the matched text (capture groups
    included, unlike re.split), under a time limit."""
    parts: list[str] = []
    prev = 0
    try:
        for m in pattern.finditer(text, timeout=PATTERN_TIMEOUT_S):
            parts.append(text[prev : m.start()])
            prev = m.end()
    except TimeoutError:
        raise SplitTimeoutError(
            f"took longer than {PATTERN_TIMEOUT_S} s on this item's text (catastrophic "
            "backtracking?); simplify the pattern"
        ) from None
    parts.append(text[prev:])
    return parts


_CACHE: dict[str, Any] = {}


def _compiled(pattern: str) -> Any:
    found = _CACHE.get(pattern)
    if found is None:
        if len(_CACHE) > 64:
            _CACHE.clear()
        found = _CACHE[pattern] = regex.compile(pattern, regex.VERSION0)
    return found


def split_from_options(options: dict[str, Any], *, default: str) -> StepSplit:
    """The split the options ask for (`default` when absent); SplitOptionError names the bad
    option: an unknown mode, a missing, overlong or invalid pattern, or a pattern given
    without `regex`."""
    mode = options.get("split") or default
    pattern = options.get("split_pattern")
    if not isinstance(mode, str) or mode not in SPLIT_MODES:
        raise SplitOptionError("split", f"must be one of {', '.join(SPLIT_MODES)}, got {mode!r}")
    if mode != "regex":
        if pattern not in (None, ""):
            raise SplitOptionError("split_pattern", "is only used with split 'regex'")
        return StepSplit(mode)
    if not isinstance(pattern, str) or not pattern:
        raise SplitOptionError("split_pattern", "is required with split 'regex'")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise SplitOptionError(
            "split_pattern", f"is longer than the limit of {MAX_PATTERN_LENGTH} characters"
        )
    try:
        _compiled(pattern)
    except (regex.error, re.error, ValueError, OverflowError, RecursionError) as exc:
        raise SplitOptionError(
            "split_pattern", f"is not a valid regular expression: {exc}"
        ) from None
    return StepSplit("regex", pattern)
