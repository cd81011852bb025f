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
