"""The labeling pages: roles, the stream with its prefetch, submit/skip/flag, edits, XSS and
query counts."""

from __future__ import annotations

import io
import json

import pytest
from django.urls import reverse

from annotation.models import (
    Annotation,
    AnnotationRevision,
    Assignment,
    Flag,
    PreferenceLabel,
    Role,
    Suggestion,
)
from annotation.services.imports import dataset_import
from annotation.web.rendering import rich_text

pytestmark = pytest.mark.django_db


def _import(project, *records):
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    assert dataset_import(
        project=project, dataset_name="d", fmt="native", stream=io.BytesIO(data)
    ).ok


def _trace(ext: str, n: int = 3) -> dict:
    return {"external_id": ext, "prompt": f"Problem {ext}", "steps": [f"step {i}" for i in range(n)],
            "reference_answer": "4", "final_answer": "5"}  # fmt: skip


@pytest.fixture
def steps_project(make_project):
    project = make_project("step_labels", overlap=2)
    _import(project, _trace("t1"), _trace("t2"), _trace("t3"))
    return project


def _htmx(client, method: str, url: str, data=None):
    return getattr(client, method)(url, data or {}, HTTP_HX_REQUEST="true")


# --- access -----------------------------------------------------------------------------


def test_annotate_requires_login(client, steps_project) -> None:
    response = client.get(reverse("annotate", args=[steps_project.slug]))
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("role", "status"),
    [(Role.ANNOTATOR, 200), (Role.MANAGER, 200), (Role.REVIEWER, 403), (Role.RESEARCHER, 403)],
)
def test_annotate_roles(client, steps_project, member, role, status) -> None:
    client.force_login(member(steps_project, role))
    assert client.get(reverse("annotate", args=[steps_project.slug])).status_code == status
    assert client.get(reverse("annotate_mine", args=[steps_project.slug])).status_code == status


def test_annotate_non_member_gets_404(client, steps_project, make_user) -> None:
    client.force_login(make_user())
    assert client.get(reverse("annotate", args=[steps_project.slug])).status_code == 404
    url = reverse("annotate_submit", args=[steps_project.slug, 1])
    assert client.post(url, {}).status_code == 404


def test_cannot_submit_someone_elses_assignment(client, steps_project, member) -> None:
    a1, a2 = member(steps_project), member(steps_project)
    client.force_login(a1)
    client.get(reverse("annotate", args=[steps_project.slug]))
    mine = Assignment.objects.filter(annotator=a1).first()
    client.force_login(a2)
    url = reverse("annotate_submit", args=[steps_project.slug, mine.id])
    assert client.post(url, {"rating-0": "1"}).status_code == 404


# --- the stream ---------------------------------------------------------------------------


def test_page_holds_current_and_prefetched_next(client, steps_project, member) -> None:
    a = member(steps_project)
    client.force_login(a)
    response = client.get(reverse("annotate", args=[steps_project.slug]))
    assert response.status_code == 200
    current, nxt = response.context["current"], response.context["task"]
    assert current["item"].external_id == "t1"
    assert nxt["item"].external_id == "t2"
    held = Assignment.objects.filter(annotator=a, status="active")
    assert held.count() == 2
    assert held.get(id=current["assignment"].id).first_rendered_at is not None
    assert held.get(id=nxt["assignment"].id).first_rendered_at is None  # not shown yet
    html = response.content.decode()
    assert html.count('class="task"') == 2
    assert current["client_token"] != nxt["client_token"]
    # Reloading gives the same leases back, not new claims.
    again = client.get(reverse("annotate", args=[steps_project.slug]))
    assert again.context["current"]["assignment"].id == current["assignment"].id
    assert Assignment.objects.filter(annotator=a).count() == 2


def test_prefetch_claims_an_item_the_page_does_not_hold(client, steps_project, member) -> None:
    a = member(steps_project)
    client.force_login(a)
    page = client.get(reverse("annotate", args=[steps_project.slug]))
    ids = [page.context["current"]["assignment"].id, page.context["task"]["assignment"].id]
    url = reverse("annotate", args=[steps_project.slug]) + f"?exclude={ids[0]}&exclude={ids[1]}"
    response = _htmx(client, "get", url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert " hidden" in html
    assert response.context["task"]["item"].external_id == "t3"
    # Nothing left: the fragment is the hidden "all done" panel.
    ids.append(response.context["task"]["assignment"].id)
    url = (
        reverse("annotate", args=[steps_project.slug]) + "?" + "&".join(f"exclude={i}" for i in ids)
    )
    done = _htmx(client, "get", url)
    assert "data-assignment" not in done.content.decode()
    assert "all caught up" in done.content.decode()


def _rate_all(n: int = 3, client_token: str | None = None) -> dict:
    data = {f"rating-{i}": "1" for i in range(n)}
    data.update(client_token=client_token or "tok-1", active_ms="5000", finish_reason="")
    return data


def test_submit_saves_and_double_submit_changes_nothing(client, steps_project, member) -> None:
    a = member(steps_project)
    client.force_login(a)
    page = client.get(reverse("annotate", args=[steps_project.slug]))
    current, nxt = page.context["current"]["assignment"], page.context["task"]["assignment"]
    url = reverse("annotate_submit", args=[steps_project.slug, current.id])
    data = {**_rate_all(), "next_assignment": str(nxt.id), "comment-1": "fine"}
    first = _htmx(client, "post", url, data)
    assert first.status_code == 200
    assert "hx-swap-oob" in first.content.decode()
    again = _htmx(client, "post", url, data)
    assert again.status_code == 200
    ann = Annotation.objects.get(annotator=a, source="human")
    assert AnnotationRevision.objects.filter(annotation=ann).count() == 1
    ann.item.refresh_from_db()
    assert ann.item.done_count == 1
    assert ann.first_error_index == -1
    assert ann.finish_reason == "solution"
    assert ann.step_labels.get(step__index=1).comment == "fine"
    # The prefetched item became visible with this submit: its time starts now.
    assert Assignment.objects.get(id=nxt.id).first_rendered_at is not None


def test_submit_invalid_answers_422_with_the_reason(client, steps_project, member) -> None:
    a = member(steps_project)
    client.force_login(a)
    page = client.get(reverse("annotate", args=[steps_project.slug]))
    url = reverse(
        "annotate_submit", args=[steps_project.slug, page.context["current"]["assignment"].id]
    )
    response = _htmx(client, "post", url, {"rating-0": "1", "client_token": "x"})
    assert response.status_code == 422
    assert "rate every step" in response.content.decode()
    assert not Annotation.objects.exists()
    # Without htmx: back to the page with the message.
    plain = client.post(url, {"rating-0": "1", "client_token": "x"})
    assert plain.status_code == 302


def test_first_error_mode_submit(client, make_project, member) -> None:
    project = make_project("step_labels", label_schema={"mode": "first_error"})
    _import(project, _trace("t1", 4))
    a = member(project)
    client.force_login(a)
    page = client.get(reverse("annotate", args=[project.slug]))
    url = reverse("annotate_submit", args=[project.slug, page.context["current"]["assignment"].id])
    assert (
        _htmx(client, "post", url, {"first_error_index": "2", "client_token": "t"}).status_code
        == 200
    )
    ann = Annotation.objects.get(annotator=a)
    ratings = list(ann.step_labels.order_by("step__index").values_list("rating", flat=True))
    assert ratings == [1, 1, -1, None]
    assert 'name="first_error_index" value="-1"' in page.content.decode()


def test_skip_releases_and_is_not_shown_again(client, steps_project, member) -> None:
    a = member(steps_project)
    client.force_login(a)
    page = client.get(reverse("annotate", args=[steps_project.slug]))
    current = page.context["current"]["assignment"]
    url = reverse("annotate_skip", args=[steps_project.slug, current.id])
    assert _htmx(client, "post", url, {"skip_reason": "unsure"}).status_code == 200
    skipped = Assignment.objects.get(id=current.id)
    assert (skipped.status, skipped.skip_reason) == ("skipped", "unsure")
    page = client.get(reverse("annotate", args=[steps_project.slug]))
    shown = {page.context["current"]["item"].id, page.context["task"]["item"].id}
    assert skipped.item_id not in shown


def test_flag_reaches_managers(client, steps_project, member) -> None:
    a = member(steps_project)
    client.force_login(a)
    page = client.get(reverse("annotate", args=[steps_project.slug]))
    current = page.context["current"]["assignment"]
    url = reverse("annotate_flag", args=[steps_project.slug, current.id])
    response = _htmx(client, "post", url, {"flag_reason": "personal_data", "flag_note": "a name"})
    assert response.status_code == 200
    flag = Flag.objects.get()
    assert (flag.item_id, flag.reason, flag.user_id) == (current.item_id, "personal_data", a.id)
    assert _htmx(client, "post", url, {"flag_reason": "nope"}).status_code == 422


def test_content_note_once_per_session_on_counseling_projects(client, make_project, member) -> None:
    project = make_project("dialogue_coding")
    _import(project, {"external_id": "d1", "turns": [{"speaker": "therapist", "text": "Hi"},
                                                     {"speaker": "client", "text": "Hello"}]})  # fmt: skip
    client.force_login(member(project))
    url = reverse("annotate", args=[project.slug])
    assert client.get(url).context["content_note"] is True
    assert (
        _htmx(client, "post", reverse("annotate_content_note", args=[project.slug])).status_code
        == 204
    )
    assert client.get(url).context["content_note"] is False


def test_dialogue_submit(client, make_project, member) -> None:
    project = make_project("dialogue_coding")
    _import(project, {"external_id": "d1", "turns": [{"speaker": "therapist", "text": "Hi"},
                                                     {"speaker": "client", "text": "Hello"}]})  # fmt: skip
    a = member(project)
    client.force_login(a)
    page = client.get(reverse("annotate", args=[project.slug]))
    html = page.content.decode()
    assert 'name="code-0-main_therapist_behaviour"' in html
    assert 'name="code-1-client_talk_type"' in html
    url = reverse("annotate_submit", args=[project.slug, page.context["current"]["assignment"].id])
    data = {"code-0-main_therapist_behaviour": "question", "code-1-client_talk_type": "change",
            "client_token": "x"}  # fmt: skip
    assert _htmx(client, "post", url, data).status_code == 200
    ann = Annotation.objects.get(annotator=a)
    assert sorted(ann.turn_labels.values_list("value", flat=True)) == ["change", "question"]


def test_preference_strength_is_stored_relative_to_candidates(client, make_project, member) -> None:
    project = make_project("preference", label_schema={"justification_required": False})
    _import(project, {"external_id": "p1", "prompt": "I feel low",
                      "candidates": [{"text": "A"}, {"text": "B"}]})  # fmt: skip
    a = member(project)
    client.force_login(a)
    page = client.get(reverse("annotate", args=[project.slug]))
    task = page.context["current"]
    asg = task["assignment"]
    left, right = task["left"], task["right"]
    assert {left.index, right.index} == {0, 1}
    url = reverse("annotate_submit", args=[project.slug, asg.id])
    data = {"strength": "-3", "pr-empathy-left": "5", "pr-empathy-right": "2", "client_token": "x"}
    assert _htmx(client, "post", url, data).status_code == 200
    pref = PreferenceLabel.objects.get()
    assert pref.candidate_a_id == asg.left_candidate_id  # the left one is better
    assert pref.candidate_b_id == asg.right_candidate_id
    assert pref.strength == -3
    assert pref.left_candidate_id == asg.left_candidate_id
    values = dict(pref.annotation.principle_ratings.values_list("candidate_id", "value"))
    assert values == {asg.left_candidate_id: 5, asg.right_candidate_id: 2}


def test_suggestions_are_hints_never_prefilled(client, steps_project, member) -> None:
    a = member(steps_project)
    client.force_login(a)
    from annotation.models import Item

    item = Item.objects.get(external_id="t1")
    step = item.steps.get(index=1)
    Suggestion.objects.create(item=item, step=step, target="step:1", method="verify",
                              model_name="m", score=0.12, label="-")  # fmt: skip
    Suggestion.objects.create(item=item, target="item", method="mc", model_name="m", label="1")
    html = client.get(reverse("annotate", args=[steps_project.slug])).content.decode()
    assert "P(correct): 0.12" in html
    assert "MC: first error at step 2" in html
    assert "checked" not in html.split('data-index="1"')[1].split("</li>")[0]
    steps_project.show_suggestions = False
    steps_project.save()
    assert (
        "P(correct)"
        not in client.get(reverse("annotate", args=[steps_project.slug])).content.decode()
    )


def test_xss_in_a_step_renders_as_text(client, make_project, member) -> None:
    project = make_project("step_labels")
    _import(project, {"external_id": "x", "prompt": "<script>alert(1)</script>",
                      "steps": ["<img src=x onerror=alert(1)> and $\\frac{a}{b}$"]})  # fmt: skip
    client.force_login(member(project))
    html = client.get(reverse("annotate", args=[project.slug])).content.decode()
    assert "<img src=x" not in html
    assert "<script>alert" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<span class="tex">$\\frac{a}{b}$</span>' in html


def test_rich_text_keeps_latex_intact() -> None:
    out = str(rich_text("so $a_1 * b_2 \\\\ c$ and **bold** and $$\\sum_{i} x_i$$ and \\(x<y\\)"))
    assert "$a_1 * b_2 \\\\ c$" in out
    assert "<strong>bold</strong>" in out
    assert "$$\\sum_{i} x_i$$" in out
    assert "\\(x&lt;y\\)" in out
    assert "<em>" not in out
    assert "tex" not in str(rich_text("costs $5 and $10"))


# --- query counts -------------------------------------------------------------------------


def _counts(client, make_project, member, django_assert_num_queries, n_steps, expected):
    project = make_project("step_labels", overlap=1)
    _import(project, *[_trace(f"q{i}", n_steps) for i in range(4)])
    client.force_login(member(project))
    url = reverse("annotate", args=[project.slug])
    with django_assert_num_queries(expected["page"]):
        page = client.get(url)
    held = [page.context["current"]["assignment"].id, page.context["task"]["assignment"].id]
    with django_assert_num_queries(expected["claim"]):
        _htmx(client, "get", url + "?" + "&".join(f"exclude={i}" for i in held))


@pytest.mark.parametrize("n_steps", [3, 30])
def test_annotate_page_and_claim_query_counts_do_not_grow_with_steps(
    client, make_project, member, django_assert_num_queries, is_postgres, n_steps
) -> None:
    # PostgreSQL claims in one statement plus a slot check; SQLite takes the general path.
    vendor = "postgresql" if is_postgres else "sqlite"
    expected = {"page": PAGE_QUERIES[vendor], "claim": CLAIM_QUERIES[vendor]}
    _counts(client, make_project, member, django_assert_num_queries, n_steps, expected)


PAGE_QUERIES = {"postgresql": 12, "sqlite": 24}
CLAIM_QUERIES = {"postgresql": 6, "sqlite": 12}


# --- my annotations and edits -------------------------------------------------------------


def test_my_annotations_and_edit_keeps_revisions(client, steps_project, member) -> None:
    a, other = member(steps_project), member(steps_project)
    for user in (a, other):
        client.force_login(user)
        page = client.get(reverse("annotate", args=[steps_project.slug]))
        url = reverse(
            "annotate_submit", args=[steps_project.slug, page.context["current"]["assignment"].id]
        )
        _htmx(client, "post", url, _rate_all(client_token=f"t-{user.id}"))
    client.force_login(a)
    mine = client.get(reverse("annotate_mine", args=[steps_project.slug]))
    assert len(mine.context["annotations"]) == 1
    ann = mine.context["annotations"][0]
    other_ann = Annotation.objects.get(annotator=other)
    # Someone else's annotation is not mine to open.
    url = reverse("annotate_edit", args=[steps_project.slug, other_ann.id])
    assert client.get(url).status_code == 404
    url = reverse("annotate_edit", args=[steps_project.slug, ann.id])
    form = client.get(url)
    assert form.status_code == 200
    assert form.content.decode().count("checked") >= 3  # my own labels, pre-filled
    data = {"rating-0": "-1", "rating-1": "1", "rating-2": "1", "client_token": "edit-1"}
    assert client.post(url, data).status_code == 302
    ann.refresh_from_db()
    assert ann.revision == 2
    assert [r.labels["first_error_index"] for r in ann.revisions.order_by("revision")] == [-1, 0]
    # The same form posted again changes nothing.
    client.post(url, data)
    ann.refresh_from_db()
    assert ann.revision == 2
    bad = client.post(url, {"rating-0": "7", "client_token": "edit-2"})
    assert bad.status_code == 422


def test_home_shows_progress_and_start_labeling(client, steps_project, member) -> None:
    a = member(steps_project)
    client.force_login(a)
    client.get(reverse("annotate", args=[steps_project.slug]))
    response = client.get(reverse("home"))
    html = response.content.decode()
    assert "Start labeling" in html
    assert reverse("annotate", args=[steps_project.slug]) in html
    project = response.context["projects"][0]
    assert (project.progress.done, project.progress.assigned, project.progress.remaining) == (
        0,
        2,
        3,
    )


def test_home_has_no_start_button_for_researchers(client, steps_project, member) -> None:
    client.force_login(member(steps_project, Role.RESEARCHER))
    html = client.get(reverse("home")).content.decode()
    assert "Start labeling" not in html
