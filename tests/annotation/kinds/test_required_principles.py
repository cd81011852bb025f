"""Required principles: the label schema marks them, the form says so, and the preference kind
refuses a label that leaves one unrated (a field error naming it); gold answers need none."""

from __future__ import annotations

import io
import json

import pytest
from django.urls import reverse

from annotation.errors import ApplicationError
from annotation.kinds import label_schema_validate
from annotation.kinds.base import ItemPart
from annotation.kinds.preference import PreferencePairs
from annotation.kinds.preference_schema import principle_names, principle_specs
from annotation.models import Annotation
from annotation.services.imports import dataset_import

KIND = PreferencePairs()
PARTS = {0: ItemPart(10), 1: ItemPart(11)}
SCHEMA = label_schema_validate(
    "preference",
    {
        "principles": [{"name": "empathy", "required": True}, "clarity"],
        "justification_required": False,
    },
)


def _payload(*ratings: tuple[str, int | None]) -> dict:
    return {
        "candidate_a": 0,
        "candidate_b": 1,
        "strength": -1,
        "principles": [
            {"principle": n, "candidate": c, "value": 4 if c is not None else 1} for n, c in ratings
        ],
    }


def test_specs_accept_names_and_objects() -> None:
    specs = principle_specs(SCHEMA)
    assert [(p.name, p.label, p.required) for p in specs] == [
        ("empathy", "Empathy", True),
        ("clarity", "Clarity", False),
    ]
    assert principle_names(SCHEMA) == ["empathy", "clarity"]


@pytest.mark.parametrize(
    ("principles", "field"),
    [
        ([{"required": True}], "label_schema.principles[0]"),
        (["empathy", {"name": "empathy"}], "label_schema.principles[1].name"),
        ([{"name": "empathy", "required": "yes"}], "label_schema.principles[0].required"),
    ],
)
def test_schema_check_refuses_bad_principles(principles, field) -> None:
    with pytest.raises(ApplicationError) as exc:
        label_schema_validate("preference", {"principles": principles})
    assert exc.value.field == field


def test_missing_required_principle_is_a_field_error() -> None:
    with pytest.raises(ApplicationError) as exc:
        KIND.validate(schema=SCHEMA, parts=PARTS, payload=_payload(("empathy", 0), ("clarity", 0)))
    assert exc.value.field == "principles.empathy"
    assert exc.value.code == "required"
    assert "Empathy is required" in str(exc.value)


def test_required_principles_rated_for_both_responses_pass() -> None:
    labels = KIND.validate(
        schema=SCHEMA, parts=PARTS, payload=_payload(("empathy", 0), ("empathy", 1))
    )
    assert {(p["principle"], p["candidate"]) for p in labels["principles"]} == {
        ("empathy", 0),
        ("empathy", 1),
    }


def test_per_pair_needs_one_rating_and_gold_needs_none() -> None:
    schema = {**SCHEMA, "principle_mode": "per_pair"}
    with pytest.raises(ApplicationError):
        KIND.validate(schema=schema, parts=PARTS, payload=_payload())
    KIND.validate(schema=schema, parts=PARTS, payload=_payload(("empathy", None)))
    KIND.validate(schema=SCHEMA, parts=PARTS, payload=_payload(), gold=True)


@pytest.mark.django_db
def test_form_marks_required_and_submit_refuses_without(client, make_project, member) -> None:
    project = make_project("preference", label_schema=SCHEMA)
    data = json.dumps(
        {"external_id": "p1", "prompt": "I feel low", "candidates": [{"text": "A"}, {"text": "B"}]}
    )
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(data.encode() + b"\n")
    ).ok
    client.force_login(member(project))
    page = client.get(reverse("annotate", args=[project.slug]))
    html = page.content.decode()
    assert html.count('data-required="Empathy"') == 2  # left and right
    assert 'data-required="Clarity"' not in html
    assert "must be rated" in html
    url = reverse("annotate_submit", args=[project.slug, page.context["current"]["assignment"].id])
    post = {"strength": "-2", "pr-empathy-left": "4", "client_token": "a"}
    refused = client.post(url, post, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422
    assert "Empathy is required" in refused.content.decode()
    assert not Annotation.objects.exists()
    ok = client.post(
        url, {**post, "pr-empathy-right": "2", "client_token": "b"}, HTTP_HX_REQUEST="true"
    )
    assert ok.status_code == 200
    assert Annotation.objects.get().principle_ratings.count() == 2
