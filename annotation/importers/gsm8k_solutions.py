"""`gsm8k_solutions`: openai/grade-school-math `example_model_solutions.jsonl`.

Each line is one GSM8K problem: `question`, `ground_truth` (the reference solution, answer
after `####` or on a last line `A: x`) and one object per model, keyed by model name
(`6b_finetuning`, `175b_verification`, ...), holding `{solution, is_correct}`.

Every model solution becomes one trace item. Its external id is `<question key>-<model key>`,
where the question key is the first 12 hex digits of the sha1 of the question text with its
whitespace normalised: unlike a line number it survives re-ordering or filtering the file, so
a re-import is a no-op. The question key is also the item's group key, so an export split
never puts two solutions of one problem on both sides. Steps are the solution's non-blank
lines, or what the `split` option (annotation.importers.split) cuts it into. The only label
is the outcome `is_correct` (`final_answer_correct`); there are no step annotations.

Any key other than `question` and `ground_truth` must be a model solution object.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from annotation.importers.base import (
    Importer,
    ImportIssue,
    ParsedItem,
    ParseEvent,
    RecordError,
    gsm8k_final_answer,
    opt_bool,
    parse_jsonl_records,
    req_object,
    req_str,
    type_name,
)
from annotation.importers.split import (
    SPLIT_OPTIONS_HELP,
    SplitOptionError,
    StepSplit,
    split_from_options,
    split_steps,
)

_FIELDS = ("question", "ground_truth")
LINES = StepSplit("lines")
# How the steps join back into the solution text, per split (the PRM methods use it).
_SEPARATORS = {"lines": "\n", "blank_lines": "\n\n", "sentences": " ", "step_markers": "\n"}


def question_key(question: str) -> str:
    """The stable key of a problem: sha1 of its whitespace-normalised text, 12 hex digits."""
    norm = " ".join(question.split())
    return hashlib.sha1(norm.encode(), usedforsecurity=False).hexdigest()[:12]


def parse_gsm8k_solutions_record(
    obj: Any, line: int | None, split: StepSplit = LINES
) -> list[ParseEvent]:
    """One problem line -> one item per model solution, in the order of the keys."""
    rec = req_object(obj, "record")
    question = req_str(rec, "question")
    reference = gsm8k_final_answer(req_str(rec, "ground_truth"))
    qkey = question_key(question)
    items: list[ParseEvent] = []
    for model, value in rec.items():
        if model in _FIELDS:
            continue
        if not isinstance(value, dict):
            raise RecordError(
                model, f"must be a model solution {{solution, is_correct}}, got {type_name(value)}"
            )
        solution = req_str(value, "solution", path=f"{model}.solution")
        items.append(
            ParsedItem(
                line=line,
                external_id=f"{qkey}-{model}",
                prompt=question,
                group_key=qkey,
                reference_answer=reference,
                final_answer=gsm8k_final_answer(solution),
                final_answer_correct=opt_bool(value, "is_correct", path=f"{model}.is_correct"),
                generator_model=model,
                metadata={"step_separator": _SEPARATORS.get(split.mode, "\n")},
                steps=split_steps(split, [solution], f"{model}.solution"),
            )
        )
    if not items:
        raise RecordError("record", "has no model solution (an object with solution, is_correct)")
    return items


class Gsm8kSolutionsImporter(Importer):
    name = "gsm8k_solutions"
    label = "GSM8K model solutions JSONL"
    project_kinds = ("step_labels",)
    extensions = (".jsonl",)

    options_help = SPLIT_OPTIONS_HELP
    split_default = "lines"

    def parse(
        self, stream: BinaryIO, *, options: dict[str, Any], max_line_bytes: int
    ) -> Iterator[ParseEvent]:
        try:
            split = split_from_options(options, default="lines")
        except SplitOptionError as exc:
            yield ImportIssue(None, exc.field, exc.message)
            return
        yield from parse_jsonl_records(
            stream,
            max_line_bytes=max_line_bytes,
            parse_record=lambda obj, line: parse_gsm8k_solutions_record(obj, line, split),
        )
