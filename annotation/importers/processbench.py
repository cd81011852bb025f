"""`processbench`: a JSON array of {id, generator, problem, steps[], final_answer_correct,
label}. The expert label (-1 or the first wrong step) becomes an annotation by the imported
annotator `processbench-experts`.

ProcessBench has no reference answers; the option `answers` (a GSM8K-style JSONL path:
{question, answer} with the answer after `####`) joins them on the problem text.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from annotation.importers.base import (
    Importer,
    ImportIssue,
    ParsedAnnotation,
    ParsedItem,
    ParseEvent,
    RecordError,
    gsm8k_final_answer,
    iter_jsonl,
    opt_bool,
    opt_str,
    read_json_document,
    req_int,
    req_object,
    req_str,
    req_str_list,
    type_name,
)

ANNOTATOR = "processbench-experts"


def _norm_question(text: str) -> str:
    return " ".join(text.split())


def load_gsm8k_answers(path: str | Path, *, max_line_bytes: int) -> dict[str, str] | ImportIssue:
    """Map normalised question text -> final answer from a GSM8K-style JSONL file."""
    answers: dict[str, str] = {}
    with open(path, "rb") as fh:
        for ev in iter_jsonl(fh, max_line_bytes=max_line_bytes):
            if isinstance(ev, ImportIssue):
                return ImportIssue(ev.line, f"answers file: {ev.field}".rstrip(": "), ev.message)
            line, obj = ev
            if (
                not isinstance(obj, dict)
                or not isinstance(obj.get("question"), str)
                or not isinstance(obj.get("answer"), str)
            ):
                return ImportIssue(
                    line, "answers file", "each line needs string question and answer"
                )
            answers[_norm_question(obj["question"])] = gsm8k_final_answer(obj["answer"])
    return answers


def parse_processbench_record(obj: Any, line: int | None, answers: dict[str, str]) -> ParsedItem:
    rec = req_object(obj, "record")
    steps = req_str_list(rec, "steps")
    label = req_int(rec, "label")
    if label < -1 or label >= len(steps):
        raise RecordError("label", f"must be -1 or a step index below {len(steps)}, got {label}")
    problem = req_str(rec, "problem")
    item = ParsedItem(
        line=line,
        external_id=req_str(rec, "id"),
        prompt=problem,
        generator_model=opt_str(rec, "generator"),
        final_answer_correct=opt_bool(rec, "final_answer_correct"),
        steps=steps,
        reference_answer=answers.get(_norm_question(problem), ""),
        metadata={"step_separator": "\n\n"},
    )
    ratings: list[int | None] = [
        1 if i < label or label == -1 else (-1 if i == label else None) for i in range(len(steps))
    ]
    item.annotations.append(
        ParsedAnnotation(
            annotator=ANNOTATOR,
            first_error_index=label,
            finish_reason="solution" if label == -1 else "found_error",
            step_ratings=ratings,
        )
    )
    return item


class ProcessBenchImporter(Importer):
    name = "processbench"
    label = "ProcessBench JSON"
    project_kinds = ("step_labels",)
    extensions = (".json",)
    options_help = {"answers": "path of a GSM8K-style JSONL file with the reference answers"}
    path_options = ("answers",)

    def parse(
        self, stream: BinaryIO, *, options: dict[str, Any], max_line_bytes: int
    ) -> Iterator[ParseEvent]:
        answers: dict[str, str] = {}
        if options.get("answers"):
            loaded = load_gsm8k_answers(options["answers"], max_line_bytes=max_line_bytes)
            if isinstance(loaded, ImportIssue):
                yield loaded
                return
            answers = loaded
        doc = read_json_document(stream, max_bytes=max_line_bytes * 10_000)
        if isinstance(doc, ImportIssue):
            yield doc
            return
        if not isinstance(doc, list):
            yield ImportIssue(None, "", f"expected a JSON array of records, got {type_name(doc)}")
            return
        # Records of a JSON array are numbered from 1 (record N), not by physical line.
        for n, obj in enumerate(doc, start=1):
            try:
                yield parse_processbench_record(obj, n, answers)
            except RecordError as exc:
                yield ImportIssue(n, exc.field, exc.message, "record")
