"""The manager's set-up pages: settings, label schema editor with preview, members."""

from __future__ import annotations

import io
import json

import pytest
from django.urls import reverse

from annotation.models import Membership, Project, Role
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next
from annotation.services.imports import dataset_import

pytestmark = pytest.mark.django_db

PAGES = ("project_settings", "project_schema", "project_members")


def _import(project: Project, *records: dict) -> None:
    data = io.BytesIO("".join(json.dumps(r) + "\n" for r in records).encode())
    assert dataset_import(project=project, dataset_name="d", fmt="native", stream=data).ok


def _settings_post(project: Project, **changes) -> dict:
    data = {"name": project.name, "description": "", "instructions": "", "overlap": project.overlap,
            "step_mode": "rate_every_step", "gold_rate": 0.05, "gold_min_accuracy": 0.7,
            "gold_min_items": 5, "show_suggestions": "on", "consensus_auto_accept": "on",
            "routing": "priority", "auto_accept_target": 0.95,
            "auto_accept_min_labeled": 50}  # fmt: skip
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize("page", PAGES)
def test_pages_are_for_managers_only(client, make_project, member, make_user, page):
    project = make_project(slug="p1")
    url = reverse(page, args=["p1"])
    client.force_login(make_user("outsider"))
    assert client.get(url).status_code == 404
    assert client.post(url, {}).status_code == 404
    for role in (Role.ANNOTATOR, Role.REVIEWER, Role.RESEARCHER):
        client.force_login(member(project, role))
        assert client.get(url).status_code == 403
        assert client.post(url, {}).status_code == 403
    client.force_login(project.created_by)
    assert client.get(url).status_code == 200


def test_annotator_cannot_edit_settings_or_members(client, make_project, member):
    project = make_project(slug="p1")
    annotator = member(project, Role.ANNOTATOR)
    client.force_login(annotator)
    response = client.post(
        reverse("project_settings", args=["p1"]), _settings_post(project, instructions="Mine")
    )
    assert response.status_code == 403
    boss = Membership.objects.get(project=project, user=project.created_by)
    assert client.post(reverse("project_member_remove", args=["p1", boss.id])).status_code == 403
    assert (
        client.post(
            reverse("project_member_role", args=["p1", boss.id]), {"role": "annotator"}
        ).status_code
        == 403
    )
    assert Project.objects.get(id=project.id).instructions == ""
    detail = client.get(reverse("project_detail", args=["p1"]))
    assert reverse("project_settings", args=["p1"]).encode() not in detail.content


def test_settings_saved_and_instructions_shown_to_annotators_safely(client, make_project, member):
    project = make_project(slug="p1")
    _import(project, {"external_id": "t1", "prompt": "2+2?", "steps": ["4"]})
    client.force_login(project.created_by)
    page = client.get(reverse("project_settings", args=["p1"]))
    assert b"Step mode" in page.content
    assert reverse("project_backup", args=["p1"]).encode() in page.content
    text = "Mark the **first** wrong step. <script>alert(1)</script> $x^2$"
    response = client.post(
        reverse("project_settings", args=["p1"]),
        _settings_post(project, instructions=text, step_mode="first_error", overlap=2,
                       show_suggestions=None),
    )  # fmt: skip
    assert response.status_code == 302
    fresh = Project.objects.get(id=project.id)
    assert (fresh.instructions, fresh.overlap, fresh.label_schema["mode"]) == (
        text,
        2,
        "first_error",
    )
    assert fresh.show_suggestions is False
    client.force_login(member(fresh, Role.ANNOTATOR))
    annotate = client.get(reverse("annotate", args=["p1"])).content.decode()
    assert 'data-toggle="instructions"' in annotate
    assert "<strong>first</strong>" in annotate
    assert "<script>alert(1)</script>" not in annotate
    assert "&lt;script&gt;" in annotate
    assert 'name="first_error_index"' in annotate  # the step mode reached the labeling form


def test_settings_form_shows_errors(client, make_project):
    project = make_project(slug="p1")
    client.force_login(project.created_by)
    response = client.post(
        reverse("project_settings", args=["p1"]), _settings_post(project, overlap=0, gold_rate=3)
    )
    assert response.status_code == 400
    assert b"Ensure this value is greater than or equal to 1" in response.content
    assert Project.objects.get(id=project.id).overlap == 1


def test_instructions_preview_renders_markdown_safely(client, make_project):
    project = make_project(slug="p1")
    client.force_login(project.created_by)
    response = client.post(
        reverse("project_instructions_preview", args=["p1"]),
        {"instructions": "# Title\n<img src=x onerror=alert(1)>"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert b"<h1>Title</h1>" in response.content
    assert b"<img" not in response.content


def _coded_dialogue(make_project, member) -> Project:
    project = make_project("dialogue_coding", slug="dlg")
    _import(project, {"external_id": "d", "turns": [{"speaker": "therapist", "text": "How are you?"},
                                                    {"speaker": "client", "text": "Fine."}]})  # fmt: skip
    asg = assignment_claim_next(project=project, annotator=member(project))
    annotation_submit(assignment=asg, labels={"turns": [
        {"index": 0, "field": "main_therapist_behaviour", "value": "reflection"}]})  # fmt: skip
    return project


def test_schema_editor_refuses_invalid_and_orphaning_schemas(client, make_project, member):
    project = _coded_dialogue(make_project, member)
    client.force_login(project.created_by)
    url = reverse("project_schema", args=["dlg"])
    assert b"main_therapist_behaviour" in client.get(url).content
    bad_json = client.post(url, {"label_schema": "{not json"})
    assert bad_json.status_code == 400
    assert b"Not valid JSON" in bad_json.content
    invalid = client.post(url, {"label_schema": json.dumps({"fields": [{"name": "x"}]})})
    assert invalid.status_code == 400
    assert b"label_schema.fields[0]: needs a name and a role" in invalid.content
    fields = json.loads(json.dumps(project.label_schema["fields"]))
    fields[0]["choices"].remove("reflection")
    orphan = client.post(url, {"label_schema": json.dumps({"fields": fields})})
    assert orphan.status_code == 400
    assert b"main_therapist_behaviour: &#x27;reflection&#x27; (1 annotation)" in orphan.content
    assert "reflection" in Project.objects.get(id=project.id).label_schema["fields"][0]["choices"]
    fields[0]["choices"].append("reflection")
    fields[0]["choice_labels"] = {"reflection": "Reflective listening"}
    saved = client.post(url, {"label_schema": json.dumps({"fields": fields})})
    assert saved.status_code == 302
    assert Project.objects.get(id=project.id).label_schema["fields"][0]["choice_labels"]


def test_schema_preview_shows_the_labeling_form_and_warnings(client, make_project, member):
    project = _coded_dialogue(make_project, member)
    client.force_login(project.created_by)
    url = reverse("project_schema_preview", args=["dlg"])
    fields = json.loads(json.dumps(project.label_schema["fields"]))
    fields[0]["label"] = "Therapist move"
    fields[0]["choice_labels"] = {"question": "Asks a question"}
    ok = client.post(
        url, {"label_schema": json.dumps({"fields": fields})}, headers={"HX-Request": "true"}
    )
    assert ok.status_code == 200
    assert b"Therapist move" in ok.content
    assert b"Asks a question" in ok.content
    assert b"How are you?" in ok.content
    assert b'id="schema-valid"' in ok.content
    fields[0]["choices"].remove("reflection")
    warn = client.post(
        url, {"label_schema": json.dumps({"fields": fields})}, headers={"HX-Request": "true"}
    )
    assert b'id="schema-orphans"' in warn.content
    assert b"used by 1 annotation" in warn.content
    bad = client.post(url, {"label_schema": "[]"}, headers={"HX-Request": "true"})
    assert b'id="schema-problem"' in bad.content


def test_members_page_adds_changes_and_removes(client, make_project, make_user):
    boss = make_user("boss", can_create_projects=True)
    project = make_project(slug="p1", manager=boss)
    make_user("ada", email="ada@example.org")
    client.force_login(boss)
    url = reverse("project_members", args=["p1"])
    added = client.post(
        url, {"user": "ada@example.org", "role": "annotator"}, headers={"HX-Request": "true"}
    )
    assert added.status_code == 200
    assert b"ada: annotator." in added.content
    m = Membership.objects.get(project=project, user__username="ada")
    client.post(reverse("project_member_role", args=["p1", m.id]), {"role": "reviewer"})
    assert Membership.objects.get(id=m.id).role == Role.REVIEWER
    unknown = client.post(url, {"user": "ghost", "role": "annotator"})
    assert unknown.status_code == 400
    assert b"No user you can add has this username or email." in unknown.content
    mine = Membership.objects.get(project=project, user=boss)
    last = client.post(
        reverse("project_member_remove", args=["p1", mine.id]), headers={"HX-Request": "true"}
    )
    assert b"a project keeps at least one manager" in last.content
    assert Membership.objects.filter(id=mine.id).exists()
    client.post(reverse("project_member_remove", args=["p1", m.id]))
    assert not Membership.objects.filter(id=m.id).exists()
    other = make_project(slug="p2")
    foreign = Membership.objects.get(project=other)
    assert client.post(reverse("project_member_remove", args=["p1", foreign.id])).status_code == 404


def test_project_page_links_settings_for_managers(client, make_project):
    project = make_project(slug="p1")
    client.force_login(project.created_by)
    page = client.get(reverse("project_detail", args=["p1"])).content
    assert reverse("project_settings", args=["p1"]).encode() in page
    assert reverse("project_members", args=["p1"]).encode() in page


@pytest.mark.parametrize(
    ("kind", "record", "schema", "shown"),
    [
        ("step_labels", {"external_id": "t", "prompt": "2+2?", "steps": ["4"]},
         {"mode": "rate_every_step", "ratings": [
             {"value": -1, "name": "bad"}, {"value": 0, "name": "meh"}, {"value": 1, "name": "great"}]},
         "great"),
        ("preference", {"external_id": "p", "prompt": "I feel low.", "candidates": [{"text": "A"}, {"text": "B"}]},
         {"principles": ["warmth"], "principle_labels": {"warmth": {"label": "Warm tone", "help": "Kind."}}},
         "Warm tone"),
    ],
)  # fmt: skip
def test_schema_preview_for_each_kind(client, make_project, kind, record, schema, shown):
    project = make_project(kind, slug="k1")
    _import(project, record)
    client.force_login(project.created_by)
    response = client.post(
        reverse("project_schema_preview", args=["k1"]),
        {"label_schema": json.dumps(schema)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert b'id="schema-valid"' in response.content
    assert shown.encode() in response.content
    assert Project.objects.get(id=project.id).label_schema != schema  # nothing saved


@pytest.mark.parametrize(
    ("text", "message"),
    [("[" * 50_000 + "]" * 50_000, b"nested too deeply"),
     ('{"fields": [{"name": "a\\u0000", "role": "client", "choices": ["x"]}]}', b"NUL")],
)  # fmt: skip
def test_schema_editor_refuses_what_the_database_cannot_take(client, make_project, text, message):
    project = make_project("dialogue_coding", slug="dlg")
    client.force_login(project.created_by)
    response = client.post(reverse("project_schema", args=["dlg"]), {"label_schema": text})
    assert response.status_code == 400
    assert message in response.content
