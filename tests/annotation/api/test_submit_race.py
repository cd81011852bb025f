"""Twenty identical submits of one assignment at once (a client retrying in a burst): one
annotation is stored, and exactly one reply says 201 Created; the others say 200."""

from __future__ import annotations

import io
import json
import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotation.models import Annotation, AnnotationRevision, Item, Role
from annotation.services.assignments import assignment_claim_next
from annotation.services.imports import dataset_import

THREADS = 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_identical_submits_answer_201_exactly_once(make_project, member):
    project = make_project(slug="race", overlap=1)
    record = {"external_id": "r1", "prompt": "1+1?", "steps": ["1+1=2", "So 2."]}
    result = dataset_import(
        project=project,
        dataset_name="d",
        fmt="native",
        stream=io.BytesIO(json.dumps(record).encode()),
    )
    assert result.ok, result.errors
    annotator = member(project, Role.ANNOTATOR)
    assignment = assignment_claim_next(project=project, annotator=annotator)
    body = {
        "labels": {"steps": [{"index": 0, "rating": 1}, {"index": 1, "rating": 1}]},
        "client_token": "burst-1",
        "active_ms": 1000,
    }
    url = f"/api/v1/projects/race/assignments/{assignment.id}/submit/"
    barrier = threading.Barrier(THREADS)
    statuses: list[int] = []
    bodies: list[dict] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            client = APIClient()
            client.force_authenticate(annotator)
            barrier.wait()
            response = client.post(url, body, format="json")
            statuses.append(response.status_code)
            bodies.append(response.json())
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(statuses) == [200] * (THREADS - 1) + [201]
    assert len({b["id"] for b in bodies}) == 1
    assert Annotation.objects.filter(item__project=project).count() == 1
    assert AnnotationRevision.objects.filter(annotation__item__project=project).count() == 1
    assert Item.objects.get(project=project).done_count == 1
