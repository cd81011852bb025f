"""Study-link pages: the entry URL's refusals, a worker's whole visit through the test client,
the session limited to the link (404 everywhere else), training feedback, and the managers'
pages."""

from __future__ import annotations

import json
import random
import re

import pytest
from django.urls import reverse

from annotation.models import Assignment, Item, Project, Role, StudyLink, StudyWorker, User
from annotation.services.demo import demo_setup
from annotation.services.gold import item_gold_set
from annotation.services.study import study_link_update, study_submit
from tests.labeled_projects import labels_for
from tests.study_projects import make_link, study_project

pytestmark = pytest.mark.django_db

PARAMS = "?PROLIFIC_PID={pid}&STUDY_ID=st1&SESSION_ID=se1"


def _entry(link: StudyLink, pid: str | None = "pidA") -> str:
    url = reverse("study_entry", args=[link.token])
    return url + (PARAMS.format(pid=pid) if pid else "")


def _assignment_id(html: str) -> int:
    found = re.search(r'data-assignment="(\d+)"', html)
    assert found, "no task on the page"
    return int(found.group(1))


def _label_one(client, link: StudyLink, first_error: int) -> str:
    """Answer the item on the labeling page; the URL the submit redirects to."""
    page = client.get(reverse("study_label", args=[link.token]))
    assert page.status_code == 200
    aid = _assignment_id(page.content.decode())
    response = client.post(
        reverse("study_label_submit", args=[link.token, aid]),
        {"first_error_index": str(first_error), "client_token": f"t{aid}", "active_ms": "1200"},
    )
    assert response.status_code == 302
    return response["Location"]


def test_entry_refusals(client, make_project, make_user):
    project, manager = study_project(make_project, make_user)
    link = make_link(project, manager, max_workers=1)
    assert client.get("/s/no-such-token/?PROLIFIC_PID=x").status_code == 404
    missing = client.get(_entry(link, pid=None))
    assert missing.status_code == 400
    assert "PROLIFIC_PID" in missing.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get(_entry(link, "pidA")).status_code == 302
    client.logout()
    full = client.get(_entry(link, "pidB"))
    assert full.status_code == 403
    assert "This study is full" in full.content.decode()
    study_link_update(link=link, data={"paused": True})
    paused = client.get(_entry(link, "pidC"))
    assert paused.status_code == 403
    assert "This study is paused" in paused.content.decode()
    assert StudyWorker.objects.filter(link=link).count() == 1


def test_worker_visit_limited_to_the_link(client, make_project, make_user):
    project, manager = study_project(make_project, make_user)
    other, _ = study_project(make_project, make_user, slug="other-proj")
    link = make_link(
        project,
        manager,
        quota=2,
        consent_text="I agree to <script>alert(1)</script> **terms**.",
        completion_url="https://app.prolific.com/submissions/complete?cc=C0DE42",
    )
    other_link = make_link(other, manager)
    response = client.get(_entry(link))
    assert response["Location"] == reverse("study_start", args=[link.token])
    start = client.get(response["Location"]).content.decode()
    assert "<strong>terms</strong>" in start
    assert "<script>alert" not in start
    assert "Find the <strong>first wrong step</strong>" in start
    # Labeling waits for consent.
    assert client.get(reverse("study_label", args=[link.token]))["Location"].endswith("/start/")
    assert client.post(reverse("study_start", args=[link.token])).status_code == 422
    assert (
        client.post(reverse("study_start", args=[link.token]), {"consent": "yes"}).status_code
        == 302
    )
    # Everything but this link's pages is a 404, the API and other projects included.
    for path in [
        "/",
        "/profile/",
        f"/projects/{project.slug}/",
        f"/projects/{project.slug}/annotate/",
        f"/projects/{project.slug}/study-links/",
        f"/projects/{other.slug}/",
        "/api/v1/projects/",
        f"/api/v1/projects/{project.slug}/items/",
        f"/s/{other_link.token}/start/",
    ]:
        assert client.get(path).status_code == 404, path
    page = client.get(reverse("study_label", args=[link.token])).content.decode()
    assert "Item <strong data-quota-n>1</strong> of <strong data-quota-of>2</strong>" in page
    assert 'class="nav"' not in page  # no links to pages the worker cannot open
    assert _label_one(client, link, 1) == reverse("study_label", args=[link.token])
    assert _label_one(client, link, -1) == reverse("study_done", args=[link.token])
    done = client.get(reverse("study_done", args=[link.token])).content.decode()
    assert 'id="study-code">C0DE42<' in done
    assert (
        'http-equiv="refresh" content="8;url=https://app.prolific.com/submissions/complete?cc=C0DE42"'
        in done
    )
    worker = StudyWorker.objects.get(link=link)
    assert (worker.status, worker.items_done, worker.study_id, worker.session_id) == (
        "completed", 2, "st1", "se1",
    )  # fmt: skip
    # Done is done: the labeling page sends the worker back to their code.
    assert client.get(reverse("study_label", args=[link.token]))["Location"].endswith("/done/")


def test_pages_need_the_worker_session(client, make_project, make_user):
    project, manager = study_project(make_project, make_user)
    link = make_link(project, manager)
    client.force_login(manager)
    for name in ["study_start", "study_label", "study_feedback", "study_done"]:
        assert client.get(reverse(name, args=[link.token])).status_code == 404, name


def test_training_feedback_then_polite_stop(client, make_project, make_user):
    project, manager = study_project(make_project, make_user)
    link = make_link(project, manager, training_items=1, pass_mark=1.0, failure_code="NOPE1")
    client.get(_entry(link))
    page = client.get(reverse("study_label", args=[link.token])).content.decode()
    assert "Training round" in page
    location = _label_one(client, link, -1)  # the gold answer is "first error at step 1"
    assert location == reverse("study_feedback", args=[link.token])
    feedback = client.get(location).content.decode()
    assert "Not quite" in feedback
    assert re.search(r'name="first_error_index" value="1" checked', feedback)
    assert "this study stops here" in feedback
    done = client.get(reverse("study_done", args=[link.token])).content.decode()
    assert "NOPE1" in done
    assert "did not reach the pass mark" in done
    assert "http-equiv" not in done
    assert StudyWorker.objects.get(link=link).status == StudyWorker.Status.FAILED


def test_training_right_answer(client, make_project, make_user):
    project, manager = study_project(make_project, make_user)
    link = make_link(project, manager, training_items=1, quota=1)
    client.get(_entry(link))
    assert _label_one(client, link, 1) == reverse("study_feedback", args=[link.token])
    feedback = client.get(reverse("study_feedback", args=[link.token])).content.decode()
    assert "✓ Right" in feedback
    assert f'href="{reverse("study_label", args=[link.token])}"' in feedback


def test_manager_pages(client, make_project, make_user, member):
    project, manager = study_project(make_project, make_user)
    url = reverse("study_links", args=[project.slug])
    annotator = member(project, Role.ANNOTATOR)
    client.force_login(annotator)
    assert client.get(url).status_code == 403
    client.force_login(make_user())
    assert client.get(url).status_code == 404
    client.force_login(manager)
    assert client.get(url).status_code == 200
    form = {
        "name": "Pilot <b>1</b>", "completion_code": "ABC123", "quota": 3, "max_workers": 2,
        "training_items": 0, "pass_mark": 0.8, "attention_rate": 0.1, "platform": "prolific",
        "worker_param": "PROLIFIC_PID", "study_param": "STUDY_ID", "session_param": "SESSION_ID",
        "completion_url": "javascript:alert(1)",
    }  # fmt: skip
    bad = client.post(url, form)
    assert bad.status_code == 422
    assert "http:// or https://" in bad.content.decode()
    form["completion_url"] = "https://app.prolific.com/submissions/complete?cc=ABC123"
    created = client.post(url, form)
    link = StudyLink.objects.get(project=project)
    assert created["Location"] == reverse("study_link_detail", args=[project.slug, link.id])
    detail = client.get(created["Location"]).content.decode()
    assert "Pilot &lt;b&gt;1&lt;/b&gt;" in detail
    assert f"/s/{link.token}/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}" in detail
    client.logout()
    client.get(_entry(link, "w1"))
    _label_one(client, link, 1)
    client.logout()
    client.force_login(manager)
    detail = client.get(created["Location"]).content.decode()
    assert ">w1<" in detail
    assert "1 / 3" in detail
    csv_url = reverse("study_link_workers_csv", args=[project.slug, link.id])
    rows = client.get(csv_url).content.decode().splitlines()
    assert rows[0].startswith("worker_id,study_id,session_id,status,")
    assert rows[1].startswith("w1,st1,se1,active,")
    client.force_login(annotator)
    assert client.get(csv_url).status_code == 403
    client.force_login(manager)
    pause = reverse("study_link_pause", args=[project.slug, link.id])
    client.post(pause, {"paused": "1"})
    link.refresh_from_db()
    assert link.paused
    form["quota"] = 5
    assert client.post(created["Location"], form).status_code == 302
    link.refresh_from_db()
    assert link.quota == 5
    assert link.paused  # editing settings leaves the pause alone


def test_labeling_page_query_count(client, make_project, make_user, django_assert_num_queries):
    project, manager = study_project(make_project, make_user)
    link = make_link(project, manager, quota=5)
    client.get(_entry(link))
    url = reverse("study_label", args=[link.token])
    assert client.get(url).status_code == 200  # claims the item
    # Shown again (a reload): session, link, user, worker, the lease held, the item, its steps.
    with django_assert_num_queries(7):
        assert client.get(url).status_code == 200


@pytest.mark.parametrize("slug", ["demo-counseling-preference", "demo-counseling-coding"])
def test_other_kinds_gold_matching_and_pages(client, slug):
    """Training on a preference or dialogue-coding gold item: the page shows the kind's form,
    the gold answer counts as right, a changed one as wrong."""
    demo_setup(password="pw-demo-study")
    project = Project.objects.get(slug=slug)
    manager = User.objects.get(username="manager")
    item = Item.objects.filter(project=project).order_by("id").first()
    gold_labels = labels_for(random.Random(1), project, item)
    item_gold_set(item=item, user=manager, labels=gold_labels)
    project.refresh_from_db()
    link = make_link(project, manager, training_items=1, pass_mark=0.0, quota=1)
    for pid, right in (("kind-right", True), ("kind-wrong", False)):
        client.logout()
        client.get(_entry(link, pid))
        page = client.get(reverse("study_label", args=[link.token]))
        assert page.status_code == 200
        assert f'data-kind="{project.kind}"' in page.content.decode()
        worker = StudyWorker.objects.select_related("link__project", "user").get(worker_id=pid)
        assignment = Assignment.objects.get(annotator=worker.user, item=item)
        labels = json.loads(json.dumps(gold_labels))
        if not right and project.kind == "preference":
            labels["strength"] = -labels["strength"] or 2
        elif not right:
            turn = labels["turns"][0]
            field = next(f for f in project.label_schema["fields"] if f["name"] == turn["field"])
            turn["value"] = next(c for c in field["choices"] if c != turn["value"])
        result = study_submit(worker=worker, assignment=assignment, labels=labels)
        assert result.training
        assert result.correct is right
        # The feedback page (as the web submit leaves it) shows the kind's form, filled in.
        session = client.session
        session["stepwise:study-feedback"] = {"assignment": assignment.id, "correct": right}
        session.save()
        feedback = client.get(reverse("study_feedback", args=[link.token])).content.decode()
        assert ("✓ Right" if right else "Not quite") in feedback
        assert "checked" in feedback
