"""A manager downloads a project's backup from its page and restores it as a new project."""

from __future__ import annotations

import gzip
import json

import pytest

from annotation.models import Membership, Project, Role
from tests.annotation.backup.helpers import project_rows

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_downloads_a_backup_and_restores_it(page, live_server, demo, login, shot, tmp_path):
    original = Project.objects.get(slug="demo-counseling-preference")
    login(page, "manager")
    page.goto(f"{live_server.url}/projects/{original.slug}/")
    card = page.locator("section", has=page.locator("#backup-title"))
    card.scroll_into_view_if_needed()
    shot(page, "backup-card")
    with page.expect_download() as info:
        page.locator("#backup-download").click()
    download = info.value
    assert download.suggested_filename.startswith(f"{original.slug}-")
    assert download.suggested_filename.endswith(".stepwise-backup.jsonl.gz")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    header = json.loads(gzip.decompress(path.read_bytes()).split(b"\n", 1)[0])
    assert header["project"]["slug"] == original.slug
    # Restoring under the same slug is refused with the reason; nothing is created.
    form = page.locator("#restore-form")
    form.locator("input[type=file]").set_input_files(str(path))
    form.get_by_role("button", name="Restore as a new project").click()
    page.locator(".message-error").wait_for()
    assert "is not available" in page.locator(".message-error").inner_text()
    shot(page, "backup-restore-refused")
    form = page.locator("#restore-form")
    form.locator("input[type=file]").set_input_files(str(path))
    form.locator("input[name='restore-slug']").fill("counseling-restored")
    form.get_by_role("button", name="Restore as a new project").click()
    page.wait_for_url(f"{live_server.url}/projects/counseling-restored/")
    page.locator(".message-success").wait_for()
    shot(page, "backup-restored")
    restored = Project.objects.get(slug="counseling-restored")
    assert project_rows(restored) == project_rows(original)
    manager = Membership.objects.get(project=restored, user__username="manager")
    assert manager.role == Role.MANAGER
