from __future__ import annotations

import io
import json

from annotation.models import Annotation, Candidate, Flag, Item, PreferenceLabel, StatsRefresh
from annotation.selectors.stats import project_stats_get, stats_refresh_latest
from annotation.services.gold import item_gold_set
from annotation.services.imports import dataset_import
from annotation.services.stats import (
    project_stats_refresh,
    project_stats_refresh_execute,
    project_stats_refresh_start,
)


def _steps_project(make_project, make_user):
    project = make_project("step_labels", slug="stats")
    recs = []
    for i in range(10):
        anns = [{"annotator": "good", "first_error_index": i % 3 - 1},
                {"annotator": "bad", "first_error_index": 2 if i % 3 else -1}]  # fmt: skip
        recs.append({"external_id": f"t{i}", "steps": ["a", "b", "c"], "annotations": anns})
    assert dataset_import(
        project=project, dataset_name="d", fmt="native",
        stream=io.BytesIO("".join(json.dumps(r) + "\n" for r in recs).encode()),
    ).ok  # fmt: skip
    manager = make_user()
    for item in Item.objects.filter(project=project)[:6]:
        truth = int(item.external_id[1:]) % 3 - 1
        item_gold_set(item=item, user=manager, labels={"first_error_index": truth})
    human = make_user("human1")
    Annotation.objects.create(item=item, annotator=human, source="human", first_error_index=0,
                              time_spent_ms=4000)  # fmt: skip
    Flag.objects.create(item=item, user=human, reason="broken", note="steps garbled")
    return project


def test_refresh_computes_every_figure(make_project, make_user):
    project = _steps_project(make_project, make_user)
    project.gold_min_items = 3
    project.save()
    figures = project_stats_refresh(project=project)
    assert set(figures) == {
        "progress", "throughput", "agreement", "annotators", "flags", "model_loop",
    }  # fmt: skip
    assert figures["model_loop"]["routing"] == "priority"
    assert figures["progress"]["total"]["items"] == 10
    assert figures["progress"]["total"]["labelled"] == 10
    assert figures["progress"]["total"]["gold"] == 6
    assert figures["throughput"]["total"] == 1
    rows = {r["name"]: r for r in figures["annotators"]["rows"]}
    assert rows["good"]["gold_accuracy"] == 1.0
    assert not rows["good"]["flagged"]
    assert rows["bad"]["gold_n"] == 6
    assert rows["bad"]["flagged"]
    assert rows["human1"]["median_ms"] == 4000
    assert figures["flags"]["open"] == 1
    stored = project_stats_get(project=project)
    assert set(stored) == {*figures, "_computed_at"}
    assert stored["agreement"]["fields"][2]["field"] == "first_error_index"


def test_refresh_start_claims_once(make_project, make_user, django_capture_on_commit_callbacks):
    project = _steps_project(make_project, make_user)
    with django_capture_on_commit_callbacks() as callbacks:
        assert project_stats_refresh_start(project=project)
        assert not project_stats_refresh_start(project=project)
    assert len(callbacks) == 1
    refresh = stats_refresh_latest(project=project)
    assert refresh.status == StatsRefresh.Status.QUEUED
    done = project_stats_refresh_execute(refresh_id=refresh.id)
    assert done.status == StatsRefresh.Status.SUCCEEDED
    assert done.attempts == 1
    assert done.seconds is not None
    assert project_stats_refresh_execute(refresh_id=refresh.id) is None
    assert "agreement" in project_stats_get(project=project)
    # Once it ended, a new refresh may start.
    with django_capture_on_commit_callbacks() as callbacks:
        assert project_stats_refresh_start(project=project)
    assert len(callbacks) == 1
    assert StatsRefresh.objects.filter(project=project).count() == 2


def test_position_bias(make_project, make_user):
    project = make_project("preference", slug="bias")
    rec = {"external_id": "p", "prompt": "q", "candidates": [{"text": "a"}, {"text": "b"}]}
    assert dataset_import(project=project, dataset_name="d", fmt="native",
                          stream=io.BytesIO((json.dumps(rec) + "\n").encode())).ok  # fmt: skip
    item = Item.objects.get(project=project)
    a, b = Candidate.objects.filter(item=item).order_by("index")
    for n in range(4):
        user = make_user(f"h{n}")
        ann = Annotation.objects.create(item=item, annotator=user, source="human")
        # the first three always pick the left one
        PreferenceLabel.objects.create(annotation=ann, candidate_a=a, candidate_b=b,
                                       strength=-2 if n < 3 else 2, left_candidate=a)  # fmt: skip
    figures = project_stats_refresh(project=project)
    rows = {r["name"]: r for r in figures["annotators"]["rows"]}
    assert rows["h0"]["position_bias"]["rate"] == 1.0
    assert rows["h3"]["position_bias"]["rate"] == 0.0
