"""`prm800k`: OpenAI's PRM800K labels (JSONL, one labelled solution per line; phase 1 or 2).

Each line holds `labeler`, `timestamp`, `generation`, `question{problem, ground_truth_answer,
pre_generated_steps?, pre_generated_answer?}` and `label{steps[], total_time, finish_reason}`.

Phase 2 (`pre_generated_steps` set): the item's steps are the whole pre-generated solution.
The labeler rated it in order and stopped at the first mistake; the ratings go on the steps
they reached and the rest stay unlabeled, as in first-error mode. At each labelled step the
rated completion that is the pre-generated step is found by `chosen_completion`, or by its
text when `chosen_completion` is null (the step where the labeler stopped, listing their
alternative steps).

Phase 1 (no `pre_generated_steps`), or labels that leave the pre-generated solution: the
trajectory is rebuilt step by step, as the PRM800K README does: `completions[chosen]`, else
the labeler's own `human_completion` (an object with `text`, or a plain string), else the
only completion; a step with alternatives and none chosen, or a step whose fields are all
null, ends it.

The ratings (-1/0/+1, null allowed) become an annotation by the imported annotator
`prm800k-<labeler uuid>`. Every other rated completion is kept, with its rating and its
position, in `metadata["alternatives"]` ({step, completion, text, rating, flagged?}; shown on
the review page), and `metadata["prm800k"]` records what an export needs to write the record
back as it came (phase, which steps had no chosen completion or a human one, flagged steps).
A record without any step is a problem, except for a `bad_problem`/`give_up` record, which
is valid but has nothing to label and is skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
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


def _norm(text: Any) -> str:
    return " ".join(text.split()) if isinstance(text, str) else ""


@dataclass(slots=True)
class _LabelStep:
    """One entry of `label.steps`, checked."""

    index: int
    options: list[dict[str, Any]]
    chosen: int | None
    human: Any

    def rated(self, j: int) -> tuple[int | None, bool]:
        c = self.options[j]
        q = f"label.steps[{self.index}].completions[{j}]"
        flagged = c.get("flagged")
        if flagged is not None and not isinstance(flagged, bool):
            raise RecordError(f"{q}.flagged", f"must be true, false or null, got {flagged!r}")
        return _rating(c.get("rating"), f"{q}.rating"), bool(flagged)

    def alternative(self, j: int) -> dict[str, Any]:
        rating, flagged = self.rated(j)
        text = opt_str(
            self.options[j], "text", path=f"label.steps[{self.index}].completions[{j}].text"
        )
        alt: dict[str, Any] = {"step": self.index, "completion": j, "text": text, "rating": rating}
        if flagged:
            alt["flagged"] = True
        return alt


def _label_steps(steps: list[Any]) -> list[_LabelStep]:
    """The labelled steps up to the first all-null one (where a phase 1 labeler stopped)."""
    out: list[_LabelStep] = []
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
        out.append(_LabelStep(i, options, chosen, human))
    return out


@dataclass(slots=True)
class _Trajectory:
    steps: list[str]
    ratings: list[int | None]
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    chosen_null: list[int] = field(default_factory=list)
    human: list[int] = field(default_factory=list)
    flagged: list[int] = field(default_factory=list)
    source: str = "completions"


def _on_pre_generated(labelled: list[_LabelStep], pre: list[str]) -> _Trajectory | None:
    """Phase 2: the whole pre-generated solution, with the labeler's ratings on the steps
    they reached. None when the labels do not follow the solution (a chosen completion that
    is not the pre-generated step, a human step, more labelled steps than the solution has):
    then the trajectory is rebuilt from the completions instead."""
    traj = _Trajectory(steps=list(pre), ratings=[None] * len(pre), source="pre_generated")
    for step in labelled:
        i = step.index
        if i >= len(pre) or step.human is not None:
            return None
        target = _norm(pre[i])
        if step.chosen is not None:
            if _norm(step.options[step.chosen].get("text")) != target:
                return None
            match: int | None = step.chosen
        else:
            # The step where the labeler stopped: the rated completion is matched by text.
            match = next(
                (j for j, c in enumerate(step.options) if _norm(c.get("text")) == target), None
            )
            traj.chosen_null.append(i)
        for j in range(len(step.options)):
            if j == match:
                traj.ratings[i], flagged = step.rated(j)
                if flagged:
                    traj.flagged.append(i)
            else:
                traj.alternatives.append(step.alternative(j))
        if match is None and i != labelled[-1].index:
            return None
    return traj


def _rebuilt(labelled: list[_LabelStep]) -> _Trajectory:
    """Phase 1: the trajectory the labeler took, step by step, as the PRM800K README builds
    it: the chosen completion, else the labeler's own `human_completion`, else the only
    completion; a step with alternatives and none chosen ends it."""
    traj = _Trajectory(steps=[], ratings=[])
    for step in labelled:
        i = step.index
        chosen = step.chosen
        picked: tuple[str, int | None] | None = None
        if chosen is None:
            traj.chosen_null.append(i)
            if step.human is not None:
                picked = _human_step(step.human, f"label.steps[{i}].human_completion")
                traj.human.append(i)
            elif len(step.options) == 1:
                chosen = 0
        for j in range(len(step.options)):
            if j == chosen:
                q = f"label.steps[{i}].completions[{j}].text"
                rating, flagged = step.rated(j)
                picked = (req_str(step.options[j], "text", path=q), rating)
                if flagged:
                    traj.flagged.append(i)
            else:
                traj.alternatives.append(step.alternative(j))
        if picked is None:
            break
        traj.steps.append(picked[0])
        traj.ratings.append(picked[1])
    return traj


def _pre_generated(question: dict[str, Any]) -> list[str]:
    pre = question.get("pre_generated_steps")
    if pre is None:
        return []
    if not isinstance(pre, list):
        raise RecordError("question.pre_generated_steps", f"must be a list, got {type_name(pre)}")
    for i, text in enumerate(pre):
        if not isinstance(text, str) or not text.strip():
            raise RecordError(f"question.pre_generated_steps[{i}]", "must be a non-empty string")
    return pre


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
    pre = _pre_generated(question)
    labelled = _label_steps(raw_steps)
    traj = _on_pre_generated(labelled, pre) if pre and labelled else None
    if traj is None:
        traj = _rebuilt(labelled)
    steps, ratings = traj.steps, traj.ratings
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
    if traj.alternatives:
        metadata["alternatives"] = traj.alternatives
    # What an export needs to write the record back as it came (annotation.exporters.steps).
    metadata["prm800k"] = {
        "phase": 2 if pre else 1,
        "trajectory": traj.source,
        "labelled_steps": len(labelled),
        "chosen_null": traj.chosen_null,
        "human_completion": traj.human,
        "flagged": traj.flagged,
    }
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
