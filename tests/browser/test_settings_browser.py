"""A manager sets a project up in the browser: instructions, label schema (with its preview
and the refusal to orphan labels) and members; an annotator then reads the instructions."""

from __future__ import annotations

import json

import pytest

from annotation.models import Membership, Project, Role, User
from annotation.services.annotations import annotation_submit
from annotation.services.assignments import assignment_claim_next

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SLUG = "demo-counseling-coding"
INSTRUCTIONS = "Code **every** turn.\n\n* *Reflection*: says back what the client feels.\n* Ask before advising."


def _one_coded_turn(project: Project) -> None:
    """annotator2 codes the first therapist turn `reflection`, so that value is in use."""
    asg = assignment_claim_next(project=project, annotator=User.objects.get(username="annotator2"))
    assert asg is not None
    turns = list(asg.item.turns.order_by("index"))
    labels = [{"index": t.index, "field": "main_therapist_behaviour", "value": "reflection"}
              for t in turns if t.speaker == "therapist"]  # fmt: skip
    labels += [{"index": t.index, "field": "client_talk_type", "value": "neutral"}
               for t in turns if t.speaker == "client"]  # fmt: skip
    annotation_submit(assignment=asg, labels={"turns": labels})


def test_manager_sets_up_a_project_without_a_shell(page, live_server, demo, login, shot):
    project = Project.objects.get(slug=SLUG)
    _one_coded_turn(project)
    User.objects.create_user("newbie", email="newbie@example.org", password="x-newbie-pw")
    login(page, "manager")
    page.goto(f"{live_server.url}/projects/{SLUG}/")
    page.locator("#project-settings-link").click()
    page.wait_for_url(f"{live_server.url}/projects/{SLUG}/settings/")

    # Instructions: Markdown previewed as annotators will see it, then saved.
    page.locator("textarea[name=instructions]").fill(INSTRUCTIONS)
    page.locator("#instructions-preview strong", has_text="every").wait_for()
    assert (
        page.locator("#settings-backup-download").get_attribute("href")
        == f"/projects/{SLUG}/backup/"
    )
    shot(page, "settings-instructions", full_page=True)
    page.get_by_role("button", name="Save settings").click()
    page.locator(".message-success", has_text="Settings saved").wait_for()
    assert Project.objects.get(slug=SLUG).instructions == INSTRUCTIONS

    # Label schema: a display name for a code, previewed on the first item, then saved.
    page.locator("nav.tabs").get_by_role("link", name="Label schema").click()
    page.locator("#schema-valid").wait_for()
    schema = Project.objects.get(slug=SLUG).label_schema
    schema["fields"][0]["label"] = "Therapist move"
    schema["fields"][0]["choice_labels"] = {"question": "Asks a question"}
    page.locator("#id_label_schema").fill(json.dumps(schema, indent=2))
    page.locator(".preview-frame", has_text="Asks a question").wait_for()
    assert page.locator('.preview-frame [aria-label^="Therapist move"]').count() >= 1
    assert page.locator(".preview-frame .legend", has_text="Therapist move").count() == 1
    shot(page, "schema-preview")
    page.get_by_role("button", name="Save schema").click()
    page.locator(".message-success", has_text="Label schema saved").wait_for()
    saved = Project.objects.get(slug=SLUG).label_schema
    assert saved["fields"][0]["choice_labels"] == {"question": "Asks a question"}

    # Removing a code that an annotation uses: warned in the preview, refused on save.
    schema = saved
    schema["fields"][0]["choices"].remove("reflection")
    page.locator("#id_label_schema").fill(json.dumps(schema, indent=2))
    page.locator("#schema-orphans", has_text="used by 1 annotation").wait_for()
    page.get_by_role("button", name="Save schema").click()
    page.locator("#schema-error").wait_for()
    assert "'reflection' (1 annotation)" in page.locator("#schema-error").inner_text()
    page.locator("#schema-orphans").wait_for()  # the preview of the refused schema
    shot(page, "schema-orphan-refused")
    assert "reflection" in Project.objects.get(slug=SLUG).label_schema["fields"][0]["choices"]

    # Members: add by email, change a role.
    page.locator("nav.tabs").get_by_role("link", name="Members").click()
    page.locator("#id_user").fill("newbie@example.org")
    page.locator("#id_role").select_option("reviewer")
    page.get_by_role("button", name="Add member").click()
    page.locator("#members-table tr[data-username=newbie]").wait_for()
    row = page.locator("#members-table tr[data-username=annotator2]")
    row.locator("select[name=role]").select_option("researcher")
    row.get_by_role("button", name="Change").click()
    page.locator(".message-success", has_text="annotator2's role changed").wait_for()
    shot(page, "members")
    assert Membership.objects.get(project=project, user__username="newbie").role == Role.REVIEWER
    assert (
        Membership.objects.get(project=project, user__username="annotator2").role == Role.RESEARCHER
    )

    # The annotator reads the new instructions from the labeling page; no "New project".
    page.get_by_role("button", name="Log out").click()
    login(page, "annotator1")
    assert page.get_by_text("New project").count() == 0
    page.goto(f"{live_server.url}/projects/{SLUG}/annotate/")
    content_note = page.get_by_role("button", name="I understand, start labeling")
    if content_note.count():
        content_note.click()
    page.get_by_role("button", name="Instructions").click()
    page.locator("#instructions strong", has_text="every").wait_for()
    assert (
        page.locator(".field-legend, .legend, body").first.inner_text().count("Asks a question")
        >= 1
    )
    shot(page, "annotator-instructions")
