"""dataset_import: all or nothing, every problem named by line and field, idempotent."""

import io
import json

import pytest

from annotation.models import Annotation, Dataset, Item, Step, StepLabel
from annotation.services.imports import dataset_import


def _line(**kw) -> bytes:
    rec = {"external_id": "t1", "prompt": "What is 2+2?", "steps": ["2+2=4", "The answer is 4."]}
    rec.update(kw)
    return (json.dumps(rec) + "\n").encode()


def _run(project, data: bytes, fmt: str = "native", dataset: str = "ds"):
    return dataset_import(project=project, dataset_name=dataset, fmt=fmt, stream=io.BytesIO(data))


GOOD = _line(external_id="good-1") + _line(external_id="good-2")

BAD_CASES = [
    ("truncated JSON", GOOD + b'{"external_id": "t3", "steps": ["a",\n', 3, "", "invalid JSON"),
    ("wrong type", GOOD + _line(external_id="t3", prompt=["not", "text"]), 3, "prompt", "must be a string"),
    ("missing steps", GOOD + b'{"external_id": "t3", "prompt": "p"}\n', 3, "steps", "needs steps"),
    ("empty steps", GOOD + _line(external_id="t3", steps=[]), 3, "steps", "needs steps"),
    ("steps not a list", GOOD + _line(external_id="t3", steps="2+2=4"), 3, "steps", "must be a list"),
    ("empty step text", GOOD + _line(external_id="t3", steps=["ok", "  "]), 3, "steps[1]", "must not be empty"),
    ("non-UTF-8", GOOD + b'{"external_id": "t3", "prompt": "caf\xe9", "steps": ["a"]}\n', 3, "", "not valid UTF-8"),
    ("duplicate id in file", GOOD + _line(external_id="good-1"), 3, "external_id", "duplicate id 'good-1' (first used at line 1)"),
    ("unknown field", GOOD + _line(external_id="t3", colour="red"), 3, "colour", "not a field"),
    ("bad rating", GOOD + _line(external_id="t3", annotations=[{"annotator": "x", "step_ratings": [1, 2]}]), 3, "annotations[0].step_ratings[1]", "-1, 0, 1"),
    ("first error out of range", GOOD + _line(external_id="t3", annotations=[{"annotator": "x", "first_error_index": 5}]), 3, "annotations[0].first_error_index", "below 2"),
    ("not an object", GOOD + b"[1, 2, 3]\n", 3, "record", "must be an object"),
]  # fmt: skip


# Files that used to crash the import (RecursionError, psycopg.DataError on PostgreSQL,
# InvalidTextRepresentation, UnicodeEncodeError, a 500 of an over-long column) instead of
# being refused: (format, project kind, data, line, field, message, unit).
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_META = b'{"external_id": "t3", "steps": ["a"], "metadata": {"x": ' + DEEP + b"}}\n"
PB_GOOD = {"id": "pb-1", "generator": "m", "problem": "p", "steps": ["a", "b"], "label": -1}


def _pb(*records: dict | bytes) -> bytes:
    parts = [r if isinstance(r, bytes) else json.dumps(r).encode() for r in records]
    return b"[\n" + b",\n".join(parts) + b"\n]"


CC_HEADER = (
    b",questionID,questionTitle,questionText,questionLink,topic,therapistInfo,therapistURL,"
    b"answerText,upvotes,views,split\n"
)


def _cc(n: int, answer: bytes = b"Breathe.", upvotes: bytes = b"1") -> bytes:
    return b",".join([str(n).encode(), b"10", b"Q", b"What now?", b"https://x/q", b"anxiety",
                      b"T", b"https://x/t", answer, upvotes, b"3", b"train"]) + b"\n"  # fmt: skip


CRASH_CASES = [
    # JSONL (native)
    ("jsonl nested 100,000 deep", "native", "step_labels", GOOD + DEEP_META, 3, "metadata.x[0][0]…", "nested more than 64 levels", "line"),
    ("jsonl whole line nested", "native", "step_labels", GOOD + DEEP + b"\n", 3, "[0][0][0][0]…", "nested more than 64 levels", "line"),
    ("jsonl nested 70 deep", "native", "step_labels", GOOD + _line(external_id="t3", metadata={"x": json.loads("[" * 70 + "]" * 70)}), 3, "metadata.x[0][0]…", "nested more than 64", "line"),
    ("jsonl NUL in prompt", "native", "step_labels", GOOD + _line(external_id="t3", prompt="a\u0000b"), 3, "prompt", "NUL character", "line"),
    ("jsonl NUL in a step", "native", "step_labels", GOOD + _line(external_id="t3", steps=["ok", "x\u0000"]), 3, "steps[1]", "NUL character", "line"),
    ("jsonl NUL in a metadata key", "native", "step_labels", GOOD + _line(external_id="t3", metadata={"k\u0000": 1}), 3, "metadata.k\x00", "NUL character", "line"),
    ("jsonl NaN in metadata", "native", "step_labels", GOOD + b'{"external_id": "t3", "steps": ["a"], "metadata": {"score": NaN}}\n', 3, "metadata.score", "NaN/Infinity", "line"),
    ("jsonl Infinity in metadata", "native", "step_labels", GOOD + b'{"external_id": "t3", "steps": ["a"], "metadata": {"s": [1, -Infinity]}}\n', 3, "metadata.s[1]", "NaN/Infinity", "line"),
    ("jsonl 1e999 in metadata", "native", "step_labels", GOOD + b'{"external_id": "t3", "steps": ["a"], "metadata": {"s": 1e999}}\n', 3, "metadata.s", "NaN/Infinity", "line"),
    ("jsonl lone surrogate", "native", "step_labels", GOOD + b'{"external_id": "t3", "steps": ["a\\ud800"]}\n', 3, "steps[0]", "lone surrogate", "line"),
    ("jsonl 5000-digit integer", "native", "step_labels", GOOD + b'{"external_id": "t3", "steps": ["a"], "metadata": {"n": ' + b"9" * 5000 + b"}}\n", 3, "", "invalid JSON number", "line"),
    ("jsonl id over 255 chars", "native", "step_labels", GOOD + _line(external_id="x" * 256), 3, "external_id", "longer than the limit of 255", "line"),
    ("jsonl model name over 200", "native", "step_labels", GOOD + _line(external_id="t3", generator_model="m" * 201), 3, "generator_model", "limit of 200", "line"),
    ("jsonl annotator over 150", "native", "step_labels", GOOD + _line(external_id="t3", annotations=[{"annotator": "a" * 151}]), 3, "annotations[0].annotator", "limit of 150", "line"),
    ("jsonl principle value overflow", "native", "preference", _line(external_id="p1", steps=None, candidates=[{"text": "a"}, {"text": "b"}], annotations=[{"annotator": "x", "principle_ratings": [{"principle": "h", "value": 10**9}]}]), 1, "annotations[0].principle_ratings[0].value", "between -32768 and 32767", "line"),
    ("jsonl NaN margin", "trl_preference", "preference", b'{"prompt": "p", "chosen": "a", "rejected": "b", "margin": NaN}\n', 1, "margin", "NaN/Infinity", "line"),
    ("jsonl NUL in trl extra", "trl_preference", "preference", b'{"prompt": "p", "chosen": "a", "rejected": "b", "note": "x\\u0000"}\n', 1, "note", "NUL character", "line"),
    ("jsonl empty file", "native", "step_labels", b"", None, "file", "the file is empty", "line"),
    ("jsonl blank lines", "native", "step_labels", b"\n \n\r\n\t\n", None, "file", "the file is empty", "line"),
    ("jsonl BOM only", "native", "step_labels", b"\xef\xbb\xbf\n", None, "file", "the file is empty", "line"),
    # JSON array (processbench): record numbers
    ("json nested 100,000 deep", "processbench", "step_labels", _pb(PB_GOOD, b'{"id": "pb-2", "steps": ' + DEEP + b"}"), 2, "steps[0][0]…", "nested more than 64", "record"),
    ("json NUL in problem", "processbench", "step_labels", _pb(PB_GOOD, dict(PB_GOOD, id="pb-2", problem="a\u0000b")), 2, "problem", "NUL character", "record"),
    ("json NaN label", "processbench", "step_labels", _pb(PB_GOOD, b'{"id": "pb-2", "problem": "p", "steps": ["a"], "label": NaN}'), 2, "label", "NaN/Infinity", "record"),
    ("json Infinity", "processbench", "step_labels", _pb(PB_GOOD, b'{"id": "pb-2", "problem": "p", "steps": ["a"], "label": Infinity}'), 2, "label", "NaN/Infinity", "record"),
    ("json empty file", "processbench", "step_labels", b"", None, "file", "the file is empty", "line"),
    ("json blank lines", "processbench", "step_labels", b"\n\n  \n", None, "file", "the file is empty", "line"),
    ("json empty array", "processbench", "step_labels", b"[]\n", None, "file", "the file is empty", "line"),
    # CSV (counsel_chat): row numbers, the column as the field
    ("csv NUL in a cell", "counsel_chat", "preference", CC_HEADER + _cc(0) + _cc(1, answer=b"Bre\x00athe"), 3, "answerText", "NUL character", "row"),
    ("csv NaN upvotes", "counsel_chat", "preference", CC_HEADER + _cc(0) + _cc(1, upvotes=b"NaN"), 3, "upvotes", "must be", "row"),
    ("csv empty file", "counsel_chat", "preference", b"", None, "file", "the file is empty", "row"),
    ("csv blank lines", "counsel_chat", "preference", b"\n\n\n", None, "file", "the file is empty", "row"),
    ("csv header only", "counsel_chat", "preference", CC_HEADER, None, "file", "the file is empty", "line"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fmt", "kind", "data", "line", "field", "message", "unit"),
    [case[1:] for case in CRASH_CASES],
    ids=[case[0] for case in CRASH_CASES],
)
def test_files_that_crashed_are_rejected_with_line_and_field(
    make_project, fmt, kind, data, line, field, message, unit
):
    project = make_project(kind)
    result = _run(project, data, fmt=fmt)
    assert not result.ok
    issue = result.errors[0]
    assert (issue.line, issue.field, issue.unit) == (line, field, unit), issue
    assert message in issue.message
    assert "nothing was written" in result.message
    assert not Dataset.objects.filter(project=project).exists()
    assert not Item.objects.exists()


@pytest.mark.parametrize(
    ("data", "line", "field", "message"),
    [case[1:] for case in BAD_CASES],
    ids=[case[0] for case in BAD_CASES],
)
def test_bad_input_is_rejected_whole_with_line_and_field(make_project, data, line, field, message):
    project = make_project("step_labels")
    result = _run(project, data)
    assert not result.ok
    assert result.error_count == 1
    issue = result.errors[0]
    assert (issue.line, issue.field) == (line, field)
    assert message in issue.message
    assert "nothing was written" in result.message
    # nothing is half-written: not even the dataset row or the good lines
    assert not Dataset.objects.filter(project=project).exists()
    assert not Item.objects.exists()
    assert not Step.objects.exists()


def test_line_over_size_limit(make_project, settings):
    settings.STEPWISE_IMPORT_MAX_LINE_BYTES = 200
    project = make_project("step_labels")
    long_line = _line(external_id="big", steps=["x" * 500])
    result = _run(project, GOOD + long_line + _line(external_id="after"))
    assert not result.ok
    assert [(e.line, e.message) for e in result.errors] == [
        (3, "line is longer than the limit of 200 bytes")
    ]
    assert result.records_seen == 3  # reading went on after the long line
    assert not Item.objects.exists()


def test_every_problem_is_listed_up_to_the_limit(make_project, settings):
    settings.STEPWISE_IMPORT_ERROR_LIMIT = 100
    project = make_project("step_labels")
    data = b"".join(_line(external_id=f"t{i}", steps="oops") for i in range(150))
    result = _run(project, data)
    assert result.error_count == 150
    assert len(result.errors) == 100
    assert [e.line for e in result.errors[:3]] == [1, 2, 3]
    assert "showing the first 100, 50 more" in result.message


def test_unknown_format(make_project):
    result = _run(make_project("step_labels"), GOOD, fmt="yaml")
    assert not result.ok
    assert result.errors[0].field == "format"
    assert "unknown format 'yaml'" in result.errors[0].message
    assert "processbench" in result.errors[0].message


def test_format_of_another_project_kind(make_project):
    result = _run(make_project("dialogue_coding"), GOOD, fmt="processbench")
    assert not result.ok
    assert "dialogue_coding project" in result.errors[0].message


def test_kind_mismatch_in_native_record(make_project):
    project = make_project("preference")
    data = _line(external_id="p1", candidates=[{"text": "only one"}], steps=None)
    result = _run(project, data)
    assert not result.ok
    assert (result.errors[0].field, result.errors[0].message) == (
        "candidates",
        "a preference item needs at least two candidates",
    )


def test_csv_with_missing_columns(make_project):
    project = make_project("dialogue_coding")
    data = b"transcript_id,utterance_id,interlocutor\n0,0,therapist\n"
    result = _run(project, data, fmt="annomi")
    assert not result.ok
    issue = result.errors[0]
    assert issue.line == 1
    assert issue.unit == "row"
    assert "utterance_text" in issue.field


def test_reimport_is_a_noop_that_says_so(make_project):
    project = make_project("step_labels")
    first = _run(project, GOOD)
    assert first.ok
    assert first.items_created == 2
    again = _run(project, GOOD)
    assert again.ok
    assert (again.items_created, again.items_unchanged) == (0, 2)
    assert again.message.startswith("Nothing to do: all 2 items are already in this dataset")
    assert Item.objects.count() == 2
    # one new record among known ones: only it is written
    more = _run(project, GOOD + _line(external_id="good-3"))
    assert (more.items_created, more.items_unchanged) == (1, 2)
    assert Item.objects.count() == 3


def test_same_id_different_content_against_dataset(make_project):
    project = make_project("step_labels")
    assert _run(project, GOOD).ok
    changed = _line(external_id="good-1", steps=["2+2=5"])
    result = _run(project, changed + _line(external_id="new"))
    assert not result.ok
    assert result.errors[0].field == "external_id"
    assert "already exists in dataset 'ds' with different content" in result.errors[0].message
    assert Item.objects.count() == 2  # the new record was not written either


def test_rows_and_imported_annotations_are_written(make_project):
    project = make_project("step_labels")
    data = _line(
        external_id="a1",
        steps=["s0", "s1", "s2"],
        annotations=[
            {"annotator": "experts", "first_error_index": 1, "step_ratings": [1, -1, None]},
            {"annotator": "second-source", "step_ratings": [1, 1, 0], "finish_reason": "solution"},
        ],
    )
    result = _run(project, data)
    assert result.ok, result.errors
    item = Item.objects.get()
    assert list(item.steps.values_list("index", "text")) == [(0, "s0"), (1, "s1"), (2, "s2")]
    assert item.group_key.startswith("p-")  # derived from the problem text
    anns = Annotation.objects.filter(item=item).order_by("annotator__username")
    assert [(a.annotator.username, a.annotator.kind, a.source) for a in anns] == [
        ("experts", "imported", "imported"),
        ("second-source", "imported", "imported"),
    ]
    ratings = list(
        StepLabel.objects.filter(annotation__annotator__username="experts")
        .order_by("step__index")
        .values_list("rating", flat=True)
    )
    assert ratings == [1, -1, None]
    assert anns[0].first_error_index == 1


def test_batches_span_many_items(make_project, settings):
    settings.STEPWISE_IMPORT_BATCH_SIZE = 7
    project = make_project("step_labels")
    data = b"".join(
        _line(external_id=f"t{i}", steps=[f"step {i}a", f"step {i}b"]) for i in range(50)
    )
    result = _run(project, data)
    assert result.ok
    assert Item.objects.count() == 50
    assert Step.objects.count() == 100
    assert len(set(Item.objects.values_list("id", flat=True))) == 50
    # a later ORM insert still gets a fresh id (the sequence / max id advanced)
    extra = _run(project, _line(external_id="later"), dataset="other")
    assert extra.ok
    assert Item.objects.count() == 51
