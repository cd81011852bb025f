"""The set-up commands: `import_dataset --mode` and `project_member`."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Membership, Project, Role

pytestmark = pytest.mark.django_db


def _traces(tmp_path):
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps({"external_id": "a", "prompt": "p", "steps": ["s1", "s2"]}) + "\n")
    return path


@pytest.mark.parametrize(
    ("mode", "stored"), [("first_error", "first_error"), ("every_step", "rate_every_step")]
)
def test_import_dataset_sets_the_step_mode_of_a_created_project(tmp_path, mode, stored):
    call_command("import_dataset", str(_traces(tmp_path)), "--format", "native", "--project", "pb",
                 "--create-project", "step_labels", "--mode", mode, stdout=StringIO())  # fmt: skip
    assert Project.objects.get(slug="pb").label_schema["mode"] == stored


def test_import_dataset_mode_errors_are_one_line(tmp_path, make_project):
    make_project("step_labels", slug="exists")
    with pytest.raises(CommandError, match="--mode applies when the import creates the project"):
        call_command("import_dataset", str(_traces(tmp_path)), "--format", "native",
                     "--project", "exists", "--mode", "first_error")  # fmt: skip
    with pytest.raises(CommandError, match="mode: dialogue_coding projects have no step mode"):
        call_command("import_dataset", str(_traces(tmp_path)), "--format", "native", "--project",
                     "dlg", "--create-project", "dialogue_coding", "--mode", "first_error")  # fmt: skip
    assert not Project.objects.filter(slug="dlg").exists()


def test_project_member_adds_changes_and_removes(make_project, make_user):
    project = make_project(slug="team")
    make_user("ada", email="ada@example.org")
    out = StringIO()
    call_command("project_member", "team", "ada@example.org", "--role", "annotator", stdout=out)
    assert "ada is annotator of team" in out.getvalue()
    call_command("project_member", "team", "ada", "--role", "reviewer", stdout=StringIO())
    assert Membership.objects.get(project=project, user__username="ada").role == Role.REVIEWER
    call_command("project_member", "team", "ada", "--remove", stdout=out)
    assert "ada removed from team" in out.getvalue()
    assert not Membership.objects.filter(project=project, user__username="ada").exists()


def test_project_member_errors_are_clean(make_project, make_user):
    project = make_project(slug="team")
    manager = project.created_by.username
    with pytest.raises(CommandError, match="role: a project keeps at least one manager"):
        call_command("project_member", "team", manager, "--role", "annotator")
    with pytest.raises(CommandError, match="role: a project keeps at least one manager"):
        call_command("project_member", "team", manager, "--remove")
    with pytest.raises(CommandError, match="no user 'ghost'"):
        call_command("project_member", "team", "ghost", "--role", "annotator")
    with pytest.raises(CommandError, match="no project 'nope'"):
        call_command("project_member", "nope", manager, "--role", "annotator")
    outsider = make_user("outsider")
    with pytest.raises(CommandError, match="outsider is not a member of team"):
        call_command("project_member", "team", outsider.username, "--remove")
