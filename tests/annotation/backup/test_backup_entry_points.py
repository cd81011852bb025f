"""Backup and restore through the commands, the REST API and the project page: who may,
what comes back, and errors that leave nothing behind."""

from __future__ import annotations

import gzip
import json
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from annotation.models import Item, Membership, Project, Role
from tests.annotation.backup.helpers import backup_bytes, project_rows

RECORDS = [
    {"external_id": f"t{i}", "prompt": f"What is {i}+{i}?", "steps": ["add", f"= {2 * i}"],
     "annotations": [{"annotator": "rater", "step_ratings": [1, 1 if i % 2 else -1]}]}
    for i in range(6)
]  # fmt: skip


@pytest.fixture
def project(import_native, make_user) -> Project:
    return import_native("step_labels", RECORDS, slug="traces", manager=make_user("boss"))


def test_commands_back_up_and_restore(project, tmp_path):
    out = tmp_path / "traces.jsonl.gz"
    stdout = StringIO()
    call_command("project_backup", "--project", "traces", "--out", str(out), stdout=stdout)
    assert "backed up 'traces'" in stdout.getvalue()
    assert not (tmp_path / "traces.jsonl.gz.partial").exists()
    header = json.loads(gzip.decompress(out.read_bytes()).split(b"\n", 1)[0])
    assert header["format"] == "stepwise-project-backup"
    assert header["version"] == 1
    with pytest.raises(
        CommandError,
        match=r"the slug 'traces' is not available; restore the backup under another slug "
        r"\(--as NEW_SLUG\)",
    ):
        call_command("project_restore", str(out))
    stdout = StringIO()
    call_command("project_restore", str(out), "--as", "traces-2", stdout=stdout)
    assert "restored 'traces-2'" in stdout.getvalue()
    assert "6 items" in stdout.getvalue()
    assert project_rows(Project.objects.get(slug="traces-2")) == project_rows(project)
    with pytest.raises(CommandError, match="no project 'nope'"):
        call_command("project_backup", "--project", "nope", "--out", str(tmp_path / "x"))
    with pytest.raises(CommandError, match="missing.gz"):
        call_command("project_restore", str(tmp_path / "missing.gz"))


def test_rest_backup_is_for_managers(project, api_client, member):
    url = f"/api/v1/projects/{project.slug}/backup/"
    outsider = member(Project.objects.create(name="o", slug="other", kind="step_labels"))
    api_client.force_authenticate(outsider)
    assert api_client.get(url).status_code == 404
    for role in (Role.ANNOTATOR, Role.RESEARCHER, Role.REVIEWER):
        api_client.force_authenticate(member(project, role))
        assert api_client.get(url).status_code == 403
    api_client.force_authenticate(project.memberships.get(role=Role.MANAGER).user)
    resp = api_client.get(url)
    assert resp.status_code == 200
    assert resp["Content-Type"] == "application/gzip"
    assert "traces-" in resp["Content-Disposition"]
    data = b"".join(resp.streaming_content)
    assert gzip.decompress(data).startswith(b'{"format":"stepwise-project-backup"')


def test_rest_restore_makes_the_caller_manager(project, api_client, make_user):
    data = backup_bytes(project)
    url = "/api/v1/backups/restore/"
    # A restore creates a project: those who may not create one get 403, nothing restored.
    api_client.force_authenticate(make_user("plain"))
    upload = SimpleUploadedFile("b.jsonl.gz", data, content_type="application/gzip")
    resp = api_client.post(url, {"file": upload, "slug": "traces-plain"}, format="multipart")
    assert resp.status_code == 403, resp.content
    assert "may not create projects" in resp.json()["detail"]
    assert not Project.objects.filter(slug="traces-plain").exists()
    someone = make_user("someone", can_create_projects=True)
    api_client.force_authenticate(someone)
    upload = SimpleUploadedFile("b.jsonl.gz", data, content_type="application/gzip")
    resp = api_client.post(url, {"file": upload}, format="multipart")
    assert resp.status_code == 409, resp.content
    assert resp.json()["code"] == "conflict"
    assert "is not available" in resp.json()["detail"]
    upload = SimpleUploadedFile("b.jsonl.gz", data, content_type="application/gzip")
    resp = api_client.post(url, {"file": upload, "slug": "traces-copy"}, format="multipart")
    assert resp.status_code == 201, resp.content
    assert resp.json()["slug"] == "traces-copy"
    copy = Project.objects.get(slug="traces-copy")
    assert Membership.objects.get(project=copy, user=someone).role == Role.MANAGER
    assert copy.items.count() == 6
    bad = SimpleUploadedFile("b.jsonl.gz", data[:100], content_type="application/gzip")
    resp = api_client.post(url, {"file": bad, "slug": "traces-3"}, format="multipart")
    assert resp.status_code == 400
    assert "damaged or cut short" in resp.json()["non_field_errors"][0]
    assert not Project.objects.filter(slug="traces-3").exists()
    api_client.force_authenticate(None)
    assert api_client.post(url, {}, format="multipart").status_code in (401, 403)


def test_project_page_backup_and_restore(project, client, member):
    manager = project.memberships.get(role=Role.MANAGER).user
    client.force_login(manager)
    page = client.get(reverse("project_detail", args=[project.slug]))
    assert b'id="backup-download"' in page.content
    resp = client.get(reverse("project_backup", args=[project.slug]))
    assert resp.status_code == 200
    data = b"".join(resp.streaming_content)
    items_before = Item.objects.count()
    # A manager who may not create projects downloads backups but does not restore them.
    assert b'id="restore-form"' not in page.content
    resp = client.post(
        reverse("project_restore"),
        {"restore-file": SimpleUploadedFile("b.gz", data), "restore-slug": "traces-no",
         "restore-back": project.slug},
    )  # fmt: skip
    assert resp.status_code == 403
    assert not Project.objects.filter(slug="traces-no").exists()
    manager.can_create_projects = True
    manager.save(update_fields=["can_create_projects"])
    page = client.get(reverse("project_detail", args=[project.slug]))
    assert b'id="restore-form"' in page.content
    # The backup's slug exists: back to the page with the reason, nothing written.
    resp = client.post(
        reverse("project_restore"),
        {"restore-file": SimpleUploadedFile("b.gz", data), "restore-back": project.slug},
        follow=True,
    )
    assert resp.redirect_chain[-1][0] == reverse("project_detail", args=[project.slug])
    assert "Restore failed, nothing was changed" in resp.content.decode()
    assert Item.objects.count() == items_before
    resp = client.post(
        reverse("project_restore"),
        {"restore-file": SimpleUploadedFile("b.gz", data), "restore-slug": "traces-web",
         "restore-back": project.slug},
        follow=True,
    )  # fmt: skip
    assert resp.redirect_chain[-1][0] == reverse("project_detail", args=["traces-web"])
    assert "you are its manager" in resp.content.decode()
    assert Project.objects.get(slug="traces-web").items.count() == 6
    annotator = member(project, Role.ANNOTATOR)
    client.force_login(annotator)
    assert client.get(reverse("project_backup", args=[project.slug])).status_code == 403
    page = client.get(reverse("project_detail", args=[project.slug]))
    assert b'id="backup-download"' not in page.content


def test_restore_of_a_file_that_is_not_a_backup_says_so(project, client, make_user):
    client.force_login(make_user("staffer", is_staff=True))
    resp = client.post(
        reverse("project_restore"),
        {"restore-file": SimpleUploadedFile("x.csv", b"a,b\n1,2\n"), "restore-slug": "nope"},
        follow=True,
    )
    assert "not JSON" in resp.content.decode() or "not a Stepwise" in resp.content.decode()
    assert not Project.objects.filter(slug="nope").exists()
