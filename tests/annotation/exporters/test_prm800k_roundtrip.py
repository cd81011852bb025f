"""PRM800K in, `prm800k` export out, and in again: the steps, ratings and the labeler's rated
alternative completions survive; the review page shows the alternatives."""

from __future__ import annotations

import io

from django.urls import reverse

from annotation.models import Item, StepLabel
from annotation.services.imports import dataset_import
from tests.annotation.exporters.conftest import read_jsonl
from tests.annotation.importers.prm800k_records import (
    GCF_STEP3,
    GCF_STEPS,
    LABELER,
    PHASE1_RECORD,
    PHASE2_SOLUTION,
    README_RECORD,
    jsonl,
)


def _import(project, data: bytes, name: str = "prm"):
    result = dataset_import(
        project=project, dataset_name=name, fmt="prm800k", stream=io.BytesIO(data)
    )
    assert result.ok, result.errors
    return result


def _snapshot(project) -> dict[str, tuple]:
    out = {}
    for item in Item.objects.filter(project=project).prefetch_related("steps"):
        labels = StepLabel.objects.filter(step__item=item).order_by(
            "annotation__annotator__username", "step__index"
        )
        ratings = [
            (lab.annotation.annotator.username, lab.step.index, lab.rating) for lab in labels
        ]
        meta = item.metadata
        out[item.external_id] = (
            [s.text for s in item.steps.order_by("index")],
            ratings,
            meta.get("alternatives"),
            meta.get("prm800k"),
            item.final_answer,
            item.prompt,
            item.reference_answer,
        )
    return out


def test_round_trip_keeps_steps_ratings_and_alternatives(make_project, export):
    source = make_project("step_labels", slug="prm-in")
    _import(source, jsonl(README_RECORD, PHASE2_SOLUTION, PHASE1_RECORD))
    _, out = export(source, "prm800k", labels="per_annotator", dedup=False)
    rows = read_jsonl(out / "prm800k/train-00000-of-00001.jsonl")
    assert len(rows) == 3

    readme = next(r for r in rows if r["labeler"] == LABELER)
    assert readme["generation"] == 9
    assert readme["question"]["pre_generated_steps"] == GCF_STEPS
    steps = readme["label"]["steps"]
    assert len(steps) == 3
    assert [s["chosen_completion"] for s in steps] == [0, 0, None]
    assert [(c["text"], c["rating"]) for c in steps[2]["completions"]] == GCF_STEP3
    phase1 = next(r for r in rows if r["question"]["pre_generated_steps"] is None)
    assert phase1["label"]["steps"][1]["human_completion"] == {
        "text": "Divide both sides by 2: $x = 4$.",
        "rating": None,
    }
    assert phase1["label"]["steps"][0]["chosen_completion"] == 1  # second of two, as rated

    again = make_project("step_labels", slug="prm-again")
    _import(again, (out / "prm800k/train-00000-of-00001.jsonl").read_bytes())
    before, after = _snapshot(source), _snapshot(again)
    assert after == before
    assert len(before) == 3
    # the README item: 16 steps, 3 rated, the four alternatives of its third step
    readme_item = next(v for v in after.values() if len(v[0]) == 16)
    assert [r for _, i, r in readme_item[1] if i < 4] == [0, 0, -1, None]
    assert [a["rating"] for a in readme_item[2]] == [0, -1, 1, 0]


def test_alternatives_go_with_the_labelers_labels_and_the_final_ones(make_project, export, member):
    from annotation.models import Role
    from annotation.services.annotations import annotation_submit
    from annotation.services.assignments import assignment_claim_next

    source = make_project("step_labels", slug="prm-final", overlap=3)
    _import(source, jsonl(README_RECORD))
    _, out = export(source, "prm800k")
    (row,) = read_jsonl(out / "prm800k/train-00000-of-00001.jsonl")
    assert row["labeler"] == "final"
    assert len(row["label"]["steps"][2]["completions"]) == 5
    # a second annotator labels the item here: their record carries only their own labels
    annotator = member(source, Role.ANNOTATOR)
    assignment = assignment_claim_next(project=source, annotator=annotator)
    labels = {"steps": [{"index": i, "rating": 1} for i in range(16)], "finish_reason": "solution"}
    annotation_submit(assignment=assignment, labels=labels, client_token="t")
    _, out = export(source, "prm800k", labels="per_annotator", dedup=False)
    rows = {r["labeler"]: r for r in read_jsonl(out / "prm800k/train-00000-of-00001.jsonl")}
    assert set(rows) == {LABELER, annotator.username}
    assert len(rows[LABELER]["label"]["steps"][2]["completions"]) == 5
    mine = rows[annotator.username]["label"]["steps"]
    assert len(mine) == 16
    assert all(len(s["completions"]) == 1 and s["chosen_completion"] == 0 for s in mine)


def test_review_page_shows_the_rated_alternatives(client, make_project):
    project = make_project("step_labels", slug="prm-review")
    _import(project, jsonl(README_RECORD))
    client.force_login(project.created_by)
    item = Item.objects.get(project=project)
    page = client.get(reverse("review_item", args=[project.slug, item.id])).content.decode()
    assert "Alternative steps rated at import" in page
    assert "At step 3" in page
    assert page.count('class="badge badge-rating') == 4
    assert "six factors of" in page
