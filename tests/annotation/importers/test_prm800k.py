import copy
import io
import json

from annotation.importers import importer_get
from annotation.importers.base import ImportIssue, ParsedItem, SkippedRecord
from annotation.models import Annotation, Item, Step, StepLabel
from annotation.services.imports import dataset_import

LABELER = "340d89bc-f5b7-45e9-b272-909ba68ee363"
GCF_STEPS = [
    "I want to find the largest positive integer that divides both $20 !$ and $200,\\!000$.",
    "One way to do this is to factor both numbers into prime factors.",
    "I know that $200,\\!000 = 2^5\\cdot 10^4 = 2^9\\cdot 5^4$.",
    "So the greatest common factor is $2^9\\cdot 5^4 = 320,\\!000$.\n\n# Answer\n\n320,000",
]


def _completion(text, rating, flagged=None):
    return {"text": text, "rating": rating, "flagged": flagged}


def _step(completions, chosen=0, human=None):
    return {"completions": completions, "human_completion": human, "chosen_completion": chosen}


# Phase 2: graded in order, stopped at the first mistake; the mistaken step carries the
# labeler's alternatives and no chosen completion.
FOUND_ERROR = {
    "labeler": LABELER,
    "timestamp": "2023-01-22T04:34:27.052924",
    "generation": 9,
    "is_quality_control_question": False,
    "is_initial_screening_question": False,
    "question": {
        "problem": "What is the greatest common factor of $20 !$ and $200,\\!000$?",
        "ground_truth_solution": "... $2^6 \\cdot 5^4=\\boxed{40,\\!000}$.",
        "ground_truth_answer": "40,\\!000",
        "pre_generated_steps": GCF_STEPS,
        "pre_generated_answer": "320,000",
        "pre_generated_verifier_score": 0.0107,
    },
    "label": {
        "steps": [
            _step([_completion(GCF_STEPS[0], 0)]),
            _step([_completion(GCF_STEPS[1], 1)]),
            _step(
                [
                    _completion(GCF_STEPS[2], -1),
                    _completion("To factor $20 !$, I can list its prime factors.", 0, False),
                    _completion("I can use a factor tree for $200,\\!000$.", 0, False),
                ],
                chosen=None,
            ),
        ],
        "total_time": 278270,
        "finish_reason": "found_error",
    },
}

SOLUTION = {
    "labeler": "9f1c2b4e-7a55-4c1e-8d0b-3e2f6a7b8c9d",
    "timestamp": "2023-02-03T11:02:10.000001",
    "generation": 4,
    "is_quality_control_question": True,
    "is_initial_screening_question": False,
    "question": {
        "problem": "How many seconds are in 7.8 minutes?",
        "ground_truth_answer": "468",
        "pre_generated_steps": [
            "7.8 minutes is 7 minutes and 0.8 minutes.",
            "There are 60 * 7 = 420 seconds in 7 minutes and 60 * 0.8 = 48 in 0.8 minutes.",
            "So there are 420 + 48 = 468 seconds.\n\n# Answer\n\n468",
        ],
        "pre_generated_answer": None,
    },
    "label": {
        "steps": [
            _step([_completion("7.8 minutes is 7 minutes and 0.8 minutes.", 1)]),
            _step(
                [
                    _completion(
                        "There are 60 * 7 = 420 seconds in 7 minutes and 60 * 0.8 = 48 in 0.8 "
                        "minutes.",
                        1,
                    )
                ]
            ),
            _step([_completion("So there are 420 + 48 = 468 seconds.\n\n# Answer\n\n468", 1)]),
        ],
        "total_time": 41000,
        "finish_reason": "solution",
    },
}

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


def test_found_error_uses_pre_generated_step_and_keeps_alternatives():
    (item,) = _parse(_jsonl(FOUND_ERROR))
    assert isinstance(item, ParsedItem)
    assert item.steps == GCF_STEPS[:3]
    assert item.prompt == FOUND_ERROR["question"]["problem"]
    assert item.reference_answer == "40,\\!000"
    assert item.final_answer == "320,000"  # pre_generated_answer wins
    (ann,) = item.annotations
    assert ann.annotator == f"prm800k-{LABELER}"
    assert ann.step_ratings == [0, 1, -1]
    assert ann.first_error_index == 2
    assert ann.finish_reason == "found_error"
    assert item.metadata["step_separator"] == "\n"
    assert item.metadata["labeler"] == LABELER
    assert item.metadata["generation"] == 9
    assert item.metadata["total_time_ms"] == 278270
    assert [a["rating"] for a in item.metadata["alternatives"]] == [0, 0]
    assert len(item.external_id) == 16


def test_solution_answer_from_last_step_and_no_error():
    (item,) = _parse(_jsonl(SOLUTION))
    assert item.final_answer == "468"  # pre_generated_answer is null: read "# Answer"
    ann = item.annotations[0]
    assert ann.step_ratings == [1, 1, 1]
    assert ann.first_error_index == -1
    assert item.metadata["is_quality_control_question"] is True


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
        {"step": 1, "text": "Divide by 3: $x = 8/3$.", "rating": -1}
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
    assert Step.objects.filter(item__project=project).count() == 3 + 3 + 2
    anns = Annotation.objects.filter(item__project=project)
    assert anns.count() == 3
    assert set(anns.values_list("source", flat=True)) == {Annotation.Source.IMPORTED}
    assert set(anns.values_list("annotator__username", flat=True)) == {
        f"prm800k-{LABELER}",
        "prm800k-9f1c2b4e-7a55-4c1e-8d0b-3e2f6a7b8c9d",
        "prm800k-labelers",
    }
    labels = StepLabel.objects.filter(annotation__in=anns)
    assert labels.count() == 8
    assert labels.filter(rating=-1).count() == 1
    assert labels.filter(rating__isnull=True).count() == 1
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
