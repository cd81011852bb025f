import json

from annotation.importers import importer_get
from annotation.importers.base import ImportIssue, ParsedItem
from annotation.models import Annotation, Item, StepLabel
from annotation.services.imports import dataset_import
from tests.conftest import shared_file

RECORDS = [
    {"id": "gsm8k-0", "generator": "m", "problem": "What is 2+3?", "steps": ["2+3=5", "So 5."],
     "final_answer_correct": True, "label": -1},
    {"id": "gsm8k-1", "generator": "m", "problem": "What is 2*3?", "steps": ["2*3=5", "x", "So 5."],
     "final_answer_correct": False, "label": 0},
]  # fmt: skip


def _parse(data: bytes, options=None):
    import io

    return list(
        importer_get("processbench").parse(
            io.BytesIO(data), options=options or {}, max_line_bytes=10_000
        )
    )


def test_parse_turns_label_into_first_error_annotation():
    events = _parse(json.dumps(RECORDS).encode())
    assert all(isinstance(e, ParsedItem) for e in events)
    second = events[1]
    ann = second.annotations[0]
    assert ann.annotator == "processbench-experts"
    assert ann.first_error_index == 0
    # the wrong step is -1, steps after it are unlabeled (None), not wrong
    assert ann.step_ratings == [-1, None, None]
    assert events[0].annotations[0].step_ratings == [1, 1]


def test_parse_reports_bad_label_with_record_number():
    bad = [dict(RECORDS[0], label=7), dict(RECORDS[1], steps="not a list")]
    events = _parse(json.dumps(bad).encode())
    issues = [e for e in events if isinstance(e, ImportIssue)]
    assert [(i.line, i.field) for i in issues] == [(1, "label"), (2, "steps")]
    assert "list" in issues[1].message


def test_answers_file_joins_reference_answer(tmp_path):
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"question": "What is  2+3?", "answer": "2+3=5\n#### 5"}) + "\n")
    events = _parse(json.dumps(RECORDS).encode(), {"answers": str(answers)})
    assert events[0].reference_answer == "5"
    assert events[1].reference_answer == ""


def test_real_processbench_gsm8k_imports_400_items(make_project):
    path = shared_file("processbench_gsm8k.json")
    answers = shared_file("gsm8k_test.jsonl")
    project = make_project("step_labels")
    with open(path, "rb") as fh:
        result = dataset_import(project=project, dataset_name="pb", fmt="processbench", stream=fh,
                                options={"answers": str(answers)})  # fmt: skip
    assert result.ok, result.errors
    assert Item.objects.filter(project=project).count() == 400
    anns = Annotation.objects.filter(
        item__project=project, annotator__username="processbench-experts"
    )
    assert anns.count() == 400
    assert anns.filter(first_error_index__gte=0).count() == 207
    # every ProcessBench problem is in GSM8K test, so every item has a reference answer
    assert not Item.objects.filter(project=project, reference_answer="").exists()
    # steps after a first error are stored unlabeled
    assert StepLabel.objects.filter(annotation__in=anns, rating__isnull=True).exists()
