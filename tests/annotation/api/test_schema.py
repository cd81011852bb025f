"""The OpenAPI schema, the offline docs page and the native record JSON Schema."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from annotation.importers.base import ImportIssue, ParsedItem, RecordError
from annotation.importers.native import NativeImporter, parse_native_record
from annotation.importers.schema import NATIVE_RECORD_SCHEMA

VALID: list[dict[str, Any]] = [
    {"external_id": "min", "steps": ["only step"]},
    {
        "external_id": 17,
        "group_key": "q-1",
        "prompt": "What is 2+3?",
        "reference_answer": "5",
        "final_answer": 5,
        "final_answer_correct": True,
        "generator_model": "m",
        "metadata": {"source": "test"},
        "steps": ["2+3=5", "So 5."],
        "annotations": [
            {
                "annotator": "experts",
                "first_error_index": -1,
                "finish_reason": "solution",
                "justification": "fine",
                "step_ratings": [1, None],
            }
        ],
    },
    {
        "external_id": "dlg",
        "turns": [{"speaker": "therapist", "text": "Hi"}, {"speaker": "client", "text": "Hey"}],
        "annotations": [
            {
                "annotator": "coders",
                "turn_labels": [
                    {"turn": 0, "field": "main_therapist_behaviour", "value": "question"},
                    {"turn": 1, "field": "client_talk_type", "value": "neutral"},
                ],
            }
        ],
    },
    {
        "external_id": "pref",
        "prompt": "Advice?",
        "metadata": None,
        "candidates": [
            {"text": "A", "source_model": "x", "metadata": {"upvotes": 3}},
            {"text": "B", "metadata": None},
        ],
        "annotations": [
            {
                "annotator": "upvotes",
                "preferences": [{"a": 0, "b": 1, "strength": -2, "margin": 3}],
                "principle_ratings": [
                    {"principle": "empathy", "candidate": 0, "value": 4},
                    {"principle": "empathy", "candidate": None, "value": -1},
                ],
            }
        ],
    },
    {"external_id": "falsy", "steps": ["s"], "annotations": None, "group_key": None},
]

INVALID: list[tuple[str, dict[str, Any]]] = [
    ("unknown-field", {"external_id": "x", "steps": ["s"], "colour": "red"}),
    ("missing-id", {"steps": ["s"]}),
    ("blank-id", {"external_id": "  ", "steps": ["s"]}),
    ("boolean-id", {"external_id": True, "steps": ["s"]}),
    ("no-content", {"external_id": "x", "steps": []}),
    ("empty-step", {"external_id": "x", "steps": ["ok", " "]}),
    ("step-not-string", {"external_id": "x", "steps": [1]}),
    ("turn-without-speaker", {"external_id": "x", "turns": [{"text": "hi"}]}),
    ("bad-rating", {"external_id": "x", "steps": ["s"],
                    "annotations": [{"annotator": "a", "step_ratings": [2]}]}),
    ("bad-finish", {"external_id": "x", "steps": ["s"],
                    "annotations": [{"annotator": "a", "finish_reason": "bored"}]}),
    ("strength-range", {"external_id": "x", "candidates": [{"text": "a"}, {"text": "b"}],
                        "annotations": [{"annotator": "a",
                                         "preferences": [{"a": 0, "b": 1, "strength": 4}]}]}),
    ("correct-not-bool", {"external_id": "x", "steps": ["s"], "final_answer_correct": "yes"}),
    ("annotations-not-list", {"external_id": "x", "steps": ["s"], "annotations": "all"}),
]  # fmt: skip


def test_openapi_schema_is_served(api_client):
    response = api_client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/projects/{slug}/items/" in schema["paths"]


def test_docs_page_renders_offline(api_client):
    response = api_client.get("/api/v1/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "/api/v1/projects/{slug}/imports/" in html
    # Nothing is loaded from another host: scripts and styles are the app's own static files.
    import re

    for attr in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert not attr.startswith(("http:", "https:", "//")), attr
    assert "<script>" not in html  # no inline script (CSP)
    assert 'class="topbar"' in html  # inside the app's layout


def test_docs_page_documents_every_operation_fully(api_client):
    from annotation.api.schema import method_part

    html = api_client.get("/api/v1/docs/").content.decode()
    # Internal docstrings of base classes never show.
    assert "Base of views" not in html
    assert "self.project" not in html
    # Job endpoints are documented, with their request fields and an example.
    assert "/api/v1/projects/{slug}/jobs/{id}/cancel/" in html
    assert "stops a queued or running job between chunks" in html
    assert "Items per chunk" in html  # a request field's help text
    assert "Example request" in html
    assert "Example response" in html
    assert "201 response body" in html
    # A view that describes two methods shows each its own part, whole.
    assert "Start an export (a worker writes it; poll the run, then download its files)." in html
    assert method_part("GET: list them. POST: create one.", "post") == "Create one."
    assert method_part("Intro. GET: list them. POST: make one.", "get") == "Intro.\n\nList them."
    assert method_part("No markers at all.", "get") == "No markers at all."


def test_import_schema_endpoint_serves_native_record_schema(api_client):
    response = api_client.get("/api/v1/schemas/import/")
    assert response.status_code == 200
    assert response.json() == NATIVE_RECORD_SCHEMA
    assert NATIVE_RECORD_SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(NATIVE_RECORD_SCHEMA)


@pytest.mark.parametrize("record", VALID, ids=lambda r: str(r["external_id"]))
def test_valid_record_passes_schema_and_parser(record):
    assert list(Draft202012Validator(NATIVE_RECORD_SCHEMA).iter_errors(record)) == []
    assert isinstance(parse_native_record(record, 1), ParsedItem)


@pytest.mark.parametrize("record", [r for _, r in INVALID], ids=[n for n, _ in INVALID])
def test_invalid_record_fails_schema_and_parser(record):
    assert not Draft202012Validator(NATIVE_RECORD_SCHEMA).is_valid(record)
    with pytest.raises(RecordError):
        parse_native_record(record, 1)


def test_importer_agrees_with_schema_on_a_whole_file():
    lines = [json.dumps(r) for r in VALID] + [json.dumps(INVALID[0][1])]
    events = list(
        NativeImporter().parse(
            io.BytesIO("\n".join(lines).encode()), options={}, max_line_bytes=100_000
        )
    )
    assert [type(e) for e in events] == [ParsedItem] * len(VALID) + [ImportIssue]
    assert events[-1].line == len(VALID) + 1
    assert events[-1].field == "colour"


def test_schema_generation_emits_no_warnings(tmp_path):
    """drf-spectacular reports enum name collisions, operationId clashes and views it cannot
    describe as warnings; `--fail-on-warn` turns any of them into an error."""
    from django.core.management import call_command

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    assert "operationId: projects_jobs_list" in out.read_text()


def test_every_operation_documents_its_error_answers():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    names = schema["components"]["schemas"]
    assert {"ProjectKindEnum", "UserKindEnum", "JobKindEnum", "RunStatusEnum"} <= set(names)
    assert {"AssignmentStatusEnum", "Error", "ValidationError"} <= set(names)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert "429" in codes, (method, path)
            if path not in ("/api/v1/", "/api/v1/auth/token/", "/api/v1/schemas/import/"):
                assert {"401", "403"} <= codes, (method, path)
            if "{slug}" in path:
                assert "404" in codes, (method, path)
            if "requestBody" in operation:
                assert {"400", "415"} <= codes, (method, path)
    create = schema["paths"]["/api/v1/projects/"]["post"]["responses"]
    assert {"201", "400", "403", "409"} <= set(create)
