import copy
import io
import json

from annotation.importers import importer_get
from annotation.importers.base import ImportIssue, ParsedItem, SkippedRecord
from annotation.models import Annotation, Item, Step, StepLabel
from annotation.services.imports import dataset_import
from tests.annotation.importers.prm800k_records import (
    GCF_STEP3,
    GCF_STEPS,
    LABELER,
    MINUTES_STEPS,
    PHASE1_RECORD,
    PHASE2_SOLUTION,
    README_RECORD,
    jsonl,
    variant,
)

FOUND_ERROR = README_RECORD
SOLUTION = PHASE2_SOLUTION


def _completion(text, rating, flagged=None):
    return {"text": text, "rating": rating, "flagged": flagged}


def _step(completions, chosen=0, human=None):
    return {"completions": completions, "human_completion": human, "chosen_completion": chosen}


# Phase 1 shape: no generation, a labeler-written step, then an all-null step that ends it.
GIVE_UP = {
    "timestamp": "2022-08-01T09:00:00",
    "generation": None,
    "question": {"problem": "Find $x$ if $2x + 3 = 11$.", "ground_truth_answer": "4"},
    "label": {
        "steps": [
            _step([_completion("Subtract 3 from both sides: $2x = 8$.", 1)]),
            _step(
                [_completion("Divide by 3: $x = 8/3$.", -1)],
                chosen=None,
                human={"text": "Divide both sides by 2: $x = 4$.", "rating": None},
            ),
            {"completions": None, "human_completion": None, "chosen_completion": None},
        ],
        "total_time": 90000,
        "finish_reason": "give_up",
    },
}

BAD_PROBLEM = {
    "labeler": LABELER,
    "timestamp": "2023-01-23T10:00:00",
    "generation": 9,
    "question": {"problem": "Compute $\\frac{1}{0}$.", "ground_truth_answer": "undefined"},
    "label": {"steps": [], "total_time": 5000, "finish_reason": "bad_problem"},
}


def _jsonl(*records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _parse(data: bytes):
    stream = io.BytesIO(data)
    return list(importer_get("prm800k").parse(stream, options={}, max_line_bytes=100_000))


def test_readme_record_keeps_the_whole_solution_and_the_rated_alternatives():
    """PRM800K's README record: 16 pre-generated steps, rated 0, 0, -1, the third with five
    completions and no chosen one. Before, 13 of the 16 steps were lost."""
    (item,) = _parse(jsonl(README_RECORD))
    assert isinstance(item, ParsedItem)
    assert item.steps == GCF_STEPS
    assert len(item.steps) == 16
    assert item.final_answer == "320,000"  # pre_generated_answer
    assert item.reference_answer == "40,\\!000"
    (ann,) = item.annotations
    assert ann.annotator == f"prm800k-{LABELER}"
    assert ann.step_ratings == [0, 0, -1] + [None] * 13
    assert ann.first_error_index == 2
    assert ann.finish_reason == "found_error"
    # the other four rated completions of the third step, with their places
    assert item.metadata["alternatives"] == [
        {"step": 2, "completion": j, "text": text, "rating": rating}
        for j, (text, rating) in enumerate(GCF_STEP3)
        if j > 0
    ]
    assert item.metadata["prm800k"] == {
        "phase": 2, "trajectory": "pre_generated", "labelled_steps": 3, "chosen_null": [2],
        "human_completion": [], "flagged": [],
    }  # fmt: skip
    assert item.metadata["generation"] == 9
    assert item.metadata["total_time_ms"] == 278270


def test_null_choice_matched_by_text_wherever_it_is_listed():
    rec = variant(README_RECORD)
    options = rec["label"]["steps"][2]["completions"]
    options.append(options.pop(0))  # the pre-generated step is now the last of five
    options[-1]["text"] = "  " + options[-1]["text"].replace(" = ", "  =  ")  # spacing differs
    (item,) = _parse(jsonl(rec))
    assert item.annotations[0].step_ratings[:3] == [0, 0, -1]
    assert [a["completion"] for a in item.metadata["alternatives"]] == [0, 1, 2, 3]


def test_phase2_solution_rated_to_the_end():
    (item,) = _parse(jsonl(PHASE2_SOLUTION))
    assert item.steps == MINUTES_STEPS
    assert item.final_answer == "468"  # pre_generated_answer is null: read "# Answer"
    ann = item.annotations[0]
    assert ann.step_ratings == [1, 1, 1]
    assert ann.first_error_index == -1
    assert item.metadata["is_quality_control_question"] is True
    assert item.metadata["prm800k"]["flagged"] == [1]
    assert "alternatives" not in item.metadata


def test_labels_that_leave_the_pre_generated_solution_rebuild_the_trajectory():
    rec = variant(PHASE2_SOLUTION)
    rec["label"]["steps"][1]["completions"][0]["text"] = "60 * 7.8 = 468 seconds."
    (item,) = _parse(jsonl(rec))
    assert item.steps == [MINUTES_STEPS[0], "60 * 7.8 = 468 seconds.", MINUTES_STEPS[2]]
    assert item.metadata["prm800k"]["trajectory"] == "completions"


def test_phase1_trajectory_from_chosen_and_human_completions():
    (item,) = _parse(jsonl(PHASE1_RECORD))
    assert item.steps == [
        "Subtract 3 from both sides: $2x = 8$.",
        "Divide both sides by 2: $x = 4$.",
        "So $x = \\boxed{4}$.\n\n# Answer\n\n4",
    ]
    ann = item.annotations[0]
    assert ann.annotator == "prm800k-e90a38f3-3135-4465-87af-3e6322e3d772"
    assert ann.step_ratings == [1, None, 1]
    assert ann.first_error_index == -1
    assert item.final_answer == "4"
    assert item.metadata["generation"] is None
    assert item.metadata["alternatives"] == [
        {"step": 0, "completion": 0, "text": "Add 3 to both sides: $2x = 14$.", "rating": -1},
        {"step": 1, "completion": 0, "text": "Divide by 3: $x = 8/3$.", "rating": -1},
        {"step": 2, "completion": 1, "text": "So $x = 4$, and $2 \\cdot 4 + 3 = 11$ checks.",
         "rating": 1},
    ]  # fmt: skip
    assert item.metadata["prm800k"] == {
        "phase": 1, "trajectory": "completions", "labelled_steps": 3, "chosen_null": [1],
        "human_completion": [1], "flagged": [],
    }  # fmt: skip


def test_phase1_human_completion_and_all_null_step_stop():
    (item,) = _parse(_jsonl(GIVE_UP))
    assert item.steps == [
        "Subtract 3 from both sides: $2x = 8$.",
        "Divide both sides by 2: $x = 4$.",
    ]
    ann = item.annotations[0]
    assert ann.annotator == "prm800k-labelers"
    assert ann.step_ratings == [1, None]
    assert ann.first_error_index is None  # give_up without a -1 step: unknown
    assert ann.finish_reason == "give_up"
    assert item.final_answer == ""
    assert item.metadata["alternatives"] == [
        {"step": 1, "completion": 0, "text": "Divide by 3: $x = 8/3$.", "rating": -1}
    ]


def test_bad_problem_without_steps_is_skipped():
    events = _parse(_jsonl(SOLUTION, BAD_PROBLEM))
    assert isinstance(events[0], ParsedItem)
    assert isinstance(events[1], SkippedRecord)
    assert events[1].line == 2
    assert "bad_problem" in events[1].reason


def test_external_id_is_deterministic_or_taken_from_id():
    first = _parse(_jsonl(FOUND_ERROR))[0].external_id
    assert _parse(_jsonl(FOUND_ERROR))[0].external_id == first
    other = copy.deepcopy(FOUND_ERROR)
    other["labeler"] = "another-labeler"
    assert _parse(_jsonl(other))[0].external_id != first
    assert _parse(_jsonl(dict(FOUND_ERROR, id="phase2-17")))[0].external_id == "phase2-17"


def test_bad_records_name_line_and_field():
    bad_reason = copy.deepcopy(SOLUTION)
    bad_reason["label"]["finish_reason"] = "timeout"
    no_steps = copy.deepcopy(SOLUTION)
    no_steps["label"]["steps"] = []
    bad_choice = copy.deepcopy(SOLUTION)
    bad_choice["label"]["steps"][0]["chosen_completion"] = 3
    bad_rating = copy.deepcopy(SOLUTION)
    bad_rating["label"]["steps"][1]["completions"][0]["rating"] = 2
    no_problem = copy.deepcopy(SOLUTION)
    del no_problem["question"]["problem"]
    data = _jsonl(SOLUTION, bad_reason, no_steps) + b"\n" + _jsonl(bad_choice, bad_rating)
    data += _jsonl(no_problem) + b"{not json\n"
    events = _parse(data)
    issues = [e for e in events if isinstance(e, ImportIssue)]
    # line 4 is blank: the reader skips it but keeps counting physical lines
    assert [(i.line, i.field) for i in issues] == [
        (2, "label.finish_reason"),
        (3, "label.steps"),
        (5, "label.steps[0].chosen_completion"),
        (6, "label.steps[1].completions[0].rating"),
        (7, "question.problem"),
        (8, ""),
    ]
    assert "timeout" in issues[0].message
    assert "below 1" in issues[2].message


def test_dataset_import_writes_items_steps_and_annotations(make_project):
    project = make_project("step_labels")
    data = _jsonl(FOUND_ERROR, SOLUTION, GIVE_UP, BAD_PROBLEM)
    result = dataset_import(
        project=project, dataset_name="prm", fmt="prm800k", stream=io.BytesIO(data)
    )
    assert result.ok, result.errors
    assert (result.items_created, result.records_skipped) == (3, 1)
    assert Item.objects.filter(project=project).count() == 3
    assert Step.objects.filter(item__project=project).count() == 16 + 3 + 2
    anns = Annotation.objects.filter(item__project=project)
    assert anns.count() == 3
    assert set(anns.values_list("source", flat=True)) == {Annotation.Source.IMPORTED}
    assert set(anns.values_list("annotator__username", flat=True)) == {
        f"prm800k-{LABELER}",
        "prm800k-9f1c2b4e-7a55-4c1e-8d0b-3e2f6a7b8c9d",
        "prm800k-labelers",
    }
    labels = StepLabel.objects.filter(annotation__in=anns)
    assert labels.count() == 16 + 3 + 2
    assert labels.filter(rating=-1).count() == 1
    assert labels.filter(rating__isnull=True).count() == 13 + 1  # unlabeled after the error
    err = anns.get(finish_reason="found_error")
    assert err.first_error_index == 2
    assert labels.get(rating=-1).step.index == 2


def test_reimport_is_a_no_op(make_project):
    project = make_project("step_labels")
    data = _jsonl(FOUND_ERROR, SOLUTION, GIVE_UP)
    first = dataset_import(
        project=project, dataset_name="prm", fmt="prm800k", stream=io.BytesIO(data)
    )
    assert first.ok, first.errors
    again = dataset_import(
        project=project, dataset_name="prm", fmt="prm800k", stream=io.BytesIO(data)
    )
    assert again.ok, again.errors
    assert (again.items_created, again.items_unchanged) == (0, 3)
    assert again.annotations_created == 0
    assert Item.objects.filter(project=project).count() == 3
    assert Annotation.objects.filter(item__project=project).count() == 3
