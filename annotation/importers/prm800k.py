"""`prm800k`: OpenAI's PRM800K labels (JSONL, one labelled solution per line; phase 1 or 2).

Each line holds `labeler`, `timestamp`, `generation`, `question{problem, ground_truth_answer,
pre_generated_steps?, pre_generated_answer?}` and `label{steps[], total_time, finish_reason}`.
The trajectory is rebuilt step by step, as the PRM800K README does:

- `completions[chosen_completion]` when `chosen_completion` is set;
- else `human_completion` (phase 1: a step the labeler wrote; an object with `text`, or a
  plain string);
- else the only completion, when there is exactly one;
- else (phase 2: the step where the first mistake was found, with the labeler's alternative
  steps) the completion whose text is the pre-generated step at that position;
- else the trajectory stops there, as it does at a step whose fields are all null.

The rating of each chosen step (-1/0/+1, null allowed) becomes an annotation by the imported
annotator `prm800k-<labeler uuid>`; rated alternatives that were not chosen are kept in
`metadata["alternatives"]`. A record without any step is a problem, except for a
`bad_problem`/`give_up` record, which is valid but has nothing to label and is skipped.
"""

from __future__ import annotations

import hashlib
import json
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
    req_int,
    req_object,
    req_str,
    type_name,
)

ANNOTATOR_PREFIX = "prm800k-"
ANNOTATOR_UNKNOWN = "prm800k-labelers"
FINISH_REASONS = ("found_error", "solution", "bad_problem", "give_up")
# Finish reasons under which a record may legitimately hold no step at all.
_NOTHING_TO_LABEL = ("bad_problem", "give_up")
ANSWER_MARKER = "# Answer"


def _rating(value: Any, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or value not in (-1, 0, 1):
        raise RecordError(path, f"must be -1, 0, 1 or null, got {value!r}")
    return value


def _human_step(value: Any, path: str) -> tuple[str, int | None]:
    if isinstance(value, str):
        if not value.strip():
            raise RecordError(path, "must not be empty")
        return value, None
    obj = req_object(value, path)
    return req_str(obj, "text", path=f"{path}.text"), _rating(obj.get("rating"), f"{path}.rating")


def _rebuild_trajectory(
    steps: list[Any], pre_generated: list[Any]
) -> tuple[list[str], list[int | None], list[dict[str, Any]]]:
    """(step texts, their ratings, rated alternatives that were not chosen)."""
    texts: list[str] = []
    ratings: list[int | None] = []
    alternatives: list[dict[str, Any]] = []
    for i, raw in enumerate(steps):
        p = f"label.steps[{i}]"
        step = req_object(raw, p)
        completions = step.get("completions")
        human = step.get("human_completion")
        chosen = step.get("chosen_completion")
        if completions is None and human is None and chosen is None:
            break
        if completions is None:
            completions = []
        if not isinstance(completions, list):
            raise RecordError(f"{p}.completions", f"must be a list, got {type_name(completions)}")
        options = [req_object(c, f"{p}.completions[{j}]") for j, c in enumerate(completions)]
        if chosen is not None:
            chosen = req_int(step, "chosen_completion", path=f"{p}.chosen_completion")
            if not 0 <= chosen < len(options):
                raise RecordError(
                    f"{p}.chosen_completion",
                    f"must be a completion index below {len(options)}, got {chosen}",
                )
        picked: tuple[str, int | None] | None = None
        if chosen is None and human is not None:
            picked = _human_step(human, f"{p}.human_completion")
        elif chosen is None and len(options) == 1:
            chosen = 0
        elif chosen is None and i < len(pre_generated):
            matches = [j for j, c in enumerate(options) if c.get("text") == pre_generated[i]]
            chosen = matches[0] if matches else None
        for j, c in enumerate(options):
            q = f"{p}.completions[{j}]"
            rating = _rating(c.get("rating"), f"{q}.rating")
            if j == chosen:
                picked = (req_str(c, "text", path=f"{q}.text"), rating)
            else:
                text = opt_str(c, "text", path=f"{q}.text")
                alternatives.append({"step": i, "text": text, "rating": rating})
        if picked is None:
            # Alternatives with no chosen one: the labeler stopped here (TRL does the same).
            break
        texts.append(picked[0])
        ratings.append(picked[1])
    return texts, ratings, alternatives


def _final_answer(question: dict[str, Any], steps: list[str]) -> str:
    pre = opt_str(question, "pre_generated_answer", path="question.pre_generated_answer")
    if pre:
        return pre
    last = steps[-1]
    if ANSWER_MARKER in last:
        return last.rsplit(ANSWER_MARKER, 1)[1].strip()
    return ""


def _external_id(rec: dict[str, Any], labeler: str, problem: str, steps: list[str]) -> str:
    if rec.get("id") is not None:
        return req_str(rec, "id")
    # Deterministic, so a re-import of the same file is a no-op.
    blob = json.dumps([labeler, opt_str(rec, "timestamp"), problem, steps], ensure_ascii=False)
    return hashlib.sha1(blob.encode(), usedforsecurity=False).hexdigest()[:16]


def parse_prm800k_record(obj: Any, line: int | None) -> ParsedItem | SkippedRecord:
    """One PRM800K line -> one trace item with the labeler's ratings as an annotation."""
    rec = req_object(obj, "record")
    question = req_object(rec.get("question"), "question")
    label = req_object(rec.get("label"), "label")
    problem = req_str(question, "problem", path="question.problem")
    finish_reason = req_str(label, "finish_reason", path="label.finish_reason")
    if finish_reason not in FINISH_REASONS:
        raise RecordError(
            "label.finish_reason",
            f"must be one of {', '.join(FINISH_REASONS)}, got {finish_reason!r}",
        )
    raw_steps = label.get("steps")
    if not isinstance(raw_steps, list):
        raise RecordError("label.steps", f"must be a list, got {type_name(raw_steps)}")
    pre_generated = question.get("pre_generated_steps") or []
    if not isinstance(pre_generated, list):
        raise RecordError(
            "question.pre_generated_steps", f"must be a list, got {type_name(pre_generated)}"
        )
    steps, ratings, alternatives = _rebuild_trajectory(raw_steps, pre_generated)
    if not steps:
        if finish_reason in _NOTHING_TO_LABEL:
            return SkippedRecord(line, f"{finish_reason} with no labelled step")
        raise RecordError("label.steps", "has no step to import (no chosen or single completion)")
    labeler = opt_str(rec, "labeler")
    generation = rec.get("generation")
    if generation is not None:
        generation = req_int(rec, "generation")
    total_time = label.get("total_time")
    if total_time is not None:
        total_time = req_int(label, "total_time", path="label.total_time")
    first_error = next((i for i, r in enumerate(ratings) if r == -1), None)
    if first_error is None and finish_reason == "solution":
        first_error = -1
    metadata: dict[str, Any] = {
        "step_separator": "\n",
        "labeler": labeler,
        "generation": generation,
        "total_time_ms": total_time,
        "is_quality_control_question": rec.get("is_quality_control_question") is True,
        "is_initial_screening_question": rec.get("is_initial_screening_question") is True,
    }
    if alternatives:
        metadata["alternatives"] = alternatives
    return ParsedItem(
        line=line,
        external_id=_external_id(rec, labeler, problem, steps),
        prompt=problem,
        reference_answer=opt_str(
            question, "ground_truth_answer", path="question.ground_truth_answer"
        ),
        final_answer=_final_answer(question, steps),
        metadata=metadata,
        steps=steps,
        annotations=[
            ParsedAnnotation(
                annotator=ANNOTATOR_PREFIX + labeler if labeler else ANNOTATOR_UNKNOWN,
                first_error_index=first_error,
                finish_reason=finish_reason,
                step_ratings=ratings,
            )
        ],
    )


class Prm800kImporter(Importer):
    name = "prm800k"
    label = "PRM800K JSONL"
    project_kinds = ("step_labels",)
    extensions = (".jsonl",)

    def parse(
        self, stream: BinaryIO, *, options: dict[str, Any], max_line_bytes: int
    ) -> Iterator[ParseEvent]:
        yield from parse_jsonl_records(
            stream, max_line_bytes=max_line_bytes, parse_record=parse_prm800k_record
        )
