"""Schemathesis against the OpenAPI schema, through the WSGI app, as a manager and as an
annotator of a project with data: no answer is a 5xx, every status is documented, and every
body conforms to the schema, for valid and for invalid (negative) inputs.

`STEPWISE_SCHEMATHESIS_EXAMPLES` (default 12) bounds the fuzzed examples per operation and
role; the coverage phase adds schemathesis' boundary cases (maxima + 1, empty strings,
wrong types). Path parameters are pointed at the project and, for even ids, at a real
object of the right kind, so handlers run on real rows and not only on 404s.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from annotation.models import ExportRun, ImportRun, Item, Membership, Role
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next
from annotation.services.flags import flag_create
from annotation.services.imports import dataset_import
from annotation.services.study import study_link_create
from config.wsgi import application
from labeling_jobs.models import LabelingJob

EXAMPLES = int(os.environ.get("STEPWISE_SCHEMATHESIS_EXAMPLES", "12"))
# Not `negative_data_rejection`: form-encoded bodies and query strings are parsed leniently
# on purpose ("0" is false, a bad page_size falls back to the default); negative examples
# are still generated and must not crash anything.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
RECORDS = [
    {"external_id": f"t{i}", "prompt": f"{i}+1?", "steps": [f"{i}+1={i + 1}", f"So {i + 1}."]}
    for i in range(6)
]


@pytest.fixture
def wsgi_keeps_test_connection():
    """Schemathesis calls the WSGI app, whose request signals close "old" connections: the
    test's connection, inside its transaction. Django's test client unhooks them the same
    way for its requests."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(make_project, member, make_user, wsgi_keeps_test_connection) -> dict[str, Any]:
    """A step-labels project with items, a manager and an annotator with API tokens, and one
    row of every kind a path can name (membership, dataset, item, assignment, annotation,
    import run, export run, labeling job)."""
    manager = make_user("fuzz-manager", can_create_projects=True)
    project = make_project(kind="step_labels", slug="fuzz", manager=manager)
    data = "".join(json.dumps(r) + "\n" for r in RECORDS).encode()
    result = dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(data)
    )
    assert result.ok, result.errors
    annotator = member(project, Role.ANNOTATOR)
    removable = member(project, Role.REVIEWER)
    done = assignment_claim_next(project=project, annotator=annotator)
    labels = {"steps": [{"index": 0, "rating": 1}, {"index": 1, "rating": 1}]}
    annotation = annotation_submit(assignment=done, labels=labels, client_token="t-1")
    open_assignment = assignment_claim_next(project=project, annotator=annotator)
    flag_create(item=done.item, user=annotator, reason="broken", note="n")
    ids = {
        "members": Membership.objects.get(project=project, user=removable).id,
        "datasets": result.dataset_id,
        "items": Item.objects.filter(project=project).order_by("id").first().id,
        "assignments": open_assignment.id,
        "annotations": annotation.id,
        "imports": ImportRun.objects.create(project=project, dataset_name="d", format="native").id,
        "exports": ExportRun.objects.create(project=project, format="trl_stepwise").id,
        "jobs": LabelingJob.objects.create(project=project, kind="step_judge", backend="none").id,
        "study-links": study_link_create(
            project=project, user=manager, data={"name": "s", "completion_code": "C"}
        ).id,
    }
    return {
        "project": project,
        "ids": ids,
        "tokens": {
            "manager": Token.objects.create(user=manager).key,
            "annotator": Token.objects.create(user=annotator).key,
        },
    }


# Loaded at collection: the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)


def _aim(case: Any, world: dict[str, Any]) -> None:
    """Point the path at the project, and even ids at a real object of the path's kind."""
    params = case.path_parameters
    if params is None:
        return
    if "slug" in params:
        params["slug"] = world["project"].slug
    if isinstance(params.get("id"), int) and params["id"] % 2 == 0:
        kind = re.search(r"/([\w-]+)/\{id\}", case.operation.path).group(1)
        params["id"] = world["ids"][kind]


# (role, "METHOD /path") -> [examples, status codes seen]; written to test-artifacts/ at the end.
TALLY: dict[str, dict[str, Any]] = {}


def _run(case: Any, world: dict[str, Any], role: str) -> None:
    _aim(case, world)
    response = case.call(headers={"Authorization": f"Token {world['tokens'][role]}"})
    entry = TALLY.setdefault(role, {}).setdefault(
        f"{case.operation.method.upper()} {case.operation.path}", {"examples": 0, "statuses": {}}
    )
    entry["examples"] += 1
    code = str(response.status_code)
    entry["statuses"][code] = entry["statuses"].get(code, 0) + 1
    case.validate_response(response, checks=CHECKS)


@pytest.fixture(scope="module", autouse=True)
def _write_tally():
    yield
    if not TALLY:
        return
    out = Path(__file__).resolve().parents[3] / "test-artifacts" / "schemathesis.json"
    out.parent.mkdir(exist_ok=True)
    summary = {
        role: {
            "operations": len(ops),
            "examples": sum(o["examples"] for o in ops.values()),
            "server_errors": sum(
                n for o in ops.values() for c, n in o["statuses"].items() if c.startswith("5")
            ),
        }
        for role, ops in TALLY.items()
    }
    out.write_text(json.dumps({"summary": summary, "operations": TALLY}, indent=1))


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.slow
@schema.parametrize()
@FUZZ
def test_api_as_manager(case, world):
    _run(case, world, "manager")


@pytest.mark.slow
@schema.parametrize()
@FUZZ
def test_api_as_annotator(case, world):
    _run(case, world, "annotator")
