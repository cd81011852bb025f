"""`annomi`: AnnoMI motivational-interviewing transcripts (CSV, simple or full version).

One row is one utterance; one transcript becomes one dialogue item whose turns are ordered
by `utterance_id` (the file's row order carries no meaning). The expert codes become turn
labels of an imported annotation:

- simple version: one annotation by `annomi-simple`;
- full version (the header has `annotator_id`): one annotation per annotator, credited to
  `annomi-annotator-<id>`, with the detail columns (`reflection_subtype`, ...) as extra
  fields. An utterance coded by several annotators appears once per annotator; its turn is
  stored once, and rows that disagree on the utterance's text or speaker are a problem.

The literal `n/a` (and an empty cell) means "no value". Rows are grouped per transcript in
memory (AnnoMI has about 10k-14k rows), and items come out in order of first appearance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from annotation.importers.base import (
    Importer,
    ImportIssue,
    ParsedAnnotation,
    ParsedItem,
    ParsedTurnLabel,
    ParseEvent,
    RecordError,
    iter_csv,
)

SIMPLE_ANNOTATOR = "annomi-simple"
SPEAKERS = ("therapist", "client")
THERAPIST_BEHAVIOURS = ("reflection", "question", "therapist_input", "other")
CLIENT_TALK_TYPES = ("change", "neutral", "sustain")
# Detail columns of the full version; None = any value (the *_exists flags).
DETAIL_CODES: dict[str, tuple[str, ...] | None] = {
    "therapist_input_exists": None,
    "therapist_input_subtype": ("information", "advice", "negotiation", "options"),
    "reflection_exists": None,
    "reflection_subtype": ("simple", "complex"),
    "question_exists": None,
    "question_subtype": ("open", "closed"),
}
# Turn labels of one turn are listed in this order, so the content hash is stable.
FIELD_ORDER = ("main_therapist_behaviour", "client_talk_type", *DETAIL_CODES)
REQUIRED = (
    "transcript_id",
    "mi_quality",
    "video_title",
    "video_url",
    "topic",
    "utterance_id",
    "interlocutor",
    "timestamp",
    "utterance_text",
    "main_therapist_behaviour",
    "client_talk_type",
)
NO_VALUE = "n/a"
# TurnLabel.value is a CharField(max_length=64).
MAX_VALUE_LENGTH = 64


def _value(rec: dict[str, str], key: str) -> str:
    """The stripped cell, or '' for an empty cell or the literal n/a."""
    value = rec.get(key, "").strip()
    return "" if value == NO_VALUE else value


def _code(rec: dict[str, str], key: str, allowed: tuple[str, ...] | None) -> str:
    value = _value(rec, key)
    if value and allowed is not None and value not in allowed:
        raise RecordError(key, f"must be one of {', '.join(allowed)} or n/a, got {value!r}")
    if len(value) > MAX_VALUE_LENGTH:
        raise RecordError(key, f"is longer than {MAX_VALUE_LENGTH} characters")
    return value


@dataclass(slots=True)
class _Utterance:
    speaker: str
    text: str
    row: int


@dataclass(slots=True)
class _Transcript:
    row: int
    metadata: dict[str, str]
    utterances: dict[int, _Utterance] = field(default_factory=dict)
    # annotator -> (utterance_id, field) -> (value, row)
    labels: dict[str, dict[tuple[int, str], tuple[str, int]]] = field(default_factory=dict)


@dataclass(slots=True)
class _Row:
    transcript_id: str
    utterance_id: int
    speaker: str
    text: str
    annotator: str
    codes: dict[str, str]


def parse_annomi_row(rec: dict[str, str]) -> _Row:
    """Validate one CSV row; raises RecordError naming the column."""
    transcript_id = _value(rec, "transcript_id")
    if not transcript_id:
        raise RecordError("transcript_id", "must not be empty")
    raw_uid = rec["utterance_id"].strip()
    try:
        utterance_id = int(raw_uid)
    except ValueError:
        raise RecordError("utterance_id", f"must be an integer, got {raw_uid!r}") from None
    speaker = rec["interlocutor"].strip()
    if speaker not in SPEAKERS:
        raise RecordError("interlocutor", f"must be therapist or client, got {speaker!r}")
    text = rec["utterance_text"]
    if not text.strip():
        raise RecordError("utterance_text", "must not be empty")
    behaviour = _code(rec, "main_therapist_behaviour", THERAPIST_BEHAVIOURS)
    talk_type = _code(rec, "client_talk_type", CLIENT_TALK_TYPES)
    if behaviour and speaker == "client":
        raise RecordError("main_therapist_behaviour", "must be n/a on a client turn")
    if talk_type and speaker == "therapist":
        raise RecordError("client_talk_type", "must be n/a on a therapist turn")
    codes = {"main_therapist_behaviour": behaviour, "client_talk_type": talk_type}
    if "annotator_id" in rec:
        annotator_id = _value(rec, "annotator_id")
        if not annotator_id:
            raise RecordError("annotator_id", "must not be empty")
        annotator = f"annomi-annotator-{annotator_id}"
        for column, allowed in DETAIL_CODES.items():
            if column in rec:
                codes[column] = _code(rec, column, allowed)
    else:
        annotator = SIMPLE_ANNOTATOR
    return _Row(
        transcript_id=transcript_id,
        utterance_id=utterance_id,
        speaker=speaker,
        text=text,
        annotator=annotator,
        codes={k: v for k, v in codes.items() if v},
    )


def _add_row(transcripts: dict[str, _Transcript], row: int, rec: dict[str, str]) -> None:
    """Fold one row into its transcript; checks everything before changing anything."""
    parsed = parse_annomi_row(rec)
    uid = parsed.utterance_id
    where = f"utterance {uid} of transcript {parsed.transcript_id}"
    transcript = transcripts.get(parsed.transcript_id)
    if transcript is not None:
        seen = transcript.utterances.get(uid)
        if seen is not None:
            if seen.speaker != parsed.speaker:
                raise RecordError(
                    "interlocutor",
                    f"{parsed.speaker!r} differs from {seen.speaker!r} at row {seen.row} for "
                    f"{where}",
                )
            if seen.text != parsed.text:
                raise RecordError("utterance_text", f"differs from row {seen.row} for {where}")
        coded = transcript.labels.get(parsed.annotator, {})
        for name, value in parsed.codes.items():
            earlier = coded.get((uid, name))
            if earlier is not None and earlier[0] != value:
                raise RecordError(
                    name,
                    f"{parsed.annotator} coded {where} as {earlier[0]!r} at row {earlier[1]}, "
                    f"here {value!r}",
                )
    else:
        transcript = _Transcript(
            row=row,
            metadata={
                "mi_quality": _value(rec, "mi_quality"),
                "video_title": _value(rec, "video_title"),
                "video_url": _value(rec, "video_url"),
                "topic": _value(rec, "topic"),
            },
        )
        transcripts[parsed.transcript_id] = transcript
    transcript.utterances.setdefault(uid, _Utterance(parsed.speaker, parsed.text, row))
    coded = transcript.labels.setdefault(parsed.annotator, {})
    for name, value in parsed.codes.items():
        coded.setdefault((uid, name), (value, row))


def _item(transcript_id: str, transcript: _Transcript) -> ParsedItem:
    order = sorted(transcript.utterances)
    turn_of = {uid: index for index, uid in enumerate(order)}
    external_id = f"annomi-{transcript_id}"
    meta = transcript.metadata
    item = ParsedItem(
        line=transcript.row,
        external_id=external_id,
        group_key=external_id,
        prompt=meta["topic"] or meta["video_title"],
        metadata=dict(meta),
        turns=[(transcript.utterances[u].speaker, transcript.utterances[u].text) for u in order],
    )
    rank = {name: i for i, name in enumerate(FIELD_ORDER)}
    for annotator, coded in transcript.labels.items():
        if not coded:
            continue  # the annotator's rows were all n/a: nothing to credit
        keys = sorted(coded, key=lambda k: (turn_of[k[0]], rank[k[1]]))
        item.annotations.append(
            ParsedAnnotation(
                annotator=annotator,
                turn_labels=[
                    ParsedTurnLabel(turn_of[u], name, coded[u, name][0]) for u, name in keys
                ],
            )
        )
    return item


class AnnoMIImporter(Importer):
    name = "annomi"
    label = "AnnoMI CSV (simple or full)"
    project_kinds = ("dialogue_coding",)
    extensions = (".csv",)

    def parse(
        self, stream: BinaryIO, *, options: dict[str, Any], max_line_bytes: int
    ) -> Iterator[ParseEvent]:
        transcripts: dict[str, _Transcript] = {}
        for ev in iter_csv(stream, required=REQUIRED, max_line_bytes=max_line_bytes):
            if isinstance(ev, ImportIssue):
                yield ev
                continue
            row, rec = ev
            try:
                _add_row(transcripts, row, rec)
            except RecordError as exc:
                yield ImportIssue(row, exc.field, exc.message, "row")
        for transcript_id, transcript in transcripts.items():
            yield _item(transcript_id, transcript)
