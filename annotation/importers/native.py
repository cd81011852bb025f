"""`native`: Stepwise's own JSONL, one item per line. The JSON Schema is in `schema.py` and
published at /api/v1/schemas/import/.

With a `split` option (annotation.importers.split) `steps` may also be one string, and each
step text is cut by the chosen segmenter; a record that yields no step is a problem."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, BinaryIO, TypeGuard

from annotation.importers.base import (
    Importer,
    ImportIssue,
    ParsedAnnotation,
    ParsedCandidate,
    ParsedItem,
    ParsedPreference,
    ParsedPrincipleRating,
    ParsedTurnLabel,
    ParseEvent,
    RecordError,
    opt_bool,
    opt_str,
    parse_jsonl_records,
    req_int,
    req_object,
    req_str,
    type_name,
)
from annotation.importers.split import (
    NO_SPLIT,
    SPLIT_OPTIONS_HELP,
    SplitOptionError,
    StepSplit,
    split_from_options,
    split_steps,
)

FINISH_REASONS = ("", "found_error", "solution", "bad_problem", "give_up")
_KNOWN = {
    "external_id",
    "group_key",
    "prompt",
    "reference_answer",
    "final_answer",
    "final_answer_correct",
    "generator_model",
    "metadata",
    "steps",
    "turns",
    "candidates",
    "annotations",
}


def _opt(rec: dict[str, Any], key: str) -> str:
    """opt_str with a fast path for the common case (a string or nothing)."""
    value = rec.get(key)
    if value is None:
        return ""
    if value.__class__ is str:
        return value
    return opt_str(rec, key)


def _is_text(value: Any) -> TypeGuard[str]:
    """A non-blank string (what req_str accepts as is)."""
    return value.__class__ is str and bool(value) and not value.isspace()


def parse_native_record(obj: Any, line: int | None, split: StepSplit = NO_SPLIT) -> ParsedItem:
    rec = req_object(obj, "record")
    if not _KNOWN.issuperset(rec):
        raise RecordError(sorted(set(rec) - _KNOWN)[0], "is not a field of the native format")
    external_id = rec.get("external_id")
    item = ParsedItem(
        line=line,
        external_id=external_id if _is_text(external_id) else req_str(rec, "external_id"),
        prompt=_opt(rec, "prompt"),
        group_key=_opt(rec, "group_key"),
        reference_answer=_opt(rec, "reference_answer"),
        final_answer=_opt(rec, "final_answer"),
        final_answer_correct=opt_bool(rec, "final_answer_correct"),
        generator_model=_opt(rec, "generator_model"),
    )
    if rec.get("metadata") is not None:
        item.metadata = req_object(rec["metadata"], "metadata")
    steps = rec.get("steps")
    if steps is not None:
        item.steps = _steps(steps, split)
    turns = rec.get("turns")
    if turns is not None:
        if not isinstance(turns, list):
            raise RecordError("turns", f"must be a list, got {type_name(turns)}")
        for i, t in enumerate(turns):
            t = req_object(t, f"turns[{i}]")
            item.turns.append(
                (
                    req_str(t, "speaker", path=f"turns[{i}].speaker"),
                    req_str(t, "text", path=f"turns[{i}].text"),
                )
            )
    candidates = rec.get("candidates")
    if candidates is not None:
        if not isinstance(candidates, list):
            raise RecordError("candidates", f"must be a list, got {type_name(candidates)}")
        for i, c in enumerate(candidates):
            if c.__class__ is not dict:
                c = req_object(c, f"candidates[{i}]")
            text = c.get("text")
            if not _is_text(text):
                text = req_str(c, "text", path=f"candidates[{i}].text")
            source_model = c.get("source_model")
            if source_model is None:
                source_model = ""
            elif source_model.__class__ is not str:
                source_model = opt_str(c, "source_model", path=f"candidates[{i}].source_model")
            meta = c.get("metadata") or {}
            if meta.__class__ is not dict:
                meta = req_object(meta, f"candidates[{i}].metadata")
            item.candidates.append(ParsedCandidate(text, source_model, meta))
    if not (item.steps or item.turns or item.candidates):
        raise RecordError("steps", "a record needs steps, turns or candidates")
    annotations = rec.get("annotations") or []
    if not isinstance(annotations, list):
        raise RecordError("annotations", f"must be a list, got {type_name(annotations)}")
    for i, a in enumerate(annotations):
        item.annotations.append(_parse_annotation(req_object(a, f"annotations[{i}]"), item, i))
    return item


def _steps(steps: Any, split: StepSplit) -> list[str]:
    """The record's steps; under a split, `steps` may be one string and each text is cut."""
    if isinstance(steps, str) and split.active:
        steps = [steps]
    if not isinstance(steps, list):
        hint = ""
        if isinstance(steps, str):
            hint = " (to cut one block of text into steps, import with a split option)"
        raise RecordError("steps", f"must be a list of strings, got {type_name(steps)}{hint}")
    for i, s in enumerate(steps):
        if not isinstance(s, str):
            raise RecordError(f"steps[{i}]", f"must be a string, got {type_name(s)}")
        if not split.active and not s.strip():
            raise RecordError(f"steps[{i}]", "must not be empty")
    if not split.active:
        return list(steps)
    return split_steps(split, steps, "steps")


def _list(obj: dict[str, Any], key: str, prefix: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"{prefix}.{key}", f"must be a list, got {type_name(value)}")
    return value


def _parse_annotation(a: dict[str, Any], item: ParsedItem, i: int) -> ParsedAnnotation:
    p = f"annotations[{i}]"
    ann = ParsedAnnotation(annotator=req_str(a, "annotator", path=f"{p}.annotator"))
    ann.finish_reason = opt_str(a, "finish_reason", path=f"{p}.finish_reason")
    if ann.finish_reason not in FINISH_REASONS:
        raise RecordError(f"{p}.finish_reason", f"must be one of {', '.join(FINISH_REASONS[1:])}")
    ann.justification = opt_str(a, "justification", path=f"{p}.justification")
    if a.get("first_error_index") is not None:
        fe = req_int(a, "first_error_index", path=f"{p}.first_error_index")
        if fe < -1 or fe >= len(item.steps):
            raise RecordError(
                f"{p}.first_error_index", f"must be -1 or a step index below {len(item.steps)}"
            )
        ann.first_error_index = fe
    if a.get("step_ratings") is not None:
        ratings = a["step_ratings"]
        if not isinstance(ratings, list) or len(ratings) != len(item.steps):
            raise RecordError(f"{p}.step_ratings", f"must be a list of {len(item.steps)} ratings")
        for j, r in enumerate(ratings):
            if r is not None and (isinstance(r, bool) or r not in (-1, 0, 1)):
                raise RecordError(f"{p}.step_ratings[{j}]", "must be -1, 0, 1 or null")
        ann.step_ratings = list(ratings)
    for j, tl in enumerate(_list(a, "turn_labels", p)):
        q = f"{p}.turn_labels[{j}]"
        tl = req_object(tl, q)
        turn = req_int(tl, "turn", path=f"{q}.turn")
        if not 0 <= turn < len(item.turns):
            raise RecordError(f"{q}.turn", f"must be a turn index below {len(item.turns)}")
        ann.turn_labels.append(
            ParsedTurnLabel(
                turn,
                req_str(tl, "field", path=f"{q}.field"),
                req_str(tl, "value", path=f"{q}.value"),
            )
        )
    n = len(item.candidates)
    for j, pr in enumerate(_list(a, "preferences", p)):
        q = f"{p}.preferences[{j}]"
        pr = req_object(pr, q)
        ca, cb = req_int(pr, "a", path=f"{q}.a"), req_int(pr, "b", path=f"{q}.b")
        if not (0 <= ca < n and 0 <= cb < n) or ca == cb:
            raise RecordError(q, f"a and b must be two different candidate indexes below {n}")
        strength = req_int(pr, "strength", path=f"{q}.strength")
        if not -3 <= strength <= 3:
            raise RecordError(f"{q}.strength", "must be between -3 and 3")
        margin = pr.get("margin")
        if margin is not None:
            if isinstance(margin, bool) or not isinstance(margin, int | float):
                raise RecordError(f"{q}.margin", f"must be a number, got {type_name(margin)}")
            try:
                margin = float(margin)
            except OverflowError:
                margin = math.inf
            if not math.isfinite(margin):
                raise RecordError(f"{q}.margin", "must be a finite number")
        ann.preferences.append(ParsedPreference(ca, cb, strength, margin))
    for j, r in enumerate(_list(a, "principle_ratings", p)):
        q = f"{p}.principle_ratings[{j}]"
        r = req_object(r, q)
        cand = r.get("candidate")
        if cand is not None and (
            isinstance(cand, bool) or not isinstance(cand, int) or not 0 <= cand < n
        ):
            raise RecordError(f"{q}.candidate", f"must be a candidate index below {n} or null")
        ann.principle_ratings.append(
            ParsedPrincipleRating(
                req_str(r, "principle", path=f"{q}.principle"),
                cand,
                req_int(r, "value", path=f"{q}.value"),
            )
        )
    return ann


class NativeImporter(Importer):
    name = "native"
    label = "Stepwise JSONL"
    project_kinds = ("step_labels", "dialogue_coding", "preference")
    extensions = (".jsonl",)
    options_help = SPLIT_OPTIONS_HELP
    split_default = "none"

    def parse(
        self, stream: BinaryIO, *, options: dict[str, Any], max_line_bytes: int
    ) -> Iterator[ParseEvent]:
        try:
            split = split_from_options(options, default="none")
        except SplitOptionError as exc:
            yield ImportIssue(None, exc.field, exc.message)
            return
        yield from parse_jsonl_records(
            stream,
            max_line_bytes=max_line_bytes,
            parse_record=lambda obj, line: parse_native_record(obj, line, split),
        )
