import io
import json

from annotation.importers import importer_get
from annotation.importers.base import ImportIssue, ParsedItem, SkippedRecord
from annotation.models import Annotation, Item, Step, StepLabel
from annotation.services.imports import dataset_import

TAG = "ки"

JANET_INPUT = (
    "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes "
    "muffins for her friends every day with four. She sells the remainder at the farmers' "
    "market daily for $2 per fresh duck egg. How much in dollars does she make every day at "
    "the farmers' market? "
    "Step 1: Janet's ducks lay 16 eggs per day, and she uses 3 + 4 = <<3+4=7>>7 of them. ки\n"
    "Step 2: So she sells 16 - 7 = <<16-7=9>>9 eggs. ки\n"
    "Step 3: She makes 9 * 2 = $<<9*2=18>>18 every day. ки\n"
    "Step 4: The answer is: 18 ки"
)


def _record(inp: str, marks: str, **extra) -> dict:
    """A Math-Shepherd line: label = input with the k-th tag replaced by marks[k]."""
    parts = inp.split(TAG)
    assert len(parts) - 1 == len(marks)
    label = "".join(p + m for p, m in zip(parts, marks, strict=False)) + parts[-1]
    return {"input": inp, "label": label, **extra}


JANET = _record(JANET_INPUT, "++++", task="GSM8K")
# MATH style, lower-case "step 1:", a wrong step and a later recovery (MC labels every step).
CIRCLE = _record(
    "The radius of a circle is doubled. By what factor does its area grow? "
    "step 1: The area is $\\pi r^2$. ки\n"
    "Step 2: Doubling $r$ doubles the area, so the factor is 2. ки\n"
    "Step 3: Actually $(2r)^2 = 4r^2$, so the factor is 4. ки\n"
    "Step 4: The answer is: 4 ки",
    "+-++",
    task="MATH",
)
# No "Step k:" prefixes: the problem is split off after the first "?".
PLAIN = _record("What is 2 + 2? 2 + 2 = 4. ки\nThe answer is: 5 ки", "+-", task="GSM8K", id="ms-3")


def _jsonl(*records) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def _parse(data: bytes):
    stream = io.BytesIO(data)
    return list(importer_get("math_shepherd").parse(stream, options={}, max_line_bytes=100_000))


def test_parse_splits_problem_and_steps_and_reads_labels():
    (item,) = _parse(_jsonl(JANET))
    assert isinstance(item, ParsedItem)
    assert item.prompt.endswith("make every day at the farmers' market?")
    assert item.steps == [
        "Step 1: Janet's ducks lay 16 eggs per day, and she uses 3 + 4 = <<3+4=7>>7 of them.",
        "Step 2: So she sells 16 - 7 = <<16-7=9>>9 eggs.",
        "Step 3: She makes 9 * 2 = $<<9*2=18>>18 every day.",
        "Step 4: The answer is: 18",
    ]
    # the "-" of "16 - 7" in the text is not a label: labels are read at tag positions only
    (ann,) = item.annotations
    assert ann.annotator == "math-shepherd-mc"
    assert ann.step_ratings == [1, 1, 1, 1]
    assert ann.first_error_index == -1
    assert item.final_answer == "18"
    assert item.final_answer_correct is True
    assert item.reference_answer == ""
    assert item.metadata == {"step_separator": "\n", "task": "GSM8K", "step_tag": TAG}
    assert len(item.external_id) == 16


def test_parse_first_error_lowercase_step_and_question_mark_fallback():
    circle, plain = _parse(_jsonl(CIRCLE, PLAIN))
    assert circle.prompt == "The radius of a circle is doubled. By what factor does its area grow?"
    assert circle.steps[0] == "step 1: The area is $\\pi r^2$."
    assert circle.annotations[0].step_ratings == [1, -1, 1, 1]
    assert circle.annotations[0].first_error_index == 1
    assert plain.external_id == "ms-3"
    assert plain.prompt == "What is 2 + 2?"
    assert plain.steps == ["2 + 2 = 4.", "The answer is: 5"]
    assert plain.final_answer == "5"
    assert plain.final_answer_correct is False


def test_stray_tag_in_problem_is_skipped():
    stray = _record(
        "Mr. Rocky sells jam ки at $3 a jar. How much for 2 jars? "
        "Step 1: 2 * 3 = <<2*3=6>>6 ки\nStep 2: The answer is: 6 ки",
        "+++",
    )
    (event,) = _parse(_jsonl(stray))
    assert isinstance(event, SkippedRecord)
    assert event.line == 1


def test_bad_records_name_line_and_field():
    wrong_mark = _record(JANET_INPUT, "++x+")
    # the last tag was left in the label: one tag fewer replaced than the input has
    fewer = dict(JANET, label=JANET["label"][:-1] + TAG)
    edited = dict(JANET, label=JANET["label"].replace("Janet's", "Janet-s", 1))
    missing = {"input": JANET_INPUT, "task": "GSM8K"}
    no_tag = {"input": "What is 1 + 1? Step 1: 2", "label": "What is 1 + 1? Step 1: 2"}
    no_split = _record("Compute 1 + 1. 1 + 1 = 2 ки", "+")
    events = _parse(_jsonl(JANET, wrong_mark, fewer, edited, missing, no_tag, no_split))
    issues = [e for e in events if isinstance(e, ImportIssue)]
    assert [(i.line, i.field) for i in issues] == [
        (2, "label"),
        (3, "label"),
        (4, "label"),
        (5, "label"),
        (6, "input"),
        (7, "input"),
    ]
    assert "tag of step 3" in issues[0].message
    assert "'x'" in issues[0].message
    assert "tag count mismatch" in issues[1].message
    assert "outside the step tags" in issues[2].message
    assert issues[3].message == "is required"


def test_dataset_import_writes_items_steps_and_annotations(make_project):
    project = make_project("step_labels")
    result = dataset_import(
        project=project,
        dataset_name="ms",
        fmt="math_shepherd",
        stream=io.BytesIO(_jsonl(JANET, CIRCLE, PLAIN)),
    )
    assert result.ok, result.errors
    assert Item.objects.filter(project=project).count() == 3
    assert Step.objects.filter(item__project=project).count() == 4 + 4 + 2
    anns = Annotation.objects.filter(item__project=project, annotator__username="math-shepherd-mc")
    assert anns.count() == 3
    labels = StepLabel.objects.filter(annotation__in=anns)
    assert labels.count() == 10
    assert labels.filter(rating=-1).count() == 2
    assert labels.filter(rating__isnull=True).count() == 0
    assert sorted(anns.values_list("first_error_index", flat=True)) == [-1, 1, 1]
    assert Item.objects.get(project=project, external_id="ms-3").final_answer_correct is False
