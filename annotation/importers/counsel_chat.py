"""`counsel_chat`: counsel-chat answers (CSV, one row per therapist answer).

Rows are grouped by question (answers to one question are not always adjacent). A
question with at least two answers becomes one preference item whose candidates are its
answers in file order; a question with one answer is skipped with the reason.

Upvotes are a weak, view-confounded signal, so they are imported only as a prior: an
annotation by `counsel-chat-upvotes` with one preference per pair of answers whose upvotes
differ by at least the option `min_upvote_margin` (default 1). Ties give no pair.

A question is (questionID, questionLink): in the published file 18 questionIDs are reused by
two different questions (different link, title and topic), and grouping by questionID alone
would put answers to different questions into one item (372 items instead of 386). A reused
id gets the link's last path segment in its external id: `counselchat-{id}-{slug}`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from annotation.importers.base import (
    Importer,
    ImportIssue,
    ParsedAnnotation,
    ParsedCandidate,
    ParsedItem,
    ParsedPreference,
    ParseEvent,
    RecordError,
    SkippedRecord,
    iter_csv,
)

ANNOTATOR = "counsel-chat-upvotes"
REQUIRED = (
    "questionID",
    "questionTitle",
    "questionText",
    "questionLink",
    "topic",
    "therapistInfo",
    "therapistURL",
    "answerText",
    "upvotes",
    "views",
    "split",
)


@dataclass(slots=True)
class _Question:
    row: int
    prompt: str
    metadata: dict[str, str]
    answers: list[tuple[int, ParsedCandidate]] = field(default_factory=list)


def _count(rec: dict[str, str], key: str) -> int:
    raw = rec[key].strip()
    try:
        value = int(raw)
    except ValueError:
        raise RecordError(key, f"must be a whole number, got {raw!r}") from None
    if value < 0:
        raise RecordError(key, f"must not be negative, got {value}")
    return value


def parse_counsel_chat_row(rec: dict[str, str]) -> tuple[str, ParsedCandidate]:
    """(questionID, the answer as a candidate); raises RecordError naming the column."""
    question_id = rec["questionID"].strip()
    if not question_id:
        raise RecordError("questionID", "must not be empty")
    text = rec["answerText"]
    if not text.strip():
        raise RecordError("answerText", "must not be empty")
    upvotes = _count(rec, "upvotes")
    views = _count(rec, "views")
    return question_id, ParsedCandidate(
        text=text,
        metadata={
            "therapist": rec["therapistInfo"].strip(),
            "therapist_url": rec["therapistURL"].strip(),
            "upvotes": upvotes,
            "views": views,
        },
    )


def upvote_preferences(upvotes: list[int], *, min_margin: int) -> list[ParsedPreference]:
    """One preference per pair i<j whose upvotes differ by at least `min_margin`.

    strength +1 when j has more upvotes, -1 when i has; margin = upvotes[j] - upvotes[i].
    """
    prefs = []
    for i, up_a in enumerate(upvotes):
        for j in range(i + 1, len(upvotes)):
            diff = upvotes[j] - up_a
            if diff != 0 and abs(diff) >= min_margin:
                prefs.append(ParsedPreference(i, j, 1 if diff > 0 else -1, float(diff)))
    return prefs


def _min_margin(options: dict[str, Any]) -> int | ImportIssue:
    value = options.get("min_upvote_margin", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return ImportIssue(
            None, "min_upvote_margin", f"must be a whole number of at least 1, got {value!r}"
        )
    return value


class CounselChatImporter(Importer):
    name = "counsel_chat"
    label = "counsel-chat CSV"
    project_kinds = ("preference",)
    extensions = (".csv",)
    options_help = {
        "min_upvote_margin": "the fewest extra upvotes that make one answer preferred (default 1)"
    }

    def parse(
        self, stream: BinaryIO, *, options: dict[str, Any], max_line_bytes: int
    ) -> Iterator[ParseEvent]:
        min_margin = _min_margin(options)
        if isinstance(min_margin, ImportIssue):
            yield min_margin
            return
        questions: dict[tuple[str, str], _Question] = {}
        for ev in iter_csv(stream, required=REQUIRED, max_line_bytes=max_line_bytes):
            if isinstance(ev, ImportIssue):
                yield ev
                continue
            row, rec = ev
            try:
                question_id, candidate = parse_counsel_chat_row(rec)
            except RecordError as exc:
                yield ImportIssue(row, exc.field, exc.message, "row")
                continue
            key = (question_id, rec["questionLink"].strip())
            question = questions.get(key)
            if question is None:
                parts = (rec["questionTitle"].strip(), rec["questionText"].strip())
                question = _Question(
                    row=row,
                    prompt="\n\n".join(p for p in parts if p),
                    metadata={
                        "topic": rec["topic"].strip(),
                        "questionLink": rec["questionLink"].strip(),
                        "split": rec["split"].strip(),
                    },
                )
                questions[key] = question
            question.answers.append((row, candidate))
        links_per_id: dict[str, int] = {}
        for question_id, _ in questions:
            links_per_id[question_id] = links_per_id.get(question_id, 0) + 1
        for (question_id, link), question in questions.items():
            external_id = f"counselchat-{question_id}"
            if links_per_id[question_id] > 1:
                external_id += "-" + (link.rstrip("/").rsplit("/", 1)[-1] or str(question.row))
            if len(question.answers) < 2:
                yield SkippedRecord(question.row, f"question {external_id} has only one answer")
                continue
            yield _item(external_id, question, min_margin)


def _item(external_id: str, question: _Question, min_margin: int) -> ParsedItem:
    candidates = [c for _, c in question.answers]
    item = ParsedItem(
        line=question.row,
        external_id=external_id,
        group_key=external_id,
        prompt=question.prompt,
        metadata=dict(question.metadata),
        candidates=candidates,
    )
    prefs = upvote_preferences([c.metadata["upvotes"] for c in candidates], min_margin=min_margin)
    if prefs:
        item.annotations.append(ParsedAnnotation(annotator=ANNOTATOR, preferences=prefs))
    return item
