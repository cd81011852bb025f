"""The labeling page's "N to go" counter moves after every submit, also for the annotator
whose submit completes an item (the second of overlap 2), with a real cache in front of the
incomplete-item count (the suite's dummy cache would hide a stale count)."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse

from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next
from annotation.services.imports import dataset_import

pytestmark = pytest.mark.django_db

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# kind -> (schema, 3 records, a valid form POST, the same labels as a payload)
CASES = {
    "step_labels": (
        {},
        [{"external_id": f"x{i}", "prompt": "P", "steps": ["a", "b"]} for i in range(3)],
        {"rating-0": "1", "rating-1": "1"},
        {"steps": [{"index": 0, "rating": 1}, {"index": 1, "rating": 1}]},
    ),
    "dialogue_coding": (
        {},
        [
            {
                "external_id": f"x{i}",
                "turns": [
                    {"speaker": "therapist", "text": "Hi"},
                    {"speaker": "client", "text": "Hello"},
                ],
            }
            for i in range(3)
        ],  # fmt: skip
        {"code-0-main_therapist_behaviour": "question"},
        {"turns": [{"index": 0, "field": "main_therapist_behaviour", "value": "question"}]},
    ),
    "preference": (
        {"justification_required": False},
        [
            {
                "external_id": f"x{i}",
                "prompt": "I feel low",
                "candidates": [{"text": "A"}, {"text": "B"}],
            }
            for i in range(3)
        ],  # fmt: skip
        {"strength": "-1"},
        {"candidate_a": 0, "candidate_b": 1, "strength": -1},
    ),
}


def _to_go(html: str) -> int:
    m = re.search(r"·\s*(\d+) to go", html)
    assert m, html[:2000]
    return int(m.group(1))


@pytest.fixture(autouse=True)
def _clear_cache():
    yield
    cache.clear()


@override_settings(CACHES=LOCMEM)
@pytest.mark.parametrize("kind", list(CASES))
def test_counter_moves_for_the_annotator_who_completes_items(
    client, make_project, member, kind, django_capture_on_commit_callbacks
) -> None:
    cache.clear()
    schema, records, form, payload = CASES[kind]
    project = make_project(kind, overlap=2, label_schema=schema)
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(data)
    ).ok
    first, second = member(project), member(project)
    for n in range(3):
        asg = assignment_claim_next(project=project, annotator=first)
        annotation_submit(assignment=asg, labels=payload, client_token=f"first{n}")
    client.force_login(second)
    page = client.get(reverse("annotate", args=[project.slug]))
    assert _to_go(page.content.decode()) == 3  # the cached count is now 3
    seen = []
    held = [page.context["current"]["assignment"].id, page.context["task"]["assignment"].id]
    for n in range(3):
        url = reverse("annotate_submit", args=[project.slug, held[n]])
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(url, {**form, "client_token": f"s{n}"}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200, response.content
        seen.append(_to_go(response.content.decode()))
        if n == 0:  # the page's background prefetch claims the third item
            nxt = assignment_claim_next(project=project, annotator=second, exclude_ids=held)
            assert nxt is not None
            held.append(nxt.id)
    assert seen == [2, 1, 0]
