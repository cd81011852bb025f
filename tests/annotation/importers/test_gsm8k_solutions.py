import hashlib
import io
import json

from annotation.importers import importer_get
from annotation.importers.base import ImportIssue, ParsedItem
from annotation.importers.gsm8k_solutions import question_key
from annotation.models import Annotation, Item, Step
from annotation.services.imports import dataset_import
from tests.conftest import shared_file

ROBE = {
    "question": "A robe takes 2 bolts of blue fiber and half that much white fiber.  How many "
    "bolts in total does it take?",
    "ground_truth": "It takes 2/2=<<2/2=1>>1 bolt of white fiber\nSo the total amount of fabric "
    "is 2+1=<<2+1=3>>3 bolts of fabric\nA: 3",
    "6b_finetuning": {
        "is_correct": True,
        "solution": "It takes 2*1/2=<<2*1/2=1.0>>1 bolt of white fiber\n\nSo it takes "
        "2+1=<<2+1=3>>3 bolts\nA: 3",
    },
    "175b_verification": {
        "is_correct": False,
        "solution": "A bolt of blue fiber is 100 meters long\nSo it takes 2*100 = "
        "<<2*100=200>>200 meters\nA: 2,000",
    },
}
EGGS = {
    "question": "Janet's ducks lay 16 eggs per day. She eats 3 and bakes with 4. She sells the "
    "rest for $2 each. How much does she make?",
    "ground_truth": "She sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs\nShe makes 9 * 2 = "
    "$<<9*2=18>>18\n#### 18",
    "6b_finetuning": {"is_correct": False, "solution": "16 * 2 = <<16*2=32>>32\nA: $32"},
    "175b_verification": {"is_correct": True, "solution": "9 * 2 = 18\nA: 18"},
}


def _jsonl(*records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _parse(data: bytes):
    stream = io.BytesIO(data)
    return list(importer_get("gsm8k_solutions").parse(stream, options={}, max_line_bytes=100_000))


def test_each_model_solution_is_one_item():
    events = _parse(_jsonl(ROBE, EGGS))
    assert all(isinstance(e, ParsedItem) for e in events)
    assert [(e.line, e.generator_model) for e in events] == [
        (1, "6b_finetuning"),
        (1, "175b_verification"),
        (2, "6b_finetuning"),
        (2, "175b_verification"),
    ]
    robe_norm = " ".join(ROBE["question"].split()).encode()
    robe_key = hashlib.sha1(robe_norm, usedforsecurity=False).hexdigest()[:12]
    first = events[0]
    assert first.external_id == f"{robe_key}-6b_finetuning"
    assert first.group_key == robe_key == events[1].group_key
    assert events[2].group_key != robe_key
    assert first.prompt == ROBE["question"]
    # blank lines are not steps
    assert first.steps == [
        "It takes 2*1/2=<<2*1/2=1.0>>1 bolt of white fiber",
        "So it takes 2+1=<<2+1=3>>3 bolts",
        "A: 3",
    ]
    assert (first.final_answer, first.final_answer_correct) == ("3", True)
    assert first.reference_answer == "3"  # last-line "A: x"
    assert events[1].final_answer == "2000"  # thousands comma stripped
    assert events[2].reference_answer == "18"  # "#### x"
    assert events[2].final_answer == "32"  # "$" stripped
    assert events[2].final_answer_correct is False
    assert all(e.annotations == [] for e in events)
    assert first.metadata == {"step_separator": "\n"}


def test_external_ids_survive_reordering_lines():
    forward = {e.external_id for e in _parse(_jsonl(ROBE, EGGS))}
    backward = {e.external_id for e in _parse(_jsonl(EGGS, ROBE))}
    assert forward == backward
    assert question_key(ROBE["question"]) == question_key(" " + ROBE["question"] + "\n")


def test_bad_records_name_line_and_field():
    not_object = dict(EGGS, **{"6b_finetuning": "16 * 2 = 32"})
    no_solution = dict(EGGS, **{"175b_verification": {"is_correct": True}})
    bad_flag = dict(EGGS, **{"175b_verification": {"solution": "A: 18", "is_correct": "yes"}})
    no_models = {"question": EGGS["question"], "ground_truth": EGGS["ground_truth"]}
    no_question = {k: v for k, v in EGGS.items() if k != "question"}
    events = _parse(_jsonl(ROBE, not_object, no_solution, bad_flag, no_models, no_question))
    issues = [e for e in events if isinstance(e, ImportIssue)]
    assert [(i.line, i.field) for i in issues] == [
        (2, "6b_finetuning"),
        (3, "175b_verification.solution"),
        (4, "175b_verification.is_correct"),
        (5, "record"),
        (6, "question"),
    ]
    assert "got string" in issues[0].message
    assert issues[1].message == "is required"
    # a bad record yields no item at all, not the solutions before the bad one
    assert sum(isinstance(e, ParsedItem) for e in events) == 2


def test_dataset_import_and_reimport_no_op(make_project):
    project = make_project("step_labels")
    data = _jsonl(ROBE, EGGS)
    result = dataset_import(
        project=project, dataset_name="gsm", fmt="gsm8k_solutions", stream=io.BytesIO(data)
    )
    assert result.ok, result.errors
    assert (result.items_created, result.steps_created, result.annotations_created) == (4, 10, 0)
    assert Item.objects.filter(project=project).values("group_key").distinct().count() == 2
    again = dataset_import(
        project=project,
        dataset_name="gsm",
        fmt="gsm8k_solutions",
        stream=io.BytesIO(_jsonl(EGGS, ROBE)),  # re-ordered: still the same items
    )
    assert again.ok, again.errors
    assert (again.items_created, again.items_unchanged) == (0, 4)
    assert Item.objects.filter(project=project).count() == 4


def test_real_example_model_solutions_file(make_project):
    path = shared_file("gsm8k_example_model_solutions.jsonl")
    # expected counts, computed from the raw file with plain json
    n_questions = n_solutions = n_steps = n_correct = n_no_reference = 0
    models = set()
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            rec = json.loads(raw)
            n_questions += 1
            gt = rec["ground_truth"]
            has_answer = "####" in gt or gt.strip().splitlines()[-1].startswith("A:")
            for key, value in rec.items():
                if isinstance(value, dict) and "solution" in value:
                    models.add(key)
                    n_solutions += 1
                    n_correct += value["is_correct"] is True
                    n_steps += sum(1 for ln in value["solution"].split("\n") if ln.strip())
                    n_no_reference += not has_answer
    project = make_project("step_labels")
    with open(path, "rb") as fh:
        result = dataset_import(
            project=project, dataset_name="gsm-sol", fmt="gsm8k_solutions", stream=fh
        )
    assert result.ok, result.errors
    items = Item.objects.filter(project=project)
    assert result.items_created == items.count() == n_solutions
    assert Step.objects.filter(item__project=project).count() == n_steps
    assert result.steps_created == n_steps
    assert items.filter(final_answer_correct=True).count() == n_correct
    assert items.filter(final_answer_correct=False).count() == n_solutions - n_correct
    assert items.values("group_key").distinct().count() == n_questions
    assert set(items.values_list("generator_model", flat=True)) == models
    assert not Annotation.objects.filter(item__project=project).exists()
    assert items.filter(reference_answer="").count() == n_no_reference
