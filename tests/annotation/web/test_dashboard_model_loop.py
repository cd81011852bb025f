"""The dashboard's model-loop panel: routed human labels, pre-fill overrides per method, the
accuracy/coverage chart and rules table, the agreement note, and the settings form."""

from __future__ import annotations

import io
import json

import pytest
from django.utils import timezone

from annotation.models import Annotation, Item, Role, StepLabel, Suggestion, User
from annotation.services.imports import dataset_import
from annotation.services.stats import project_stats_refresh

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(make_project):
    p = make_project("step_labels", slug="loop-dash")
    recs = [{"external_id": f"t{i}", "steps": ["a", "b", "c"],
             "annotations": [{"annotator": "expert", "first_error_index": i % 4 - 1}]}
            for i in range(8)]  # fmt: skip
    assert dataset_import(project=p, dataset_name="traces", fmt="native",
                          stream=io.BytesIO("".join(json.dumps(r) + "\n" for r in recs).encode())).ok  # fmt: skip
    for n, item in enumerate(p.items.order_by("id")):
        ref = n % 4 - 1
        wrong = 0 if ref != 0 else 1
        # judge always right, MC right on the first six, PRM right and sure on half.
        Suggestion.objects.create(item=item, target="item", method="verify", model_name="m",
                                  label=str(ref), job_id=1)  # fmt: skip
        Suggestion.objects.create(item=item, target="item", method="mc", model_name="m",
                                  label=str(ref if n < 6 else wrong), job_id=2)  # fmt: skip
        scores = [0.95, 0.95, 0.95] if n % 2 else [0.55, 0.55, 0.55]
        Suggestion.objects.create(item=item, target="item", method="prm", model_name="m",
                                  label="-1", job_id=3,
                                  raw={"scores": scores, "threshold": 0.5})  # fmt: skip
    return p


def test_panel_shows_routing_overrides_and_calibration(project, member, client):
    manager = member(project, Role.MANAGER)
    human = member(project)
    item = Item.objects.filter(project=project).order_by("id").first()
    Item.objects.filter(id=item.id).update(routed_at=timezone.now() - timezone.timedelta(hours=1))
    ann = Annotation.objects.create(item=item, annotator=human, source="human", prefilled=True,
                                    first_error_index=-1)  # fmt: skip
    for step, prov in zip(item.steps.order_by("index"),
                          ("model_confirmed", "model_changed", "model_confirmed"), strict=True):  # fmt: skip
        StepLabel.objects.create(annotation=ann, step=step, rating=1, provenance=prov,
                                 model_value=1, model_confidence=0.9, model_method="prm")  # fmt: skip
    project_stats_refresh(project=project)
    client.force_login(manager)
    html = client.get(f"/projects/{project.slug}/dashboard/").content.decode()
    assert "Model loop" in html
    assert "<span data-routed-labels>1</span> of 1 human labels" in html
    assert "0.333" in html  # prm: 1 changed of 3
    assert 'aria-label="Accuracy against coverage per method"' in html
    assert "judge and MC agree" in html
    assert "only 8 labeled items; auto-accept needs at least 50" in html
    assert "1 label made in verify-the-model mode is left out" in html
    assert "<script" not in html.split("<main", 1)[-1].split("</main>")[0]


def test_settings_form(project, member, client, routing_inline):
    manager, annotator = member(project, Role.MANAGER), member(project)
    url = f"/projects/{project.slug}/dashboard/model-loop/"
    form = {"routing": "uncertainty", "auto_accept_target": "0.9",
            "auto_accept_min_labeled": "5", "prefill": "on"}  # fmt: skip
    client.force_login(annotator)
    assert client.post(url, form).status_code == 403
    client.force_login(manager)
    with routing_inline():
        assert client.post(url, form).status_code == 302
    project.refresh_from_db()
    assert (project.routing, project.auto_accept_target, project.auto_accept_min_labeled,
            project.prefill) == ("uncertainty", 0.9, 5, True)  # fmt: skip
    # The items were ranked at once: the PRM (always "no error") disagrees with the judge on
    # the six items that have an error; the two others agree and rank below.
    top = Item.objects.filter(project=project, priority=1000)
    assert top.count() == 6
    assert not top.filter(external_id__in=["t0", "t4"]).exists()
    project_stats_refresh(project=project)
    html = client.get(f"/projects/{project.slug}/dashboard/").content.decode()
    # 8 labeled items now reach the minimum; judge ∧ MC is 6/6 (low 0.61 < 0.9), no rule.
    assert "no rule&#x27;s accuracy lower bound reaches 0.90" in html
    resp = client.post(url, {**form, "auto_accept_target": "3"}, follow=True)
    assert "auto_accept_target" in resp.content.decode()
    project.refresh_from_db()
    assert project.auto_accept_target == 0.9
    assert User.objects.filter(username="expert").exists()
