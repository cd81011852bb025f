"""The whole tour in one Chromium session, without a shell: a manager creates a project,
writes its instructions and edits its label schema, adds two annotators, a reviewer and a
researcher, imports a file through the upload form and runs a model job from the jobs page;
the annotators label in the browser while the manager's dashboard updates on its own; the
reviewer adjudicates with "Save and next disagreement"; the researcher exports and downloads
the labels. A stand-in worker thread runs what the pages queue (import, job chunks,
statistics, export) with the services the Celery tasks call."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator

import pytest
from django.db import close_old_connections
from playwright.sync_api import Browser, Locator, Page, expect

from annotation.models import (
    Annotation,
    ExportRun,
    ImportRun,
    Item,
    Membership,
    Project,
    Role,
    StatsRefresh,
    Suggestion,
    User,
)
from annotation.services.exports import export_run_execute
from annotation.services.import_runs import import_run_execute
from annotation.services.stats import project_stats_refresh_execute
from labeling_jobs.models import JobChunk, LabelingJob
from labeling_jobs.services import labeling_job_chunk_run
from tests.browser.conftest import DEMO_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SLUG = "tour-gsm8k"
INSTRUCTIONS = "Rate **every** step.\n\n* A step with an arithmetic slip is *wrong*."
WRONG_HELP = "Wrong: an arithmetic slip, a misread question or a dead end."
RECORDS = [
    {
        "external_id": "clips",
        "prompt": "Natalia sold 48 clips in April and half as many in May. How many in all?",
        "steps": [
            "In April she sold 48 clips.",
            "In May she sold 48 / 2 = 24 clips.",
            "Altogether 48 + 24 = 72, so the answer is $\\boxed{72}$.",
        ],
    },
    {
        "external_id": "apples",
        "prompt": "Tom has 5 apples and buys 3 more. How many apples does he have?",
        "steps": [
            "Tom starts with 5 apples.",
            "He buys 3 more: 5 + 3 = 8.",
            "So he has $\\boxed{8}$ apples.",
        ],
    },
]


@pytest.fixture
def tiny_model_dir(tmp_path) -> str:
    from tests.labeling_jobs.conftest import build_tiny_model

    return str(build_tiny_model(tmp_path / "tiny"))


@pytest.fixture
def tour_worker(live_server, settings) -> Iterator[list[str]]:
    """A stand-in for the Celery workers: runs every queued import, job chunk, statistics
    refresh and export with the service its task calls. Yields the kinds it ran."""
    settings.STEPWISE_JOB_DEVICE = "cpu"
    done: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            try:
                for run_id in ImportRun.objects.filter(status="queued").values_list(
                    "id", flat=True
                ):
                    import_run_execute(run_id=run_id)
                    done.append("import")
                for chunk_id in JobChunk.objects.filter(status="pending").values_list(
                    "id", flat=True
                ):
                    labeling_job_chunk_run(chunk_id=chunk_id, worker="test-worker")
                    done.append("job")
                for run_id in StatsRefresh.objects.filter(status="queued").values_list(
                    "id", flat=True
                ):
                    project_stats_refresh_execute(refresh_id=run_id)
                    done.append("stats")
                for run_id in ExportRun.objects.filter(status="queued").values_list(
                    "id", flat=True
                ):
                    export_run_execute(run_id=run_id)
                    done.append("export")
            except Exception as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
            finally:
                close_old_connections()
            stop.wait(0.3)

    thread = threading.Thread(target=work, name="tour-worker", daemon=True)
    thread.start()
    yield done
    stop.set()
    thread.join(timeout=60)
    assert not errors, f"the stand-in worker failed: {errors!r}"


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[[], Page]]:
    """Another browser context (another person), watched for JS errors and CSP violations
    like the `page` fixture's."""
    contexts = []
    errors: list[str] = []
    csp: list[str] = []

    def new() -> Page:
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        context.set_default_timeout(10_000)
        contexts.append(context)
        pg = context.new_page()
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.on(
            "console",
            lambda msg: csp.append(msg.text) if "Content Security Policy" in msg.text else None,
        )
        return pg

    yield new
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not csp, f"Content-Security-Policy violations: {csp}"


def _label_all(pg: Page, url: str, keys_for: Callable[[str], list[str]]) -> list[str]:
    """Label items until the queue is empty; returns their external ids in order."""
    pg.goto(url)
    labeled: list[str] = []
    for n in range(1, len(RECORDS) + 1):
        task = pg.locator("#current-slot .task:not([hidden])")
        expect(task.locator(".step-card")).to_have_count(3)
        external_id = task.get_attribute("data-item") or ""
        assert external_id not in labeled
        for key in keys_for(external_id):
            pg.keyboard.press(key)
        expect(task.locator(".step-card.rated-wrong")).to_have_count(
            keys_for(external_id).count("1")
        )
        pg.keyboard.press("Enter")
        expect(pg.locator("#progress-slot")).to_contain_text(f"{n} done", timeout=20_000)
        labeled.append(external_id)
    return labeled


def _type_in(field: Locator, value: str) -> None:
    """Type a value and leave the field, as a person does (its change event fires)."""
    field.fill(value)
    field.press("Tab")


def _ratings(annotation: Annotation) -> list[int | None]:
    return list(annotation.step_labels.order_by("step__index").values_list("rating", flat=True))


def test_the_whole_tour_in_the_browser(
    page, browser, open_page, live_server, login, shot, tmp_path, tiny_model_dir, tour_worker
) -> None:
    base = live_server.url
    User.objects.create_user("maya", password=DEMO_PASSWORD, can_create_projects=True)
    User.objects.create_user("alice", email="alice@example.org", password=DEMO_PASSWORD)
    User.objects.create_user("bob", password=DEMO_PASSWORD)
    User.objects.create_user("rita", password=DEMO_PASSWORD)
    User.objects.create_user("sam", password=DEMO_PASSWORD)

    # 1. The manager creates the project from the home page's "New project" form.
    login(page, "maya")
    form = page.locator("form", has=page.get_by_role("button", name="Create project"))
    form.locator("#id_name").fill("Tour GSM8K")
    form.locator("#id_slug").fill(SLUG)
    form.locator("#id_kind").select_option("step_labels")
    form.locator("#id_overlap").fill("2")
    shot(page, "tour-01-new-project")
    form.get_by_role("button", name="Create project").click()
    page.wait_for_url(f"{base}/projects/{SLUG}/")
    expect(page.locator(".message-success")).to_contain_text("you are its manager")
    project = Project.objects.get(slug=SLUG)
    assert (project.name, project.kind, project.overlap) == ("Tour GSM8K", "step_labels", 2)
    assert Membership.objects.get(project=project, user__username="maya").role == Role.MANAGER

    # 2. Settings: instructions in Markdown, previewed, saved.
    page.locator("#project-settings-link").click()
    page.wait_for_url(f"{base}/projects/{SLUG}/settings/")
    page.locator("textarea[name=instructions]").fill(INSTRUCTIONS)
    expect(page.locator("#instructions-preview strong", has_text="every")).to_be_visible()
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".message-success")).to_contain_text("Settings saved")
    shot(page, "tour-02-settings")
    assert Project.objects.get(slug=SLUG).instructions == INSTRUCTIONS

    # 3. Label schema: a clearer help text for "wrong", saved after the preview.
    page.locator("nav.tabs").get_by_role("link", name="Label schema").click()
    page.wait_for_url(f"{base}/projects/{SLUG}/settings/schema/")
    expect(page.locator("#schema-valid")).to_be_visible()
    schema = Project.objects.get(slug=SLUG).label_schema
    wrong = next(r for r in schema["ratings"] if r["value"] == -1)
    wrong["help"] = WRONG_HELP
    page.locator("#id_label_schema").fill(json.dumps(schema, indent=2))
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#schema-valid")).to_contain_text("Valid for this kind")
    page.get_by_role("button", name="Save schema").click()
    expect(page.locator(".message-success")).to_contain_text("Label schema saved")
    shot(page, "tour-03-schema")
    saved = Project.objects.get(slug=SLUG).label_schema
    assert next(r for r in saved["ratings"] if r["value"] == -1)["help"] == WRONG_HELP

    # 4. Members: two annotators (one by email), a reviewer, a researcher.
    page.locator("nav.tabs").get_by_role("link", name="Members").click()
    page.wait_for_url(f"{base}/projects/{SLUG}/members/")
    for who, role in [
        ("alice@example.org", "annotator"),
        ("bob", "annotator"),
        ("rita", "reviewer"),
        ("sam", "researcher"),
    ]:
        page.locator("#id_user").fill(who)
        page.locator("#id_role").select_option(role)
        page.get_by_role("button", name="Add member").click()
        username = who.split("@")[0]
        expect(page.locator(f"#members-table tr[data-username={username}]")).to_be_visible()
    shot(page, "tour-04-members")
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {
        "maya": Role.MANAGER,
        "alice": Role.ANNOTATOR,
        "bob": Role.ANNOTATOR,
        "rita": Role.REVIEWER,
        "sam": Role.RESEARCHER,
    }

    # 5. Import through the upload form; the background run finishes and the row says so.
    path = tmp_path / "tour.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    page.goto(f"{base}/projects/{SLUG}/")
    upload = page.locator("#upload-form")
    upload.locator("input[type=file]").set_input_files(str(path))
    upload.locator("select[name=format]").select_option("native")
    upload.locator("input[name=dataset_name]").fill("tour")
    upload.get_by_role("button", name="Upload and import").click()
    row = page.locator(".import-row", has_text="tour.jsonl")
    expect(row).to_have_class("import-row status-succeeded", timeout=30_000)
    shot(page, "tour-05-imported", full_page=True)
    assert set(Item.objects.filter(project=project).values_list("external_id", flat=True)) == {
        "clips",
        "apples",
    }
    assert Item.objects.get(project=project, external_id="clips").final_answer == "72"

    # 6. A model job from the jobs page: verify mode on a tiny local model; it runs.
    page.goto(f"{base}/projects/{SLUG}/jobs/")
    job_form = page.locator("#job-form")

    def form_change(action: Callable[[], None]) -> None:
        """A change that re-renders the form (htmx): wait until the new form is in."""
        with page.expect_response(lambda r: r.url.startswith(f"{base}/projects/{SLUG}/jobs/form/")):
            action()
        expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling")).to_have_count(0)

    form_change(lambda: job_form.locator("select[name=kind]").select_option("step_judge"))
    form_change(lambda: job_form.locator("select[name=judge_mode]").select_option("verify"))
    form_change(lambda: _type_in(job_form.locator("input[name=model_other]"), tiny_model_dir))
    form_change(lambda: _type_in(job_form.locator("input[name=limit]"), "2"))
    expect(job_form.locator("input[name=model_other]")).to_have_value(tiny_model_dir)
    expect(job_form.locator("select[name=judge_mode]")).to_have_value("verify")
    expect(page.locator("#job-estimate")).to_contain_text("for 2 items")
    shot(page, "tour-06-job-form")
    page.locator("#job-form").get_by_role("button", name="Start", exact=True).click()
    page.wait_for_url(f"{base}/projects/{SLUG}/jobs/*/")
    expect(page.locator(".job-progress .badge-status")).to_have_text("Succeeded", timeout=120_000)
    job = LabelingJob.objects.get(project=project)
    assert (job.kind, job.status, job.params["mode"]) == ("step_judge", "succeeded", "verify")
    assert job.model_name == tiny_model_dir
    assert Suggestion.objects.filter(job_id=job.id).values("item_id").distinct().count() == 2
    page.reload()
    expect(page.locator(".job-results")).to_contain_text("P(Yes)")
    shot(page, "tour-06-job-done", full_page=True)

    # 7. The manager watches the dashboard while the annotators label in their browsers.
    page.goto(f"{base}/projects/{SLUG}/dashboard/")
    body = page.locator("#dashboard-body")
    expect(body.locator("#annotators-title")).to_be_visible(timeout=30_000)
    expect(body).to_contain_text("Nobody has labeled yet")
    shot(page, "tour-07-dashboard-before", full_page=True)

    alice = open_page()
    login(alice, "alice")
    alice.goto(f"{base}/projects/{SLUG}/annotate/")
    alice.get_by_role("button", name="Instructions").click()
    expect(alice.locator("#instructions strong", has_text="every")).to_be_visible()
    shot(alice, "tour-08-annotator-instructions")
    alice.keyboard.press("Escape")
    # The schema's new help text is the hover text of "wrong".
    expect(alice.locator(f'#current-slot [title="{WRONG_HELP}"]').first).to_be_attached()
    # alice: every step right; bob: the second step wrong, so both items disagree.
    alice_items = _label_all(alice, f"{base}/projects/{SLUG}/annotate/", lambda _: ["3"] * 3)
    shot(alice, "tour-08-alice-done")
    bob = open_page()
    login(bob, "bob")
    bob_items = _label_all(bob, f"{base}/projects/{SLUG}/annotate/", lambda _: ["3", "1", "3"])
    assert sorted(alice_items) == sorted(bob_items) == ["apples", "clips"]
    for ann in Annotation.objects.filter(item__project=project, annotator__username="alice"):
        assert _ratings(ann) == [1, 1, 1]
    for ann in Annotation.objects.filter(item__project=project, annotator__username="bob"):
        assert _ratings(ann) == [1, -1, 1]
    assert Item.objects.filter(project=project, is_complete=True).count() == 2

    # The dashboard shows both annotators without anyone pressing Refresh.
    expect(body.locator("td.cell-main", has_text="bob")).to_be_visible(timeout=45_000)
    expect(body.locator("td.cell-main", has_text="alice")).to_be_visible()
    expect(body).not_to_contain_text("Nobody has labeled yet")
    shot(page, "tour-09-dashboard-after", full_page=True)

    # 8. The reviewer: the first disagreement as pre-filled (the tie goes to "wrong"),
    # Shift+Enter; the second with step 2 set right, by the button.
    rita = open_page()
    login(rita, "rita")
    rita.goto(f"{base}/projects/{SLUG}/review/")
    expect(rita.locator(".badge-disagree")).to_have_count(2)
    rita.get_by_role("link", name="Review →").first.click()
    rita.wait_for_url(f"{base}/projects/{SLUG}/review/*/")
    first_id = int(rita.url.rstrip("/").rsplit("/", 1)[1])
    second_id = Item.objects.filter(project=project).exclude(id=first_id).get().id
    review_form = rita.locator(".task-form")
    expect(rita.locator(".prefill-note")).to_contain_text("Pre-filled from 2 annotator labels")
    expect(review_form.locator('input[name="rating-1"][value="-1"]')).to_be_checked()
    shot(rita, "tour-10-review-prefilled", full_page=True)
    rita.locator("body").click(position={"x": 5, "y": 300})
    rita.keyboard.press("Shift+Enter")
    rita.wait_for_url(f"{base}/projects/{SLUG}/review/{second_id}/")
    expect(rita.locator(".message-success")).to_contain_text("Next disagreement")
    review_form = rita.locator(".task-form")
    review_form.locator(".step-card").nth(1).locator(".seg", has_text="+1 right").click()
    rita.get_by_role("button", name="Save and next disagreement").click()
    rita.wait_for_url(f"{base}/projects/{SLUG}/review/")
    expect(rita.locator(".message-success")).to_contain_text("No disagreements are left")
    shot(rita, "tour-11-review-done")
    finals = {
        a.item_id: _ratings(a)
        for a in Annotation.objects.filter(item__project=project, source="adjudication")
    }
    assert finals == {first_id: [1, -1, 1], second_id: [1, 1, 1]}

    # 9. The researcher exports the final labels and downloads the file.
    sam = open_page()
    login(sam, "sam")
    sam.goto(f"{base}/projects/{SLUG}/")
    sam.get_by_role("link", name="Exports", exact=True).click()
    sam.wait_for_url(f"{base}/projects/{SLUG}/exports/")
    export_form = sam.locator("#export-form")
    export_form.get_by_label("Format", exact=True).select_option("trl_stepwise")
    expect(export_form.locator("input[name=balance]")).to_be_attached()
    shot(sam, "tour-12-export-form")
    export_form.get_by_role("button", name="Start export").click()
    run = sam.locator("#export-runs .export-run").first
    expect(run.locator(".badge-succeeded")).to_be_visible(timeout=30_000)
    expect(run.locator(".export-counts dd").first).to_have_text("2")
    shot(sam, "tour-13-export-done", full_page=True)
    with sam.expect_download() as info:
        run.locator(".file-links a", has_text=".jsonl").first.click()
    rows = [
        json.loads(line)
        for line in info.value.path().read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    by_prompt = {row["prompt"]: row for row in rows}
    first = Item.objects.get(id=first_id)
    second = Item.objects.get(id=second_id)
    assert len(rows) == 2
    # The final labels are the reviewer's: the trace stops at its first wrong step.
    assert by_prompt[first.prompt]["labels"] == [True, False]
    assert len(by_prompt[first.prompt]["completions"]) == 2
    assert by_prompt[second.prompt]["labels"] == [True, True, True]
    assert {row["source"] for row in rows} == {"adjudication"}
    assert set(tour_worker) >= {"import", "job", "stats", "export"}
