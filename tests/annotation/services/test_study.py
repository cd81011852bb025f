"""Study links: settings validation, the cap and pause, the worker's account, the quota, the
training round (pass and fail), attention checks, and idempotent counting."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from annotation.errors import ApplicationError
from annotation.models import Membership, Role, StudyWorker, User
from annotation.services.study import (
    Arrival,
    study_arrival_parse,
    study_claim_next,
    study_link_update,
    study_submit,
    study_worker_enter,
)
from tests.study_projects import N_GOLD, N_ITEMS, make_link, study_project


def enter(link, pid):
    return study_worker_enter(
        link=link, arrival=Arrival(worker_id=pid, study_id="S", session_id="X")
    )


def answer(worker, *, right: bool):
    """Claim the worker's next item and answer it: the gold answer (first error at 1) when
    `right`, else "no error"."""
    assignment = study_claim_next(worker=worker)
    assert assignment is not None
    labels = {"first_error_index": 1 if right else -1}
    result = study_submit(
        worker=worker, assignment=assignment, labels=labels, client_token=f"c{assignment.id}"
    )
    return assignment, result


def test_link_defaults_and_validation(make_project, make_user):
    project, manager = study_project(make_project, make_user)
    link = make_link(project, manager)
    assert (link.worker_param, link.study_param, link.session_param) == (
        "PROLIFIC_PID", "STUDY_ID", "SESSION_ID",
    )  # fmt: skip
    assert len(link.token) >= 20
    bad = [
        ({"completion_url": "javascript:alert(1)"}, "completion_url"),
        ({"completion_url": "ftp://x.org/"}, "completion_url"),
        ({"completion_code": "has space"}, "completion_code"),
        ({"worker_param": "STUDY_ID"}, "study_param"),
        ({"quota": 0}, "quota"),
        ({"attention_rate": 1.5}, "attention_rate"),
        ({"pass_mark": float("nan")}, "pass_mark"),
        ({"training_items": True}, "training_items"),
        ({"owner": "x"}, "owner"),
    ]
    for data, field in bad:
        with pytest.raises(ApplicationError) as exc:
            make_link(project, manager, **data)
        assert exc.value.field == field, data
    ok = make_link(
        project, manager, completion_url="https://app.prolific.com/submissions/complete?cc=C0DE42"
    )
    assert ok.completion_url.startswith("https://")
    study_link_update(link=ok, data={"paused": True, "quota": 3})
    ok.refresh_from_db()
    assert ok.paused
    assert ok.quota == 3


def test_arrival_needs_the_worker_parameter(make_project, make_user):
    project, manager = study_project(make_project, make_user)
    link = make_link(project, manager, worker_param="PID")
    with pytest.raises(ApplicationError) as exc:
        study_arrival_parse(link=link, params={"PROLIFIC_PID": "abc"})
    assert exc.value.code == "missing_params"
    with pytest.raises(ApplicationError):
        study_arrival_parse(link=link, params={"PID": "a b<script>"})
    arrival = study_arrival_parse(
        link=link, params={"PID": "5f1e2d", "STUDY_ID": "s1", "SESSION_ID": "x!"}
    )
    assert arrival == Arrival(worker_id="5f1e2d", study_id="s1", session_id="")


def test_account_membership_and_cap(make_project, make_user):
    project, manager = study_project(make_project, make_user)
    other, _ = study_project(make_project, make_user, slug="other-proj")
    link = make_link(project, manager, max_workers=2)
    a = enter(link, "pidA")
    user = User.objects.get(username="prolific:pidA")
    assert a.user == user
    assert not user.has_usable_password()
    assert list(Membership.objects.filter(user=user).values_list("project_id", "role")) == [
        (project.id, Role.ANNOTATOR)
    ]
    assert enter(link, "pidA").id == a.id  # the same worker comes back: the same row
    enter(link, "pidB")
    with pytest.raises(ApplicationError) as exc:
        enter(link, "pidC")
    assert exc.value.code == "study_full"
    assert not User.objects.filter(username="prolific:pidC").exists()
    assert enter(link, "pidB").worker_id == "pidB"  # in already: still let in when full
    assert not Membership.objects.filter(user=user, project=other).exists()


def test_paused_link_refuses_newcomers_only(make_project, make_user):
    project, manager = study_project(make_project, make_user)
    link = make_link(project, manager)
    a = enter(link, "pidA")
    study_link_update(link=link, data={"paused": True})
    with pytest.raises(ApplicationError) as exc:
        enter(link, "pidB")
    assert exc.value.code == "study_paused"
    assert enter(link, "pidA").id == a.id


def test_quota_then_completed_with_code(make_project, make_user):
    project, manager = study_project(make_project, make_user)
    link = make_link(project, manager, quota=3)
    worker = enter(link, "pidA")
    for _ in range(3):
        assignment, result = answer(worker, right=False)
        assert not assignment.item.is_gold  # attention_rate 0: no gold in the stream
        assert result.training is False
        assert result.correct is None
    assert worker.status == StudyWorker.Status.COMPLETED
    assert worker.items_done == 3
    assert worker.completion_code == "C0DE42"
    assert study_claim_next(worker=worker) is None
    again = StudyWorker.objects.select_related("link__project").get(id=worker.id)
    with pytest.raises(ApplicationError) as exc:
        study_submit(worker=again, assignment=assignment, labels={"first_error_index": 0})
    assert exc.value.code == "finished"


def test_repeated_submit_counts_once(make_project, make_user):
    project, manager = study_project(make_project, make_user)
    link = make_link(project, manager, quota=5)
    worker = enter(link, "pidA")
    assignment = study_claim_next(worker=worker)
    for _ in range(3):
        study_submit(
            worker=worker,
            assignment=assignment,
            labels={"first_error_index": 0},
            client_token="same",
        )
    assert StudyWorker.objects.get(id=worker.id).items_done == 1


def test_training_pass_then_real_items(make_project, make_user):
    project, manager = study_project(make_project, make_user)
    link = make_link(project, manager, quota=2, training_items=2, pass_mark=0.5)
    worker = enter(link, "pidA")
    first, result = answer(worker, right=True)
    assert first.item.is_gold
    assert result.training
    assert result.correct is True
    second, result = answer(worker, right=False)
    assert second.item.is_gold
    assert result.training
    assert result.correct is False
    assert worker.training_passed is True
    assert worker.status == StudyWorker.Status.ACTIVE
    for _ in range(2):
        assignment, result = answer(worker, right=True)
        assert not assignment.item.is_gold
        assert not result.training
    assert worker.status == StudyWorker.Status.COMPLETED
    assert (worker.training_done, worker.training_correct, worker.items_done) == (2, 1, 2)


def test_training_fail_stops_with_code_marked(make_project, make_user):
    project, manager = study_project(make_project, make_user)
    link = make_link(
        project, manager, quota=2, training_items=2, pass_mark=0.75, failure_code="REJ1"
    )
    worker = enter(link, "pidA")
    answer(worker, right=True)
    _, result = answer(worker, right=False)
    assert result.training
    assert worker.training_passed is False
    assert worker.status == StudyWorker.Status.FAILED
    assert worker.completion_code == "REJ1"
    assert worker.finished_at is not None
    assert study_claim_next(worker=worker) is None
    assert worker.items_done == 0


def test_attention_checks_at_the_rate_and_rejection(make_project, make_user):
    project, manager = study_project(make_project, make_user)
    # Rate 1: every claim is an attention check while gold items are left.
    link = make_link(project, manager, quota=6, attention_rate=1.0, pass_mark=0.8)
    worker = enter(link, "pidA")
    kinds = []
    for i in range(6):
        assignment, result = answer(worker, right=i < 2)
        kinds.append(assignment.item.is_gold)
    assert kinds == [True] * N_GOLD + [False] * (6 - N_GOLD)
    assert (worker.gold_total, worker.gold_correct, worker.items_done) == (N_GOLD, 2, 6)
    assert worker.status == StudyWorker.Status.REJECTED  # 2/4 under the 0.8 pass mark
    # Rate 0: none, although the project's own gold rate would draw some.
    project.gold_rate = 1.0
    project.save(update_fields=["gold_rate"])
    link0 = make_link(project, manager, quota=4, attention_rate=0.0)
    w0 = enter(link0, "pidB")
    for _ in range(4):
        assignment, _ = answer(w0, right=True)
        assert not assignment.item.is_gold
    assert w0.status == StudyWorker.Status.COMPLETED
    assert w0.gold_total == 0


def test_nothing_left_finishes_early(make_project, make_user):
    project, manager = study_project(make_project, make_user)
    link = make_link(project, manager, quota=50)
    worker = enter(link, "pidA")
    for _ in range(N_ITEMS):
        answer(worker, right=True)
    assert study_claim_next(worker=worker) is None
    assert worker.status == StudyWorker.Status.COMPLETED
    assert worker.items_done == N_ITEMS


def test_an_account_made_otherwise_is_never_signed_in(make_project, make_user):
    project, manager = study_project(make_project, make_user)
    link = make_link(project, manager)
    admin = make_user("prolific:admin1", is_staff=True)
    with pytest.raises(ApplicationError) as exc:
        enter(link, "admin1")
    assert exc.value.code == "conflict"
    assert not StudyWorker.objects.exists()
    assert not admin.memberships.exists()
    # A worker's own account is reused on another link.
    first = enter(link, "pidA")
    other = make_link(project, manager, name="Second")
    assert enter(other, "pidA").user_id == first.user_id


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_workers_arriving_at_once_never_exceed_the_cap(make_project, make_user):
    project, manager = study_project(make_project, make_user)
    link = make_link(project, manager, max_workers=3)
    n = 8
    barrier = threading.Barrier(n)
    codes: list[str] = []

    def arrive(i: int) -> None:
        try:
            barrier.wait()
            enter(link, f"w{i}")
            codes.append("in")
        except ApplicationError as exc:
            codes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=arrive, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == ["in"] * 3 + ["study_full"] * (n - 3)
    assert StudyWorker.objects.filter(link=link).count() == 3
