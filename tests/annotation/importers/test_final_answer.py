"""A trace's final answer: the format's own field, else the last \\boxed{} (or an answer
marker) of its text, filled at import for every trace format."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.urls import reverse

from annotation.importers.answers import boxed_answer, trace_final_answer
from annotation.models import Item, Role
from annotation.services.imports import dataset_import
from tests.conftest import shared_file


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        (r"so the total is \(\boxed{30}\).", "30"),
        (r"\boxed{1} first, then \boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"\boxed{ \{a, b\} }", r"\{a, b\}"),
        (r"\fbox{7}", "7"),
        (r"\boxed{unclosed", ""),
        ("no answer here", ""),
    ],
)
def test_boxed_answer(text, answer):
    assert boxed_answer(text) == answer


def test_trace_final_answer_looks_at_the_last_steps_then_markers():
    assert trace_final_answer(["x", r"\boxed{4}", "So we are done."]) == "4"
    assert trace_final_answer(["So 2+2=4.\n\n# Answer\n\n4"]) == "4"
    assert trace_final_answer(["He pays 1,200.\n#### 1,200"]) == "1200"
    assert trace_final_answer(["Total 9.", "The answer is: 9"]) == "9"
    assert trace_final_answer([r"\boxed{1}", "a", "b", "c"]) == ""  # only the last steps
    assert trace_final_answer([]) == ""


def _import(project, fmt: str, records: list[dict], name: str) -> list[Item]:
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    if fmt == "processbench":
        data = json.dumps(records).encode()
    result = dataset_import(project=project, dataset_name=name, fmt=fmt, stream=io.BytesIO(data))
    assert result.ok, result.errors
    return list(Item.objects.filter(dataset_id=result.dataset_id).order_by("id"))


def test_every_trace_format_gets_its_final_answer(make_project):
    project = make_project("step_labels")
    boxed = ["Half of 60 is 30.", r"So the answer is $\boxed{30}$."]
    (native,) = _import(project, "native", [{"external_id": "n", "steps": boxed}], "native")
    assert native.final_answer == "30"
    (own,) = _import(
        project, "native", [{"external_id": "o", "steps": boxed, "final_answer": "thirty"}], "own"
    )
    assert own.final_answer == "thirty"  # the format's own field wins
    (pb,) = _import(
        project, "processbench",
        [{"id": "pb", "generator": "m", "problem": "p", "steps": boxed, "label": -1}], "pb",
    )  # fmt: skip
    assert pb.final_answer == "30"
    gsm = {"question": "Q?", "ground_truth": "#### 30",
           "m1": {"solution": "30 / 1 = 30\n#### 30", "is_correct": True},
           "m2": {"solution": "Half is \\boxed{15}", "is_correct": False}}  # fmt: skip
    assert [i.final_answer for i in _import(project, "gsm8k_solutions", [gsm], "gsm")] == [
        "30",
        "15",
    ]
    shepherd = {"input": "Q? Step 1: 60/2 = 30 ки\nStep 2: The answer is: 30 ки",
                "label": "Q? Step 1: 60/2 = 30 +\nStep 2: The answer is: 30 +"}  # fmt: skip
    (ms,) = _import(project, "math_shepherd", [shepherd], "ms")
    assert ms.final_answer == "30"


def test_processbench_real_file_final_answer_on_the_labeling_page(make_project, member, client):
    """Issue 10: after a ProcessBench import the labeling page showed "—" although the last
    step ends in \\boxed{30}."""
    path = shared_file("processbench_gsm8k.json")
    records = json.loads(path.read_text())
    project = make_project("step_labels", slug="pb-real")
    with open(path, "rb") as fh:
        result = dataset_import(project=project, dataset_name="pb", fmt="processbench", stream=fh)
    assert result.ok, result.errors[:3]
    first = Item.objects.get(project=project, external_id=records[0]["id"])
    assert records[0]["steps"][-1].endswith(r"The answer is \(\boxed{30}\).")
    assert first.final_answer == "30"
    boxed = sum(1 for r in records if any("boxed" in s for s in r["steps"][-3:]))
    filled = Item.objects.filter(project=project).exclude(final_answer="").count()
    assert filled >= boxed > 300
    annotator = member(project, Role.ANNOTATOR)
    client.force_login(annotator)
    page = client.get(reverse("annotate", args=[project.slug])).content.decode()
    shown = re.search(r"<dt>Trace's final answer</dt><dd class=\"answer\">(.*?)</dd>", page)
    assert shown is not None
    shown_id = re.search(r'data-item="([^"]+)"', page).group(1)
    item = Item.objects.get(project=project, external_id=shown_id)
    assert item.final_answer
    assert shown.group(1) == item.final_answer
