"""In Chromium: a manager imports one block of reasoning text with a split and sees the first
items as cut; a reviewer sees the PRM800K labeler's rated alternative steps."""

from __future__ import annotations

import io
import json

import pytest

from annotation.models import ImportRun, Item, Project
from annotation.services.import_runs import import_run_execute
from annotation.services.imports import dataset_import
from tests.annotation.importers.prm800k_records import README_RECORD, jsonl

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COT = (
    "Step 1: Natalia sold 48 clips in April. Step 2: In May she sold half as many: 48 / 2 = 24. "
    "Step 3: Altogether 48 + 24 = 72, so the answer is $\\boxed{72}$."
)


def test_split_upload_shows_the_split_and_a_preview(page, live_server, demo, login, shot, tmp_path):
    path = tmp_path / "cot.jsonl"
    path.write_text(
        "".join(
            json.dumps({"external_id": f"cot-{i}", "prompt": "Clips?", "steps": COT}) + "\n"
            for i in range(4)
        )  # fmt: skip
    )
    login(page, "manager")
    page.goto(f"{live_server.url}/projects/demo-math-steps/")
    form = page.locator("#upload-form")
    form.locator("input[type=file]").set_input_files(str(path))
    form.locator("select[name=format]").select_option("native")
    form.locator("input[name=dataset_name]").fill("cot")
    form.locator("summary", has_text="Split it into steps").click()
    form.locator("select[name=split]").select_option("step_markers")
    shot(page, "import-split-form")
    form.get_by_role("button", name="Upload and import").click()
    page.locator(".import-row", has_text="cot.jsonl").wait_for()
    # No worker in this test: run the queued import here, as the worker would.
    run = ImportRun.objects.get(dataset_name="cot")
    import_run_execute(run_id=run.id)
    page.reload()
    row = page.locator(".import-row", has_text="cot.jsonl")
    assert '"Step N:" markers' in row.inner_text()
    row.locator("summary", has_text="Preview").click()
    steps = row.locator(".preview-steps").first.locator("li")
    assert steps.count() == 3
    assert steps.nth(1).inner_text().startswith("Step 2: In May")
    shot(page, "import-split-preview", full_page=True)
    item = Item.objects.get(external_id="cot-0")
    assert item.final_answer == "72"


def test_review_page_lists_the_rated_alternatives(page, live_server, demo, login, shot):
    project = Project.objects.get(slug="demo-math-steps")
    result = dataset_import(
        project=project,
        dataset_name="prm800k",
        fmt="prm800k",
        stream=io.BytesIO(jsonl(README_RECORD)),
    )
    assert result.ok, result.errors
    item = Item.objects.get(dataset_id=result.dataset_id)
    login(page, "reviewer")
    page.goto(f"{live_server.url}/projects/demo-math-steps/review/{item.id}/")
    card = page.locator(".alternatives-card")
    assert "At step 3" in card.inner_text()
    assert card.locator(".alt-list li").count() == 4
    card.scroll_into_view_if_needed()
    shot(page, "review-alternatives")
