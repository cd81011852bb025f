"""`math_shepherd`: the step-tag format of Math-Shepherd (JSONL of {input, label, task?, id?}).

`input` is the problem, then `Step 1: ... ки\\nStep 2: ... ки...`; `label` is the same string
with every tag `ки` (two characters) replaced by one character, `+` or `-`. The split follows
TRL's converter (`examples/datasets/math_shepherd.py`): tag positions in `input` give the
label characters in `label`, and the problem is split off the first segment at `Step 1:` /
`step 1:` (else after the first `?`).

The labels are Monte-Carlo estimates, not human judgements: they become an annotation by the
imported annotator `math-shepherd-mc` (+ -> 1, - -> -1, one rating per step, every step
labelled). Its finish_reason stays empty: nobody finished a labelling session. The answer in
the last step (`The answer is: X`) is the trace's final answer; Math-Shepherd labels the last
step from the final-answer check, so its label is also `final_answer_correct`. The format
has no reference answer.

A record whose problem text carries a stray tag (so `Step 1:` comes after the first tag) is
valid but cannot be split reliably; it is skipped, as TRL drops it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from annotation.importers.base import (
    Importer,
    ParsedAnnotation,
    ParsedItem,
    ParseEvent,
    RecordError,
    SkippedRecord,
    opt_str,
    parse_jsonl_records,
    req_object,
    req_str,
)

ANNOTATOR = "math-shepherd-mc"
STEP_TAG = "ки"
_LABEL_RATING = {"+": 1, "-": -1}
_FIRST_STEP = ("Step 1:", "step 1:")
_ANSWER = re.compile(r"The answer is:?\s*(.+?)\s*$", re.IGNORECASE | re.DOTALL)


def _read_labels(text: str, label: str) -> list[str]:
    """The `+`/`-` at each tag of `text`, checking `label` is `text` with its tags replaced."""
    segments = text.split(STEP_TAG)
    n_tags = len(segments) - 1
    if n_tags == 0:
        raise RecordError("input", f"has no step tag {STEP_TAG!r}")
    expected_len = len(text) - n_tags * (len(STEP_TAG) - 1)
    if len(label) != expected_len:
        raise RecordError(
            "label",
            f"does not line up with input: input has {n_tags} step tag(s), so label should have "
            f"{expected_len} characters, it has {len(label)} (tag count mismatch)",
        )
    marks: list[str] = []
    pos = 0
    for k, seg in enumerate(segments):
        if label[pos : pos + len(seg)] != seg:
            at = pos + next(
                i for i, (a, b) in enumerate(zip(seg, label[pos:], strict=False)) if a != b
            )
            raise RecordError(
                "label", f"differs from input outside the step tags at character {at + 1}"
            )
        pos += len(seg)
        if k < n_tags:
            mark = label[pos]
            if mark not in _LABEL_RATING:
                raise RecordError(
                    "label",
                    f"character {pos + 1} (tag of step {k + 1}) must be '+' or '-', got {mark!r}",
                )
            marks.append(mark)
            pos += 1
    return marks


def _split_problem(first: str, text: str) -> int | None:
    """Where the problem ends inside the first segment; None for a stray tag in the problem."""
    for marker in _FIRST_STEP:
        at = first.find(marker)
        if at >= 0:
            return at
    if any(marker in text for marker in _FIRST_STEP):
        return None
    at = first.find("?")
    if at < 0:
        raise RecordError(
            "input", "cannot find where the problem ends: no 'Step 1:' and no '?' before the tag"
        )
    return at + 1


def parse_math_shepherd_record(obj: Any, line: int | None) -> ParsedItem | SkippedRecord:
    """One Math-Shepherd line -> one trace item with its MC labels as an annotation."""
    rec = req_object(obj, "record")
    text = req_str(rec, "input")
    label = req_str(rec, "label")
    marks = _read_labels(text, label)
    segments = text.split(STEP_TAG)
    split = _split_problem(segments[0], text)
    if split is None:
        return SkippedRecord(line, f"a step tag {STEP_TAG!r} inside the problem, before 'Step 1:'")
    if segments[-1].strip():
        raise RecordError("input", f"has text after the last step tag {STEP_TAG!r}")
    prompt = segments[0][:split].strip()
    if not prompt:
        raise RecordError("input", "has no problem text before 'Step 1:'")
    steps = [segments[0][split:].strip()] + [s.strip() for s in segments[1:-1]]
    for k, step in enumerate(steps):
        if not step:
            raise RecordError("input", f"step {k + 1} is empty (two tags with nothing between)")
    ratings: list[int | None] = [_LABEL_RATING[m] for m in marks]
    found = _ANSWER.search(steps[-1])
    external_id = (
        opt_str(rec, "id") or hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]
    )
    return ParsedItem(
        line=line,
        external_id=external_id,
        prompt=prompt,
        final_answer=found.group(1) if found else "",
        final_answer_correct=(marks[-1] == "+") if found else None,
        metadata={"step_separator": "\n", "task": opt_str(rec, "task"), "step_tag": STEP_TAG},
        steps=steps,
        annotations=[
            ParsedAnnotation(
                annotator=ANNOTATOR,
                first_error_index=next((k for k, m in enumerate(marks) if m == "-"), -1),
                step_ratings=ratings,
            )
        ],
    )


class MathShepherdImporter(Importer):
    name = "math_shepherd"
    label = "Math-Shepherd JSONL (step tags)"
    project_kinds = ("step_labels",)
    extensions = (".jsonl",)

    def parse(
        self, stream: BinaryIO, *, options: dict[str, Any], max_line_bytes: int
    ) -> Iterator[ParseEvent]:
        yield from parse_jsonl_records(
            stream, max_line_bytes=max_line_bytes, parse_record=parse_math_shepherd_record
        )
