"""`label_studio` export: Label Studio's JSON shape with its labeling config, and the round
trip our export → Label Studio format → our import that keeps every label."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from annotation.errors import ApplicationError
from annotation.models import Annotation, Project
from annotation.services.annotations import adjudication_submit
from annotation.services.imports import dataset_import

PREFERENCE_ITEMS = [
    {"external_id": "p1", "prompt": "I feel stuck.", "candidates": [
        {"text": "What does stuck feel like?"}, {"text": "Try harder."}],
     "annotations": [
        {"annotator": "alice", "preferences": [{"a": 0, "b": 1, "strength": -3}],
         "principle_ratings": [{"principle": "empathy", "candidate": 0, "value": 5},
                               {"principle": "empathy", "candidate": 1, "value": 1}],
         "justification": "The first reflects the feeling."},
        {"annotator": "bob@example.org", "preferences": [{"a": 0, "b": 1, "strength": -1}]},
     ]},
    {"external_id": "p2", "prompt": "Three options", "candidates": [
        {"text": "one"}, {"text": "two"}, {"text": "three"}],
     "annotations": [
        {"annotator": "alice", "preferences": [{"a": 0, "b": 2, "strength": 2},
                                               {"a": 1, "b": 2, "strength": 0}]},
        {"annotator": "label-studio:7", "preferences": [{"a": 2, "b": 0, "strength": 1}],
         "principle_ratings": [{"principle": "safety", "candidate": 2, "value": 4}]},
     ]},
    {"external_id": "p3", "prompt": "No labels yet", "candidates": [
        {"text": "a"}, {"text": "b"}]},
]  # fmt: skip

DIALOGUE_ITEMS = [
    {"external_id": "d1", "turns": [
        {"speaker": "therapist", "text": "What brings you here?"},
        {"speaker": "client", "text": "I want to stop smoking."},
        {"speaker": "therapist", "text": "You want to stop."}],
     "annotations": [
        {"annotator": "coder-1", "justification": "clear change talk",
         "turn_labels": [{"turn": 0, "field": "main_therapist_behaviour", "value": "question"},
                         {"turn": 1, "field": "client_talk_type", "value": "change"},
                         {"turn": 2, "field": "main_therapist_behaviour", "value": "reflection"},
                         {"turn": 2, "field": "empathy", "value": "4"}]},
        {"annotator": "coder-2",
         "turn_labels": [{"turn": 1, "field": "client_talk_type", "value": "neutral"}]},
     ]},
]  # fmt: skip


def import_records(project: Project, records: list[dict[str, Any]]) -> None:
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    result = dataset_import(project=project, dataset_name="native", fmt="native",
                            stream=io.BytesIO(data))  # fmt: skip
    assert result.ok, result.errors


def labels_of(project: Project) -> dict[tuple[str, str], dict[str, Any]]:
    """Every label of every annotation, keyed by (item external id, annotator without the
    label-studio: prefix), candidates and turns by index."""
    out = {}
    for ann in Annotation.objects.filter(item__project=project).select_related("item", "annotator"):
        name = ann.annotator.username.removeprefix("label-studio:")
        prefs = set()
        for p in ann.preference_labels.select_related("candidate_a", "candidate_b"):
            a, b, s = p.candidate_a.index, p.candidate_b.index, p.strength
            prefs.add((a, b, s) if a < b else (b, a, -s))
        out[(ann.item.external_id, name)] = {
            "preferences": prefs,
            "principles": {(r.principle, r.candidate.index if r.candidate else None, r.value)
                           for r in ann.principle_ratings.select_related("candidate")},
            "turns": {(t.turn.index, t.field, t.value)
                      for t in ann.turn_labels.select_related("turn")},
            "justification": ann.justification,
        }  # fmt: skip
    return out


def exported(export, project: Project) -> tuple[list[dict[str, Any]], Path, dict[str, Any]]:
    manifest, out = export(project, "label_studio")
    data_file = out / manifest["files"][0]["path"]
    assert data_file.suffix == ".json"
    return json.loads(data_file.read_text()), out, manifest


def reimport(project: Project, out: Path, manifest: dict[str, Any]) -> Any:
    with open(out / manifest["files"][0]["path"], "rb") as fh:
        return dataset_import(
            project=project, dataset_name="back", fmt="label_studio", stream=fh,
            options={"label_config": (out / "label_config.xml").read_text()},
        )  # fmt: skip


def test_preference_round_trip_keeps_every_label(make_project, export):
    source = make_project("preference", label_schema={"principles": ["empathy", "safety"]})
    import_records(source, PREFERENCE_ITEMS)
    tasks, out, manifest = exported(export, source)
    assert [t["meta"]["stepwise"]["external_id"] for t in tasks] == ["p1", "p2", "p3"]
    assert tasks[2]["annotations"] == []
    assert manifest["counts"]["total"] == 3
    config = (out / "label_config.xml").read_text()
    assert 'toName="answer1,answer3"' in config
    assert "empathy_answer1" in config

    target = make_project("preference", label_schema={"principles": ["empathy", "safety"]})
    result = reimport(target, out, manifest)
    assert result.ok, result.errors
    assert result.annotations_created == 4
    before, after = labels_of(source), labels_of(target)
    assert after == before
    assert before[("p2", "alice")]["preferences"] == {(0, 2, 2), (1, 2, 0)}
    # Under the default final labels too, each annotation keeps when it was made.
    created = [a["created_at"] for t in tasks for a in t["annotations"]]
    assert created
    assert all(isinstance(c, str) and c.startswith("20") for c in created)


def test_dialogue_round_trip_keeps_every_label(make_project, export):
    source = make_project("dialogue_coding")
    import_records(source, DIALOGUE_ITEMS)
    tasks, out, manifest = exported(export, source)
    regions = [r for a in tasks[0]["annotations"] for r in a["result"]]
    assert {r["type"] for r in regions} == {"paragraphlabels", "textarea"}
    target = make_project("dialogue_coding")
    result = reimport(target, out, manifest)
    assert result.ok, result.errors
    assert labels_of(target) == labels_of(source)
    assert len(labels_of(source)[("d1", "coder-1")]["turns"]) == 4


def test_annotators_and_ground_truth_in_label_studio_terms(make_project, export, make_user):
    project = make_project("preference", label_schema={"principles": ["empathy", "safety"],
                                                       "justification_required": False})  # fmt: skip
    import_records(project, PREFERENCE_ITEMS)
    item = project.items.get(external_id="p1")
    adjudication_submit(item=item, reviewer=project.created_by, note="",
                        labels={"candidate_a": 0, "candidate_b": 1, "strength": -2},
                        client_token="t1")  # fmt: skip
    tasks, _, manifest = exported(export, project)
    anns = {a["stepwise_annotator"]: a for a in tasks[0]["annotations"]}
    assert anns["bob@example.org"]["completed_by"] == {"email": "bob@example.org"}
    assert "completed_by" not in anns["alice"]
    assert anns[project.created_by.username]["ground_truth"] is True
    assert anns["alice"]["ground_truth"] is False
    strength = [r for r in anns["alice"]["result"] if r["from_name"] == "strength"]
    assert strength[0]["value"] == {"choices": ["-3"]}
    side = [r for r in anns["alice"]["result"] if r["type"] == "pairwise"]
    assert side[0]["value"] == {"selected": "left"}


def test_parquet_is_refused_naming_the_option(make_project, export):
    project = make_project("preference")
    with pytest.raises(ApplicationError, match="label_studio is written as") as exc:
        export(project, "label_studio", file_format="parquet")
    assert exc.value.field == "options.file_format"


def test_jsonl_on_request(make_project, export):
    project = make_project("preference")
    import_records(project, PREFERENCE_ITEMS)
    manifest, out = export(project, "label_studio", file_format="jsonl")
    lines = (out / manifest["files"][0]["path"]).read_text().splitlines()
    assert [json.loads(x)["meta"]["stepwise"]["external_id"] for x in lines] == ["p1", "p2", "p3"]
