import csv
import io
from pathlib import Path

from annotation.importers import importer_get
from annotation.importers.base import ImportIssue, ParsedItem, ParsedTurnLabel
from annotation.models import Annotation, Item, Turn, TurnLabel
from annotation.services.imports import dataset_import
from tests.conftest import shared_file

SIMPLE_HEADER = [
    "transcript_id", "mi_quality", "video_title", "video_url", "topic", "utterance_id",
    "interlocutor", "timestamp", "utterance_text", "main_therapist_behaviour", "client_talk_type",
]  # fmt: skip
FULL_HEADER = [
    *SIMPLE_HEADER[:9], "annotator_id", "therapist_input_exists", "therapist_input_subtype",
    "reflection_exists", "reflection_subtype", "question_exists", "question_subtype",
    "main_therapist_behaviour", "client_talk_type",
]  # fmt: skip
VIDEO = ["high", "Brief intervention", "https://example.org/v", "smoking cessation "]


def _simple(tid, uid, who, text, behaviour="n/a", talk="n/a"):
    return [tid, *VIDEO, uid, who, "00:00:01", text, behaviour, talk]


def _full(tid, uid, who, text, annotator, behaviour="n/a", talk="n/a", **detail):
    cols = ["therapist_input_exists", "therapist_input_subtype", "reflection_exists",
            "reflection_subtype", "question_exists", "question_subtype"]  # fmt: skip
    return [tid, *VIDEO, uid, who, "00:00:01", text, annotator,
            *[detail.get(c, "n/a") for c in cols], behaviour, talk]  # fmt: skip


def _csv(header, rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _write(tmp_path: Path, header, rows) -> Path:
    path = tmp_path / "annomi.csv"
    path.write_bytes(_csv(header, rows))
    return path


def _parse(data: bytes):
    return list(importer_get("annomi").parse(io.BytesIO(data), options={}, max_line_bytes=10_000))


# Transcript 5 comes first in the file; utterances are out of order on purpose.
SIMPLE_ROWS = [
    _simple("5", "1", "client", "I smoke a pack a day.", talk="neutral"),
    _simple("5", "0", "therapist", "How much do you smoke?", behaviour="question"),
    _simple("5", "2", "therapist", "A pack a day.", behaviour="reflection"),
    _simple("2", "0", "therapist", "Hello.", behaviour="other"),
    _simple("2", "1", "client", "I want to quit.", talk="change"),
]

# Transcript 7 coded by annotators 0, 1 and 2 (one row per utterance and annotator), and
# transcript 8 by annotator 3 only.
FULL_ROWS = [
    _full("7", "0", "therapist", "What brings you here?", "0", "question", question_exists="1",
          question_subtype="open"),
    _full("7", "1", "client", "My doctor sent me.", "0", talk="neutral"),
    _full("7", "2", "therapist", "You were sent.", "0", "reflection", reflection_exists="1",
          reflection_subtype="simple"),
    _full("7", "0", "therapist", "What brings you here?", "1", "question",
          question_subtype="closed"),
    _full("7", "2", "therapist", "You were sent.", "1", "reflection",
          reflection_subtype="complex"),
    _full("7", "1", "client", "My doctor sent me.", "1", talk="sustain"),
    _full("8", "0", "therapist", "Hi.", "3", "other"),
    _full("7", "1", "client", "My doctor sent me.", "2", talk="neutral"),
    _full("7", "0", "therapist", "What brings you here?", "2", "therapist_input",
          therapist_input_exists="1", therapist_input_subtype="advice"),
    _full("7", "2", "therapist", "You were sent.", "2", "question"),
]  # fmt: skip


def test_parse_simple_groups_transcripts_and_orders_turns():
    events = _parse(_csv(SIMPLE_HEADER, SIMPLE_ROWS))
    assert all(isinstance(e, ParsedItem) for e in events)
    first, second = events
    assert [first.external_id, second.external_id] == ["annomi-5", "annomi-2"]
    assert first.group_key == "annomi-5"
    assert first.line == 2
    assert first.prompt == "smoking cessation"
    assert first.metadata == {
        "mi_quality": "high",
        "video_title": "Brief intervention",
        "video_url": "https://example.org/v",
        "topic": "smoking cessation",
    }
    assert first.turns == [
        ("therapist", "How much do you smoke?"),
        ("client", "I smoke a pack a day."),
        ("therapist", "A pack a day."),
    ]
    (ann,) = first.annotations
    assert ann.annotator == "annomi-simple"
    assert ann.turn_labels == [
        ParsedTurnLabel(0, "main_therapist_behaviour", "question"),
        ParsedTurnLabel(1, "client_talk_type", "neutral"),
        ParsedTurnLabel(2, "main_therapist_behaviour", "reflection"),
    ]


def test_parse_prompt_falls_back_to_video_title():
    row = _simple("1", "0", "therapist", "Hi.", behaviour="other")
    row[4] = "n/a"
    (item,) = _parse(_csv(SIMPLE_HEADER, [row]))
    assert item.prompt == "Brief intervention"
    assert item.metadata["topic"] == ""


def test_parse_reports_bad_codes_with_row_and_field():
    rows = [
        _simple("1", "0", "therapist", "Hi.", behaviour="reflexion"),
        _simple("1", "1", "client", "Hello.", talk="maybe"),
        _simple("1", "x", "client", "Hello."),
        _simple("1", "3", "patient", "Hello."),
        _simple("1", "4", "client", "Hello.", behaviour="question"),
        _simple("1", "5", "therapist", "Fine.", behaviour="other"),
    ]
    events = _parse(_csv(SIMPLE_HEADER, rows))
    issues = [e for e in events if isinstance(e, ImportIssue)]
    assert [(i.line, i.unit, i.field) for i in issues] == [
        (2, "row", "main_therapist_behaviour"),
        (3, "row", "client_talk_type"),
        (4, "row", "utterance_id"),
        (5, "row", "interlocutor"),
        (6, "row", "main_therapist_behaviour"),
    ]
    assert "reflexion" in issues[0].message
    assert "change, neutral, sustain" in issues[1].message
    assert "client turn" in issues[4].message


def test_parse_reports_missing_column():
    events = _parse(_csv(SIMPLE_HEADER[:-1], [r[:-1] for r in SIMPLE_ROWS]))
    assert len(events) == 1
    assert (events[0].line, events[0].field) == (1, "client_talk_type")


def test_parse_full_one_item_per_transcript_one_annotation_per_annotator():
    events = _parse(_csv(FULL_HEADER, FULL_ROWS))
    assert all(isinstance(e, ParsedItem) for e in events)
    item, other = events
    assert item.external_id == "annomi-7"
    assert [s for s, _ in item.turns] == ["therapist", "client", "therapist"]
    assert [a.annotator for a in item.annotations] == [
        "annomi-annotator-0",
        "annomi-annotator-1",
        "annomi-annotator-2",
    ]
    by_annotator = {a.annotator: a.turn_labels for a in item.annotations}
    assert by_annotator["annomi-annotator-0"] == [
        ParsedTurnLabel(0, "main_therapist_behaviour", "question"),
        ParsedTurnLabel(0, "question_exists", "1"),
        ParsedTurnLabel(0, "question_subtype", "open"),
        ParsedTurnLabel(1, "client_talk_type", "neutral"),
        ParsedTurnLabel(2, "main_therapist_behaviour", "reflection"),
        ParsedTurnLabel(2, "reflection_exists", "1"),
        ParsedTurnLabel(2, "reflection_subtype", "simple"),
    ]
    assert by_annotator["annomi-annotator-1"] == [
        ParsedTurnLabel(0, "main_therapist_behaviour", "question"),
        ParsedTurnLabel(0, "question_subtype", "closed"),
        ParsedTurnLabel(1, "client_talk_type", "sustain"),
        ParsedTurnLabel(2, "main_therapist_behaviour", "reflection"),
        ParsedTurnLabel(2, "reflection_subtype", "complex"),
    ]
    assert by_annotator["annomi-annotator-2"] == [
        ParsedTurnLabel(0, "main_therapist_behaviour", "therapist_input"),
        ParsedTurnLabel(0, "therapist_input_exists", "1"),
        ParsedTurnLabel(0, "therapist_input_subtype", "advice"),
        ParsedTurnLabel(1, "client_talk_type", "neutral"),
        ParsedTurnLabel(2, "main_therapist_behaviour", "question"),
    ]
    assert other.external_id == "annomi-8"
    assert [a.annotator for a in other.annotations] == ["annomi-annotator-3"]


def test_parse_full_reports_conflicting_duplicate_utterances():
    rows = [
        *FULL_ROWS[:3],
        _full("7", "1", "client", "My GP sent me.", "1", talk="neutral"),
        _full("7", "2", "client", "You were sent.", "1", talk="neutral"),
        _full("7", "0", "therapist", "What brings you here?", "1", "question",
              question_subtype="rhetorical"),
        _full("7", "1", "client", "My doctor sent me.", "0", talk="change"),
        _full("7", "0", "therapist", "What brings you here?", "n/a", "question"),
    ]  # fmt: skip
    events = _parse(_csv(FULL_HEADER, rows))
    issues = [e for e in events if isinstance(e, ImportIssue)]
    assert [(i.line, i.field) for i in issues] == [
        (5, "utterance_text"),
        (6, "interlocutor"),
        (7, "question_subtype"),
        (8, "client_talk_type"),
        (9, "annotator_id"),
    ]
    assert "row 3" in issues[0].message  # where the utterance was first seen
    assert "row 4" in issues[1].message
    assert "open, closed" in issues[2].message
    assert "row 3" in issues[3].message


def test_import_simple_writes_turns_and_labels(make_project, tmp_path):
    project = make_project("dialogue_coding")
    path = _write(tmp_path, SIMPLE_HEADER, SIMPLE_ROWS)
    with open(path, "rb") as fh:
        result = dataset_import(project=project, dataset_name="mi", fmt="annomi", stream=fh)
    assert result.ok, result.errors
    assert (result.items_created, result.turns_created, result.annotations_created) == (2, 5, 2)
    assert Item.objects.filter(project=project).count() == 2
    assert Turn.objects.filter(item__project=project).count() == 5
    labels = TurnLabel.objects.filter(annotation__item__project=project)
    assert labels.count() == 5
    first = Item.objects.get(project=project, external_id="annomi-5")
    assert first.group_key == "annomi-5"
    assert list(
        labels.filter(turn__item=first).order_by("turn__index").values_list("turn__index", "value")
    ) == [(0, "question"), (1, "neutral"), (2, "reflection")]
    with open(path, "rb") as fh:
        again = dataset_import(project=project, dataset_name="mi", fmt="annomi", stream=fh)
    assert again.ok, again.errors
    assert (again.items_unchanged, again.items_created) == (2, 0)


def test_import_full_three_annotators_one_item(make_project, tmp_path):
    project = make_project("dialogue_coding")
    path = _write(tmp_path, FULL_HEADER, FULL_ROWS[:6] + FULL_ROWS[7:])  # transcript 7 only
    with open(path, "rb") as fh:
        result = dataset_import(project=project, dataset_name="full", fmt="annomi", stream=fh)
    assert result.ok, result.errors
    assert Item.objects.filter(project=project).count() == 1
    assert Turn.objects.filter(item__project=project).count() == 3
    anns = Annotation.objects.filter(item__project=project)
    assert anns.count() == 3
    assert {a.source for a in anns} == {Annotation.Source.IMPORTED}
    per_annotator = {
        a.annotator.username: sorted(
            a.turn_labels.values_list("turn__index", "field", "value"),
        )
        for a in anns
    }
    assert {name: len(v) for name, v in per_annotator.items()} == {
        "annomi-annotator-0": 7,
        "annomi-annotator-1": 5,
        "annomi-annotator-2": 5,
    }
    assert (1, "client_talk_type", "sustain") in per_annotator["annomi-annotator-1"]
    assert (2, "reflection_subtype", "simple") in per_annotator["annomi-annotator-0"]
    assert TurnLabel.objects.filter(annotation__in=anns).count() == 17
    with open(path, "rb") as fh:
        again = dataset_import(project=project, dataset_name="full", fmt="annomi", stream=fh)
    assert (again.items_unchanged, again.items_created) == (1, 0)


def test_import_rejects_whole_file_on_bad_code(make_project):
    project = make_project("dialogue_coding")
    rows = [*SIMPLE_ROWS, _simple("9", "0", "therapist", "Hm.", behaviour="summary")]
    result = dataset_import(
        project=project,
        dataset_name="mi",
        fmt="annomi",
        stream=io.BytesIO(_csv(SIMPLE_HEADER, rows)),
    )
    assert not result.ok
    assert [(e.line, e.field) for e in result.errors] == [(7, "main_therapist_behaviour")]
    assert not Item.objects.filter(project=project).exists()


def test_real_annomi_simple(make_project):
    path = shared_file("annomi_simple.csv")
    with open(path, encoding="utf-8", newline="") as fh:
        raw = list(csv.DictReader(fh))
    expected_labels = sum(
        (r["main_therapist_behaviour"] != "n/a") + (r["client_talk_type"] != "n/a") for r in raw
    )
    project = make_project("dialogue_coding")
    with open(path, "rb") as fh:
        result = dataset_import(project=project, dataset_name="annomi", fmt="annomi", stream=fh)
    assert result.ok, result.errors
    assert Item.objects.filter(project=project).count() == 133
    assert Turn.objects.filter(item__project=project).count() == 9699
    anns = Annotation.objects.filter(item__project=project, annotator__username="annomi-simple")
    assert anns.count() == 133
    assert TurnLabel.objects.filter(annotation__in=anns).count() == expected_labels
    with open(path, "rb") as fh:
        again = dataset_import(project=project, dataset_name="annomi", fmt="annomi", stream=fh)
    assert (again.items_unchanged, again.items_created) == (133, 0)
