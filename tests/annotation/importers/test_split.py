"""`split`: reasoning that arrives as one block of text, cut into steps at import."""

from __future__ import annotations

import io
import json
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from annotation.importers import importer_get
from annotation.importers.base import ImportIssue, ParsedItem
from annotation.importers.split import (
    SplitOptionError,
    SplitTimeoutError,
    StepSplit,
    split_from_options,
)
from annotation.models import Dataset, ImportRun, Item
from annotation.services.imports import dataset_import

COT = (
    "We need the total cost. Each pen costs $1.50, so 4 pens cost $6.\n"
    "\n"
    "Step 1: add the notebook: 6 + 3.25 = 9.25.\n"
    "Step 2: the answer is 9.25!\n"
    "\n"
    "1. Check: 9.25 - 3.25 = 6.\n"
    "2) And 6 / 4 = 1.5,\n"
    "   as given.\n"
    "- Done."
)

EXPECTED = {
    "none": [COT],
    "lines": [
        "We need the total cost. Each pen costs $1.50, so 4 pens cost $6.",
        "Step 1: add the notebook: 6 + 3.25 = 9.25.",
        "Step 2: the answer is 9.25!",
        "1. Check: 9.25 - 3.25 = 6.",
        "2) And 6 / 4 = 1.5,",
        "   as given.",
        "- Done.",
    ],
    "blank_lines": [
        "We need the total cost. Each pen costs $1.50, so 4 pens cost $6.",
        "Step 1: add the notebook: 6 + 3.25 = 9.25.\nStep 2: the answer is 9.25!",
        "1. Check: 9.25 - 3.25 = 6.\n2) And 6 / 4 = 1.5,\n   as given.\n- Done.",
    ],
    "numbered": [
        "We need the total cost. Each pen costs $1.50, so 4 pens cost $6.\n\n"
        "Step 1: add the notebook: 6 + 3.25 = 9.25.\nStep 2: the answer is 9.25!",
        "1. Check: 9.25 - 3.25 = 6.",
        "2) And 6 / 4 = 1.5,\n   as given.",
        "- Done.",
    ],
    "step_markers": [
        "We need the total cost. Each pen costs $1.50, so 4 pens cost $6.",
        "Step 1: add the notebook: 6 + 3.25 = 9.25.",
        "Step 2: the answer is 9.25!\n\n1. Check: 9.25 - 3.25 = 6.\n2) And 6 / 4 = 1.5,\n"
        "   as given.\n- Done.",
    ],
    "sentences": [
        "We need the total cost.",
        "Each pen costs $1.50, so 4 pens cost $6.",
        "Step 1: add the notebook: 6 + 3.25 = 9.25.",
        "Step 2: the answer is 9.25!",
        "1. Check: 9.25 - 3.25 = 6.",
        "2) And 6 / 4 = 1.5,\n   as given.",
        "- Done.",
    ],
}


@pytest.mark.parametrize("mode", list(EXPECTED))
def test_segmenters(mode):
    assert StepSplit(mode).split(COT) == EXPECTED[mode]


def test_custom_pattern_drops_the_separator_and_its_groups():
    split = split_from_options(
        {"split": "regex", "split_pattern": r"\s*(;|\bthen\b)\s*"}, default="none"
    )
    assert split.split("a = 1; then b = 2 ;c = 3") == ["a = 1", "b = 2", "c = 3"]
    before = split_from_options({"split": "regex", "split_pattern": r"(?=Step \d)"}, default="none")
    assert before.split("Intro Step 1 x Step 2 y") == ["Intro", "Step 1 x", "Step 2 y"]


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"split": "words"}, "split", "must be one of none, lines, blank_lines"),
        ({"split": 3}, "split", "must be one of"),
        ({"split": "regex"}, "split_pattern", "is required"),
        ({"split": "regex", "split_pattern": "(?<=a+)b"}, None, None),  # variable lookbehind: fine in `regex`
        ({"split": "regex", "split_pattern": "[a-"}, "split_pattern", "not a valid regular expression"),
        ({"split": "regex", "split_pattern": "x" * 201}, "split_pattern", "limit of 200"),
        ({"split": "regex", "split_pattern": ["a"]}, "split_pattern", "is required"),
        ({"split": "sentences", "split_pattern": "a"}, "split_pattern", "only used with split 'regex'"),
    ],
)  # fmt: skip
def test_bad_options_name_the_field(options, field, message):
    if field is None:
        split_from_options(options, default="none")
        return
    with pytest.raises(SplitOptionError) as info:
        split_from_options(options, default="none")
    assert info.value.field == field
    assert message in info.value.message


def test_catastrophic_pattern_times_out():
    split = split_from_options({"split": "regex", "split_pattern": r"(a|aa)+$"}, default="none")
    with pytest.raises(SplitTimeoutError, match="took longer than"):
        split.split("a" * 40 + "!")


def _parse(fmt: str, data: bytes, options: dict) -> list:
    stream = io.BytesIO(data)
    return list(importer_get(fmt).parse(stream, options=options, max_line_bytes=100_000))


def _jsonl(*records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def test_native_steps_as_one_string_or_a_list_are_cut():
    data = _jsonl(
        {"external_id": "a", "prompt": "p", "steps": COT},
        {"external_id": "b", "prompt": "p", "steps": ["x. Y.", "Z."]},
    )
    a, b = _parse("native", data, {"split": "sentences"})
    assert a.steps == EXPECTED["sentences"]
    assert b.steps == ["x.", "Y.", "Z."]


def test_native_item_without_steps_after_the_split_is_a_line_field_error():
    data = _jsonl(
        {"external_id": "a", "steps": "1. one\n2. two"},
        {"external_id": "b", "steps": "  \n\n "},
        {"external_id": "c", "steps": ["", " "]},
    )
    events = _parse("native", data, {"split": "numbered"})
    assert isinstance(events[0], ParsedItem)
    assert events[0].steps == ["1. one", "2. two"]
    assert [(e.line, e.field, e.message) for e in events[1:]] == [
        (2, "steps", "splits into no steps (split: numbered or bulleted lines)"),
        (3, "steps", "splits into no steps (split: numbered or bulleted lines)"),
    ]


def test_native_string_steps_without_a_split_say_how_to_import_them():
    (issue,) = _parse("native", _jsonl({"external_id": "a", "steps": COT}), {})
    assert (issue.line, issue.field) == (1, "steps")
    assert "import with a split option" in issue.message


def test_timeout_is_reported_once_and_stops_the_file():
    lines = [{"external_id": f"t{i}", "steps": "a" * 40 + "!"} for i in range(50)]
    options = {"split": "regex", "split_pattern": r"(a|aa)+$"}
    events = _parse("native", _jsonl(*lines), options)
    assert len(events) == 1  # not 50 timeouts in a row
    (issue,) = events
    assert isinstance(issue, ImportIssue)
    assert (issue.line, issue.field) == (1, "split_pattern")


def test_gsm8k_solutions_split_and_default():
    rec = {
        "question": "Q?",
        "ground_truth": "x\n#### 5",
        "6b_finetuning": {
            "solution": "First 2+3=5.\nSo 5.\n\nThe answer is 5.",
            "is_correct": True,
        },
    }
    (default,) = _parse("gsm8k_solutions", _jsonl(rec), {})
    assert default.steps == ["First 2+3=5.", "So 5.", "The answer is 5."]
    (para,) = _parse("gsm8k_solutions", _jsonl(rec), {"split": "blank_lines"})
    assert para.steps == ["First 2+3=5.\nSo 5.", "The answer is 5."]
    assert para.metadata["step_separator"] == "\n\n"
    everything = {"split": "regex", "split_pattern": "(?s).+"}
    (issue,) = _parse("gsm8k_solutions", _jsonl(rec), everything)
    assert (issue.line, issue.field) == (1, "6b_finetuning.solution")
    assert issue.message.startswith("splits into no steps")
    # one block without a "Step N:" marker is one step, never an empty item
    ok = _parse("gsm8k_solutions", _jsonl(rec), {"split": "regex", "split_pattern": "zzz"})
    assert ok[0].steps == ["First 2+3=5.\nSo 5.\n\nThe answer is 5."]


def test_split_is_recorded_on_the_dataset_and_must_match(make_project):
    project = make_project("step_labels")
    data = _jsonl({"external_id": "a", "prompt": "p", "steps": COT})

    def run(data: bytes, options: dict, dataset: str = "cot"):
        return dataset_import(
            project=project, dataset_name=dataset, fmt="native", stream=io.BytesIO(data),
            options=options,
        )  # fmt: skip

    first = run(data, {"split": "blank_lines"})
    assert first.ok, first.errors
    assert first.steps_created == 3
    assert Dataset.objects.get(name="cot").step_split == {"mode": "blank_lines"}
    assert run(data, {"split": "blank_lines"}).items_unchanged == 1
    other = run(_jsonl({"external_id": "b", "steps": COT}), {"split": "sentences"})
    assert not other.ok
    assert other.errors[0].field == "options.split"
    assert "split by blank lines (paragraphs); this import splits by sentences" in (
        other.errors[0].message
    )
    custom = run(data, {"split": "regex", "split_pattern": r"\n"}, dataset="re")
    assert custom.ok
    assert Dataset.objects.get(name="re").step_split == {"mode": "regex", "pattern": "\\n"}
    bad = run(data, {"split": "regex", "split_pattern": "("}, dataset="bad")
    assert (bad.errors[0].line, bad.errors[0].field) == (None, "options.split_pattern")
    assert not Dataset.objects.filter(name="bad").exists()


def test_cli_split(tmp_path, db):
    path = tmp_path / "cot.jsonl"
    path.write_bytes(_jsonl({"external_id": "a", "prompt": "p", "steps": COT}))
    out = StringIO()
    call_command("import_dataset", str(path), "--format", "native", "--project", "cot",
                 "--create-project", "step_labels", "--split", "step_markers", stdout=out)  # fmt: skip
    assert "Imported 1 items" in out.getvalue()
    item = Item.objects.get()
    assert (
        list(item.steps.order_by("index").values_list("text", flat=True))
        == (EXPECTED["step_markers"])
    )
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_dataset", str(path), "--format", "native", "--project", "cot",
                     "--dataset", "d2", "--split", "regex", "--split-pattern", "(",
                     stderr=err)  # fmt: skip
    assert "file: options.split_pattern: is not a valid regular expression" in err.getvalue()


def test_rest_upload_with_split_records_it(
    make_project, api_client, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    project = make_project("step_labels", slug="cot-api")
    api_client.force_authenticate(project.created_by)
    upload = SimpleUploadedFile("cot.jsonl", _jsonl({"external_id": "a", "steps": COT}))
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(
            "/api/v1/projects/cot-api/imports/",
            {"file": upload, "format": "native", "dataset": "d",
             "options": '{"split": "sentences"}'},
            format="multipart",
        )  # fmt: skip
    assert response.status_code == 201
    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.SUCCEEDED, run.errors
    datasets = api_client.get("/api/v1/projects/cot-api/datasets/").json()
    rows = datasets["results"] if isinstance(datasets, dict) else datasets
    assert rows[0]["step_split"] == {"mode": "sentences"}
    assert Item.objects.get().steps.count() == len(EXPECTED["sentences"])


def test_web_form_split_and_import_page_preview(
    client, make_project, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    project = make_project("step_labels")
    client.force_login(project.created_by)
    url = reverse("import_create", args=[project.slug])
    data = _jsonl(
        *({"external_id": f"t{i}", "steps": f"Step 1: a{i}. Step 2: b{i}."} for i in range(5))
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url,
            {"file": SimpleUploadedFile("cot.jsonl", data), "format": "native",
             "dataset_name": "d", "split": "step_markers"},
        )  # fmt: skip
    assert response.status_code == 302
    page = client.get(reverse("project_detail", args=[project.slug])).content.decode()
    assert "Steps split by: &quot;Step N:&quot; markers" in page
    assert "Preview: the first 3 items as split" in page
    assert "<li>Step 1: a0.</li>" in page
    assert "<li>Step 2: b2.</li>" in page
    assert "a3." not in page  # only the first items
    # a bad pattern is a field error on the form, and nothing is queued
    response = client.post(
        url,
        {"file": SimpleUploadedFile("cot.jsonl", data), "format": "native",
         "dataset_name": "d2", "split": "regex", "split_pattern": "(?P<"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "not a valid regular expression" in response.context["form"].errors["split_pattern"][0]
    assert ImportRun.objects.count() == 1
