"""Project settings, the label schema editor's checks, and members by username or email."""

from __future__ import annotations

import io
import json

import pytest

from annotation.errors import ApplicationError
from annotation.models import Item, Membership, Project, Role
from annotation.project_settings import PROJECT_SETTINGS, project_settings_for
from annotation.selectors.project_settings import project_schema_orphans, project_settings_get
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next
from annotation.services.imports import dataset_import
from annotation.services.project_settings import project_schema_set, project_settings_update
from annotation.services.projects import membership_add, membership_remove, membership_set

pytestmark = pytest.mark.django_db


def _import(project: Project, *records: dict) -> None:
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(data)
    ).ok


DIALOGUE = {"external_id": "d", "turns": [{"speaker": "therapist", "text": "How are you?"},
                                          {"speaker": "client", "text": "I want to change."}]}  # fmt: skip


def _coded(make_project, member) -> Project:
    """A dialogue project whose one item is coded `question` / `change` by one annotator."""
    project = make_project("dialogue_coding")
    _import(project, DIALOGUE)
    asg = assignment_claim_next(project=project, annotator=member(project))
    annotation_submit(assignment=asg, labels={"turns": [
        {"index": 0, "field": "main_therapist_behaviour", "value": "question"},
        {"index": 1, "field": "client_talk_type", "value": "change"}]})  # fmt: skip
    return project


def test_settings_update_writes_columns_and_the_step_mode(make_project):
    project = make_project("step_labels")
    updated = project_settings_update(project=project, values={
        "name": "  Math steps ", "instructions": "Rate **every** step.", "overlap": 3,
        "step_mode": "first_error", "gold_rate": 0.25, "show_suggestions": False,
        "consensus_auto_accept": False})  # fmt: skip
    fresh = Project.objects.get(id=project.id)
    assert (fresh.name, fresh.overlap, fresh.gold_rate) == ("Math steps", 3, 0.25)
    assert fresh.label_schema["mode"] == "first_error"
    assert fresh.show_suggestions is False
    assert fresh.consensus_auto_accept is False
    assert project_settings_get(project=updated)["step_mode"] == "first_error"


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"overlap": 0}, "overlap", "between 1 and 50"),
        ({"gold_rate": 1.5}, "gold_rate", "between 0 and 1"),
        ({"gold_rate": float("nan")}, "gold_rate", "finite"),
        ({"gold_min_items": 2.5}, "gold_min_items", "whole number"),
        ({"show_suggestions": "yes"}, "show_suggestions", "true or false"),
        ({"step_mode": "sometimes"}, "step_mode", "one of"),
        ({"name": "   "}, "name", "may not be empty"),
        ({"name": "x" * 201}, "name", "at most 200"),
        ({"slug": "new"}, "slug", "no such setting"),
    ],
)
def test_invalid_settings_are_refused_naming_the_setting(make_project, values, field, message):
    project = make_project("step_labels")
    with pytest.raises(ApplicationError, match=message) as exc:
        project_settings_update(project=project, values={"overlap": 2, **values})
    assert exc.value.field == field
    assert Project.objects.get(id=project.id).overlap == 1  # all or nothing


def test_step_mode_applies_only_to_kinds_whose_schema_has_it(make_project):
    dialogue = make_project("dialogue_coding")
    assert "step_mode" not in {s.name for s in project_settings_for(dialogue)}
    assert "step_mode" in {s.name for s in project_settings_for(make_project("step_labels"))}
    with pytest.raises(ApplicationError, match="does not apply"):
        project_settings_update(project=dialogue, values={"step_mode": "first_error"})


def test_every_declared_setting_is_a_column_or_a_schema_key():
    columns = {f.name for f in Project._meta.get_fields()}
    for s in PROJECT_SETTINGS:
        assert s.schema_key or s.name in columns, s.name


def test_schema_set_validates_through_the_kind(make_project):
    project = make_project("dialogue_coding")
    with pytest.raises(ApplicationError, match="1 to 9 choices") as exc:
        project_schema_set(project=project, label_schema={"fields": [
            {"name": "code", "role": "client", "choices": []}]})  # fmt: skip
    assert exc.value.field == "label_schema.fields[0].choices"
    with pytest.raises(ApplicationError, match="names no value"):
        project_schema_set(project=project, label_schema={"fields": [
            {"name": "code", "role": "client", "choices": ["a"], "choice_labels": {"b": "B"}}]})  # fmt: skip
    saved = project_schema_set(project=project, label_schema={"fields": [
        {"name": "talk", "label": "Talk type", "role": "client", "choices": ["change", "sustain"],
         "choice_labels": {"change": "Change talk"}}]})  # fmt: skip
    assert saved.label_schema["fields"][0]["choice_labels"] == {"change": "Change talk"}


def test_schema_change_refuses_to_orphan_labels_and_counts_them(make_project, member):
    project = _coded(make_project, member)
    fields = json.loads(json.dumps(project.label_schema["fields"]))
    fields[0]["choices"].remove("question")
    orphans = project_schema_orphans(project=project, label_schema={"fields": fields})
    assert [(o.what, o.annotations) for o in orphans] == [
        ("main_therapist_behaviour: 'question'", 1)
    ]
    with pytest.raises(ApplicationError, match=r"'question' \(1 annotation\)") as exc:
        project_schema_set(project=project, label_schema={"fields": fields})
    assert exc.value.status == 409
    assert "question" in Project.objects.get(id=project.id).label_schema["fields"][0]["choices"]
    # Renaming a value's display name orphans nothing.
    fields = json.loads(json.dumps(project.label_schema["fields"]))
    fields[0]["choice_labels"] = {"question": "Open or closed question"}
    project_schema_set(project=project, label_schema={"fields": fields})
    # An unused value may go.
    fields[0]["choices"].remove("other")
    assert (
        "other"
        not in project_schema_set(project=project, label_schema={"fields": fields}).label_schema[
            "fields"
        ][0]["choices"]
    )


def test_preference_schema_orphans_principles_and_scale(make_project, member):
    project = make_project("preference", label_schema={"principles": ["empathy", "clarity"]})
    _import(project, {"external_id": "p", "prompt": "I feel low.",
                      "candidates": [{"text": "A"}, {"text": "B"}]})  # fmt: skip
    asg = assignment_claim_next(project=project, annotator=member(project))
    annotation_submit(assignment=asg, labels={
        "candidate_a": 0, "candidate_b": 1, "strength": 2, "justification": "B reflects the feeling.",
        "principles": [{"principle": "empathy", "candidate": 0, "value": 5}]})  # fmt: skip
    with pytest.raises(ApplicationError, match="'empathy'"):
        project_schema_set(project=project, label_schema={"principles": ["clarity"]})
    with pytest.raises(ApplicationError, match=r"outside 1\.\.4"):
        project_schema_set(project=project, label_schema={"principle_scale": [1, 4]})
    with pytest.raises(ApplicationError, match="principle_scale"):
        project_schema_set(project=project, label_schema={"principle_scale": [5, 1]})
    described = project_schema_set(project=project, label_schema={
        "principles": ["empathy", "clarity", "warmth"], "principle_scale": [1, 7],
        "principle_labels": {"warmth": {"label": "Warmth", "help": "Kind tone."}}})  # fmt: skip
    assert described.label_schema["principle_scale"] == [1, 7]


def test_legacy_schema_keys_become_settings(make_project):
    project = make_project("step_labels", label_schema={"gold_rate": 0.5, "mode": "first_error"})
    assert project.gold_rate == 0.5
    assert "gold_rate" not in project.label_schema
    updated = project_schema_set(project=project, label_schema={"allow_consensus_labels": True})
    assert updated.allow_consensus_labels is True
    assert "allow_consensus_labels" not in updated.label_schema


def test_members_by_username_or_email_and_the_last_manager(make_project, make_user):
    creator = make_user("boss", can_create_projects=True)
    project = make_project(manager=creator)
    make_user("ada", email="Ada@Example.org")
    m = membership_add(
        project=project, requester=creator, identifier="ada@example.org", role=Role.REVIEWER
    )
    assert (m.user.username, m.role) == ("ada", Role.REVIEWER)
    with pytest.raises(ApplicationError, match="No user you can add"):
        membership_add(
            project=project, requester=creator, identifier="nobody@example.org", role=Role.ANNOTATOR
        )
    boss = Membership.objects.get(project=project, user=creator)
    with pytest.raises(ApplicationError, match="at least one manager"):
        membership_remove(membership=boss)
    with pytest.raises(ApplicationError, match="at least one manager"):
        membership_set(project=project, user=creator, role=Role.ANNOTATOR)
    membership_set(project=project, user=m.user, role=Role.MANAGER)
    membership_remove(membership=boss)
    assert not Membership.objects.filter(project=project, user=creator).exists()


def test_a_manager_without_site_permission_cannot_add_strangers_by_email(make_project, make_user):
    project = make_project()
    make_user("stranger", email="s@example.org")
    with pytest.raises(ApplicationError, match="No user you can add"):
        membership_add(
            project=project,
            requester=project.created_by,
            identifier="s@example.org",
            role=Role.ANNOTATOR,
        )


def test_changing_overlap_reopens_or_closes_items(make_project, member):
    project = make_project("step_labels", overlap=1)
    _import(project, {"external_id": "a", "prompt": "p", "steps": ["s"]},
            {"external_id": "b", "prompt": "p", "steps": ["s"]})  # fmt: skip
    asg = assignment_claim_next(project=project, annotator=member(project))
    annotation_submit(assignment=asg, labels={"steps": [{"index": 0, "rating": 1}]})
    done = Item.objects.get(id=asg.item_id)
    assert done.is_complete
    project_settings_update(project=project, values={"overlap": 2})
    done.refresh_from_db()
    assert not done.is_complete
    second = member(project)
    assert assignment_claim_next(project=project, annotator=second).item_id in {
        done.id,
        done.id + 1,
    }
    project_settings_update(project=project, values={"overlap": 1})
    done.refresh_from_db()
    assert done.is_complete
    assert Item.objects.filter(project=project, is_complete=True).count() == 1


def test_changing_overlap_keeps_items_sent_back_for_more_labels_open(make_project, member):
    """An item a manager sent back for more labels (extra_labels) needs k plus those: a
    change of k must not close it before they arrive."""
    project = make_project("step_labels", overlap=1)
    _import(project, {"external_id": "a", "prompt": "p", "steps": ["s"]})
    asg = assignment_claim_next(project=project, annotator=member(project))
    annotation_submit(assignment=asg, labels={"steps": [{"index": 0, "rating": 1}]})
    Item.objects.filter(id=asg.item_id).update(extra_labels=1, is_complete=False)
    project_settings_update(project=project, values={"overlap": 2})
    project_settings_update(project=project, values={"overlap": 1})
    item = Item.objects.get(id=asg.item_id)
    assert (item.done_count, item.is_complete) == (1, False)
    assert assignment_claim_next(project=project, annotator=member(project)).item_id == item.id
