import hashlib
import io
import json
from pathlib import Path

import pytest

from annotation.importers import importer_get
from annotation.importers.base import ImportIssue, ParsedItem, ParsedPreference
from annotation.models import Annotation, Candidate, Item, PreferenceLabel, Turn
from annotation.services.imports import dataset_import

STANDARD = {"id": "s1", "prompt": "Sky colour?", "chosen": " Blue.", "rejected": " Green.",
            "margin": 2}  # fmt: skip
IMPLICIT = {"chosen": "Sky colour? Blue.", "rejected": "Sky colour? Green."}
CONVERSATIONAL = {
    "prompt": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Sky colour?"},
    ],
    "chosen": [{"role": "assistant", "content": "Blue."}],
    "rejected": [{"role": "assistant", "content": "Green."}],
    "source": "test",
}
CONVERSATIONAL_IMPLICIT = {
    "chosen": [
        {"role": "user", "content": "Sky colour?"},
        {"role": "assistant", "content": "Blue."},
    ],
    "rejected": [
        {"role": "user", "content": "Sky colour?"},
        {"role": "assistant", "content": "Green."},
    ],
}


def _jsonl(*records) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode()


def _parse(data: bytes, options=None):
    return list(
        importer_get("trl_preference").parse(
            io.BytesIO(data), options=options or {}, max_line_bytes=10_000
        )
    )


def _sha16(record) -> str:
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha1(canonical.encode(), usedforsecurity=False).hexdigest()[:16]


def test_parse_all_four_forms():
    events = _parse(_jsonl(STANDARD, IMPLICIT, CONVERSATIONAL, CONVERSATIONAL_IMPLICIT))
    assert all(isinstance(e, ParsedItem) for e in events)
    std, imp, conv, conv_imp = events
    assert (std.external_id, std.prompt, std.turns) == ("s1", "Sky colour?", [])
    assert [c.text for c in std.candidates] == [" Blue.", " Green."]
    (ann,) = std.annotations
    assert ann.annotator == "trl-import"
    assert ann.preferences == [ParsedPreference(a=0, b=1, strength=-1, margin=2.0)]
    assert std.metadata == {"trl_format": "standard", "implicit_prompt": False}

    assert imp.prompt == ""
    assert imp.external_id == _sha16(IMPLICIT)
    assert [c.text for c in imp.candidates] == ["Sky colour? Blue.", "Sky colour? Green."]
    assert imp.annotations[0].preferences[0].margin is None

    assert conv.prompt == "Sky colour?"  # the last user message
    assert conv.turns == [
        ("system", "Be brief."),
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", "Sky colour?"),
    ]
    assert [c.text for c in conv.candidates] == ["Blue.", "Green."]
    assert conv.candidates[0].metadata == {}
    assert conv.metadata == {
        "trl_format": "conversational",
        "implicit_prompt": False,
        "extra": {"source": "test"},
    }

    # the messages both conversations start with are the prompt
    assert conv_imp.turns == [("user", "Sky colour?")]
    assert conv_imp.prompt == "Sky colour?"
    assert [c.text for c in conv_imp.candidates] == ["Blue.", "Green."]
    assert conv_imp.metadata["implicit_prompt"] is True


def test_multi_message_completion_is_joined_and_kept():
    rec = dict(
        CONVERSATIONAL,
        chosen=[
            {"role": "assistant", "content": "Let me check."},
            {"role": "tool", "content": "blue"},
            {"role": "assistant", "content": "Blue."},
        ],
    )
    (item,) = _parse(_jsonl(rec))
    assert item.candidates[0].text == "Let me check.\n\nblue\n\nBlue."
    assert [m["role"] for m in item.candidates[0].metadata["messages"]] == [
        "assistant",
        "tool",
        "assistant",
    ]


def test_annotator_option():
    (item,) = _parse(_jsonl(STANDARD), {"annotator": "team-a"})
    assert item.annotations[0].annotator == "team-a"
    (issue,) = _parse(_jsonl(STANDARD), {"annotator": ""})
    assert (issue.line, issue.field) == (None, "annotator")


@pytest.mark.parametrize(
    ("record", "field", "words"),
    [
        (dict(CONVERSATIONAL, chosen=[{"role": "assistant", "content": 5}]), "chosen[0].content",
         "must be a string, got integer"),
        (dict(CONVERSATIONAL, rejected=[{"content": "x"}]), "rejected[0].role", "is required"),
        (dict(CONVERSATIONAL, rejected=["x"]), "rejected[0]", "must be an object"),
        (dict(CONVERSATIONAL, prompt=[{"role": "user", "content": None}]), "prompt[0].content",
         "is required"),
        (dict(CONVERSATIONAL, rejected="Green."), "rejected", "must be a list like chosen"),
        (dict(CONVERSATIONAL, prompt="Sky colour?"), "prompt", "must be a list of messages"),
        (dict(STANDARD, prompt=["Sky colour?"]), "prompt", "must be a string like chosen"),
        (dict(STANDARD, chosen={"text": "Blue"}), "chosen", "got object"),
        (dict(STANDARD, chosen="  "), "chosen", "has no content"),
        (dict(CONVERSATIONAL, chosen=[]), "chosen", "must not be an empty list"),
        ({"prompt": "Sky colour?", "rejected": "Green."}, "chosen", "is required"),
        ({"prompt": "Q", "completion": "A", "label": True}, "chosen", "KTO"),
        (dict(STANDARD, margin="2"), "margin", "must be a number, got string"),
        (dict(STANDARD, id=True), "id", "got boolean"),
        (dict(CONVERSATIONAL_IMPLICIT, rejected=CONVERSATIONAL_IMPLICIT["chosen"]), "chosen",
         "no message after"),
        ([1, 2], "record", "must be an object"),
    ],
)  # fmt: skip
def test_parse_reports_wrong_types_with_line_and_field(record, field, words):
    events = _parse(_jsonl(STANDARD, record))
    assert isinstance(events[0], ParsedItem)
    issue = events[1]
    assert isinstance(issue, ImportIssue)
    assert (issue.line, issue.field) == (2, field)
    assert words in issue.message


def test_parse_reports_invalid_json_line():
    events = _parse(_jsonl(STANDARD, "{not json", IMPLICIT))
    assert isinstance(events[1], ImportIssue)
    assert events[1].line == 2
    assert "invalid JSON" in events[1].message
    assert isinstance(events[2], ParsedItem)


def test_import_writes_pairs(make_project, tmp_path: Path):
    project = make_project("preference")
    path = tmp_path / "prefs.jsonl"
    path.write_bytes(_jsonl(STANDARD, IMPLICIT, CONVERSATIONAL))
    with open(path, "rb") as fh:
        result = dataset_import(
            project=project, dataset_name="trl", fmt="trl_preference", stream=fh,
            options={"annotator": "hh-rlhf"},
        )  # fmt: skip
    assert result.ok, result.errors
    assert (result.items_created, result.candidates_created, result.turns_created) == (3, 6, 4)
    assert Item.objects.filter(project=project).count() == 3
    assert Candidate.objects.filter(item__project=project).count() == 6
    assert Turn.objects.filter(item__project=project).count() == 4
    anns = Annotation.objects.filter(item__project=project)
    assert anns.count() == 3
    assert set(anns.values_list("annotator__username", flat=True)) == {"hh-rlhf"}
    prefs = PreferenceLabel.objects.filter(annotation__in=anns)
    assert prefs.count() == 3
    assert set(prefs.values_list("strength", flat=True)) == {-1}
    std = prefs.get(annotation__item__external_id="s1")
    assert (std.candidate_a.text, std.candidate_b.text, std.margin) == (" Blue.", " Green.", 2.0)
    # same prompt text -> same default group key
    keys = dict(Item.objects.filter(project=project).values_list("external_id", "group_key"))
    assert keys["s1"] == keys[_sha16(CONVERSATIONAL)]
    with open(path, "rb") as fh:
        again = dataset_import(
            project=project, dataset_name="trl", fmt="trl_preference", stream=fh,
            options={"annotator": "hh-rlhf"},
        )  # fmt: skip
    assert again.ok, again.errors
    assert (again.items_unchanged, again.items_created) == (3, 0)


def test_import_rejects_standard_pair_in_dialogue_project(make_project):
    project = make_project("dialogue_coding")
    result = dataset_import(
        project=project, dataset_name="trl", fmt="trl_preference", stream=io.BytesIO(b"")
    )
    assert not result.ok
    assert result.errors[0].field == "format"
