"""Job services: create, chunk claiming, idempotent results, cancel, retry, attempt caps,
and every method end to end on the tiny model (in process; the worker tests cover Celery)."""

import pytest
from django.db.models import Count

from annotation.errors import ApplicationError
from annotation.models import Annotation, Item, StepLabel, Suggestion, User
from labeling_jobs.models import JOB_KIND_SPECS, JobChunk, JobStatus, LabelingJob
from labeling_jobs.services import (
    labeling_job_cancel,
    labeling_job_chunk_run,
    labeling_job_create,
    labeling_job_retry,
    labeling_job_run_inline,
)

pytestmark = pytest.mark.django_db
FAST_MC = {"n_rollouts": 2, "max_new_tokens": 6}


def run(project, kind, model=None, **kw):
    job = labeling_job_create(project=project, kind=kind, model_name=model, enqueue=False, **kw)
    job = labeling_job_run_inline(job=job)
    # A job writes only the suggestion methods its kind declares.
    written = set(Suggestion.objects.filter(job_id=job.id).values_list("method", flat=True))
    assert written <= set(JOB_KIND_SPECS[job.kind].methods)
    return job


def test_create_splits_into_chunks_and_enqueues_after_commit(
    step_project, tiny_model_dir, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr("labeling_jobs.tasks.labeling_job_chunk_run_task.delay", sent.append)
    project = step_project(n=5)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = labeling_job_create(
            project=project, kind="mc_estimate", model_name=tiny_model_dir, chunk_size=2
        )
        assert not sent  # nothing is queued before the transaction commits
    assert len(callbacks) == 1
    chunks = list(job.chunks.order_by("index"))
    assert [len(c.item_ids) for c in chunks] == [2, 2, 1]
    assert sent == [c.id for c in chunks]
    assert job.status == JobStatus.QUEUED
    assert job.progress_total == 5
    assert job.params["n_rollouts"] == 8
    assert job.params["unfinished_policy"] == "incorrect"
    assert job.model_name == tiny_model_dir
    assert job.backend == "transformers"


def test_demo_model_is_the_default(step_project, settings):
    job = labeling_job_create(project=step_project(), kind="step_judge", enqueue=False)
    assert job.model_name == settings.STEPWISE_DEMO_MODEL


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("pair_judge", {}, "kind: pair_judge jobs need a preference project"),
        ("mc_estimate", {"unfinished_policy": "maybe"}, "params.unfinished_policy"),
        ("mc_estimate", {"n_rollouts": 0}, "n_rollouts"),
        ("step_judge", {"mode": "vibes"}, "params.mode"),
        ("consensus", {}, "kind: run a step_judge job to completion first"),
    ],
)
def test_create_rejects_bad_requests(step_project, kind, params, message):
    with pytest.raises(ApplicationError, match=message):
        labeling_job_create(project=step_project(), kind=kind, params=params, enqueue=False)


def test_scope_and_limit(step_project, tiny_model_dir):
    project = step_project(n=4)
    job = labeling_job_create(project=project, kind="step_judge", limit=2, enqueue=False,
                              scope={"external_ids": ["t1", "t2", "t3"]})  # fmt: skip
    assert job.progress_total == 2
    assert job.scope == {"external_ids": ["t1", "t2", "t3"], "limit": 2}
    with pytest.raises(ApplicationError, match="scope: no items match"):
        labeling_job_create(
            project=project, kind="step_judge", scope={"external_ids": ["zz"]}, enqueue=False
        )
    with pytest.raises(ApplicationError, match="scope: unknown"):
        labeling_job_create(project=project, kind="step_judge", scope={"where": 1}, enqueue=False)


def test_mc_estimate_results_counts_and_provenance(step_project, tiny_model_dir):
    project = step_project(n=4)
    job = run(project, "mc_estimate", tiny_model_dir, params=FAST_MC, chunk_size=3)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress_done == 4
    assert job.skipped == {"no reference answer": 1}
    assert job.tokens_generated > 0
    assert job.wall_seconds > 0
    assert job.attempts == 2
    rows = Suggestion.objects.filter(job_id=job.id)
    steps = rows.exclude(target="item")
    # 3 items with references: 2 + 3 + 2 steps, and one item-level verdict each
    assert steps.count() == 7
    assert rows.filter(target="item").count() == 3
    for s in steps:
        assert s.method == "mc"
        assert s.model_name == tiny_model_dir
        assert s.step.item_id == s.item_id
        assert s.target == f"step:{s.step.index}"
        assert 0.0 <= s.score <= 1.0
        assert s.label in ("0", "1")
        r = s.raw
        assert (
            r["n_correct"] + r["n_truncated"] + r["n_unparsed"] <= r["n_rollouts"] + r["n_correct"]
        )
        assert r["unfinished_policy"] == "incorrect"
        last = s.step.index == s.item.steps.count() - 1
        assert r["source"] == ("final_answer" if last else "rollouts")
        assert r["n_rollouts"] == (0 if last else 2)
    # the last step is judged from the trace's own final answer
    wrong = Item.objects.get(project=project, external_id="t1")
    assert rows.get(item=wrong, target="step:2").score == 0.0
    assert rows.get(item=wrong, target="item").label in ("0", "1", "2")
    right = Item.objects.get(project=project, external_id="t0")
    assert rows.get(item=right, target="step:1").score == 1.0


def test_rerunning_a_chunk_writes_nothing_twice(step_project, tiny_model_dir):
    project = step_project(n=3)
    job = labeling_job_create(project=project, kind="step_judge", model_name=tiny_model_dir,
                              params={"mode": "verify"}, enqueue=False)  # fmt: skip
    chunk = job.chunks.get()
    # An earlier delivery claimed the chunk and its worker died before the chunk was done.
    JobChunk.objects.filter(id=chunk.id).update(status=JobChunk.Status.RUNNING, attempts=1)
    LabelingJob.objects.filter(id=job.id).update(status=JobStatus.RUNNING)
    item = Item.objects.filter(project=project).first()
    Suggestion.objects.create(
        item=item, job_id=job.id, method="verify", target="item", model_name="x", label="stale"
    )
    assert labeling_job_chunk_run(chunk_id=chunk.id) == "done"
    job.refresh_from_db()
    before = Suggestion.objects.filter(job_id=job.id).count()
    assert before == 3 + 7  # one per step (2 + 3 + 2) and one per item
    assert Suggestion.objects.get(job_id=job.id, item=item, target="item").label != "stale"
    # The broker delivers the finished chunk again: nothing changes.
    assert labeling_job_chunk_run(chunk_id=chunk.id) == "noop"
    assert Suggestion.objects.filter(job_id=job.id).count() == before
    dup = (
        Suggestion.objects.values("job_id", "item", "method", "target")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not dup.exists()
    job.refresh_from_db()
    assert job.progress_done == 3
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 1
    assert job.chunks.get().attempts == 2


def test_cancel_stops_between_chunks_and_retry_resumes(step_project, tiny_model_dir):
    project = step_project(n=4)
    job = labeling_job_create(project=project, kind="step_judge", model_name=tiny_model_dir,
                              params={"mode": "verify"}, chunk_size=1, enqueue=False)  # fmt: skip
    first, *rest = job.chunks.order_by("index")
    assert labeling_job_chunk_run(chunk_id=first.id) == "done"
    assert labeling_job_cancel(job=job)
    assert not labeling_job_cancel(job=job)
    assert labeling_job_chunk_run(chunk_id=rest[0].id) == "noop"
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.progress_done == 1
    assert set(job.chunks.values_list("status", flat=True)) == {"done", "cancelled"}
    assert labeling_job_retry(job=job, enqueue=False) == 3
    job = labeling_job_run_inline(job=job)
    assert job.status == JobStatus.SUCCEEDED
    assert job.progress_done == 4
    assert Suggestion.objects.filter(job_id=job.id, target="item").count() == 4


def test_a_chunk_that_keeps_dying_fails_the_job_with_a_clear_message(
    step_project, tiny_model_dir, settings
):
    settings.STEPWISE_LABELING_MAX_ATTEMPTS = 2
    job = labeling_job_create(project=step_project(n=2), kind="step_judge", model_name=tiny_model_dir,
                              params={"max_new_tokens": 4}, enqueue=False)  # fmt: skip
    chunk = job.chunks.get()
    # two deliveries whose worker died after claiming (the claim counted the attempt)
    JobChunk.objects.filter(id=chunk.id).update(status=JobChunk.Status.RUNNING, attempts=2)
    assert labeling_job_chunk_run(chunk_id=chunk.id) == "attempts_exhausted"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "chunk 0" in job.error
    assert "started 2 times without finishing" in job.error
    assert "worker process died" in job.error
    assert labeling_job_chunk_run(chunk_id=chunk.id) == "noop"
    assert labeling_job_retry(job=job, enqueue=False) == 1
    assert labeling_job_run_inline(job=job).status == JobStatus.SUCCEEDED


def test_a_broken_model_fails_the_job(step_project, tmp_path):
    job = run(
        step_project(n=1), "step_judge", str(tmp_path / "nope.gguf"), params={"max_new_tokens": 4}
    )
    assert job.status == JobStatus.FAILED
    assert "does not exist" in job.error


def test_first_error_search_spends_fewer_rollouts(step_project, tiny_model_dir):
    job = run(step_project(n=4), "first_error_search", tiny_model_dir, params=FAST_MC)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.stats["rollouts"] <= job.stats["per_step_rollouts"]
    for s in Suggestion.objects.filter(job_id=job.id, target="item"):
        assert int(s.label) >= -1
        assert s.raw["rollouts_spent"] <= s.raw["per_step_rollouts"]


def test_critique_judge_with_votes_stores_histogram(step_project, tiny_model_dir):
    job = run(
        step_project(n=2), "step_judge", tiny_model_dir, params={"votes": 3, "max_new_tokens": 6}
    )
    assert job.status == JobStatus.SUCCEEDED
    for s in Suggestion.objects.filter(job_id=job.id):
        assert s.method == "judge"
        assert s.target == "item"
        assert sum(s.raw["votes"].values()) == 3
        assert len(s.raw["outputs"]) == 3
        # random text has no boxed index: no verdict, recorded, not -1
        assert s.label == "" or int(s.label) >= -1


def test_consensus_auto_labels_agreements_and_routes_the_rest(step_project, tiny_model_dir):
    project = step_project(n=4)
    judge = run(project, "step_judge", tiny_model_dir, params={"mode": "verify"})
    mc = run(project, "mc_estimate", tiny_model_dir, params=FAST_MC)
    # Make the judge agree with MC on two items and disagree on one, whatever the model said.
    mc_verdicts = dict(
        Suggestion.objects.filter(job_id=mc.id, target="item").values_list("item_id", "label")
    )
    items = sorted(mc_verdicts)
    for n, item_id in enumerate(items):
        label = mc_verdicts[item_id] if n < 2 else "-1" if mc_verdicts[item_id] != "-1" else "0"
        Suggestion.objects.filter(job_id=judge.id, item_id=item_id, target="item").update(
            label=label
        )
    # Without labeled items to measure it on, agreement is not enough to accept a label.
    refused = run(project, "consensus")
    assert refused.params["auto_accept_rule"]["rule"] is None
    assert "only 0 labeled items" in refused.params["auto_accept_rule"]["reason"]
    assert "auto_labeled" not in refused.stats
    assert refused.stats["agreed, left to humans"] == 2
    assert not Annotation.objects.filter(source="consensus").exists()
    # Experts agree with the models on both agreeing items: judge ∧ MC measures 2/2, whose
    # Wilson lower bound (0.34) reaches a (deliberately low) target of 0.3 at 2 labeled items.
    expert = User.objects.create(username="experts", kind=User.Kind.IMPORTED)
    for item_id in items[:2]:
        Annotation.objects.create(
            item_id=item_id, annotator=expert, source="imported",
            first_error_index=int(mc_verdicts[item_id]),
        )  # fmt: skip
    project.auto_accept_target, project.auto_accept_min_labeled = 0.3, 2
    project.save()
    job = run(project, "consensus")
    assert job.status == JobStatus.SUCCEEDED
    assert job.params["judge_job_id"] == judge.id
    chosen = job.params["auto_accept_rule"]["rule"]
    assert chosen["rule"] == "judge_mc_agree"
    assert (chosen["accepted"], chosen["correct"]) == (2, 2)
    assert chosen["low"] == pytest.approx(0.342, abs=1e-3)
    assert job.stats["auto_labeled"] == 2
    assert job.stats["routed"] == 2
    consensus_user = User.objects.get(username="consensus")
    assert consensus_user.kind == User.Kind.MODEL
    anns = Annotation.objects.filter(item__project=project, source="consensus")
    assert sorted(anns.values_list("item_id", flat=True)) == items[:2]
    for ann in anns:
        assert ann.first_error_index == int(mc_verdicts[ann.item_id])
        assert StepLabel.objects.filter(annotation=ann).count() == ann.item.steps.count()
    routed = Item.objects.filter(project=project, priority=10)
    assert routed.count() == 2
    assert not routed.filter(id__in=items[:2]).exists()
    assert Item.objects.filter(project=project, done_count=0).count() == 4  # humans untouched
    # running it again changes nothing
    again = run(project, "consensus")
    assert again.stats == job.stats
    assert anns.count() == 2
    # The project's setting turns auto-accept off for jobs that do not say otherwise.
    project.consensus_auto_accept = False
    project.save(update_fields=["consensus_auto_accept"])
    off = run(project, "consensus")
    assert off.params["auto_accept"] is False
    assert off.stats["agreed"] == 2
    assert "auto_labeled" not in off.stats


def test_pair_judge_and_turn_coder(preference_project, dialogue_project, tiny_model_dir):
    pj = run(preference_project, "pair_judge", tiny_model_dir)
    assert pj.status == JobStatus.SUCCEEDED
    rows = Suggestion.objects.filter(job_id=pj.id)
    assert rows.count() == 2
    for s in rows:
        assert s.target == "pair:0-1"
        assert s.candidate.index == 1
        assert 0 <= s.score <= 1
        assert s.raw["consistent"] == (s.label != "")
        if not s.raw["consistent"]:
            assert s.item.priority == 10
    tc = run(dialogue_project, "turn_coder", tiny_model_dir)
    rows = Suggestion.objects.filter(job_id=tc.id).order_by("turn__index")
    assert [s.turn.index for s in rows] == [0, 1, 2, 3]
    for s in rows:
        probs = s.raw["probs"]
        assert sum(probs.values()) == pytest.approx(1.0)
        assert s.label == max(probs, key=probs.get)
        assert s.raw["field"] == (
            "main_therapist_behaviour" if s.turn.speaker == "therapist" else "client_talk_type"
        )


def test_a_finished_or_cancelled_job_requests_a_dashboard_refresh(
    step_project, tiny_model_dir, django_capture_on_commit_callbacks
):
    from annotation.models import StatsRefresh

    project = step_project(n=2)
    job = labeling_job_create(project=project, kind="step_judge", model_name=tiny_model_dir,
                              params={"mode": "verify"}, chunk_size=1, enqueue=False)  # fmt: skip
    first, second = job.chunks.order_by("index")
    with django_capture_on_commit_callbacks(execute=True):
        assert labeling_job_chunk_run(chunk_id=first.id) == "done"
    assert not StatsRefresh.objects.filter(project=project).exists()  # still running
    with django_capture_on_commit_callbacks(execute=True):
        assert labeling_job_chunk_run(chunk_id=second.id) == "done"
    assert StatsRefresh.objects.get(project=project).status == "queued"
    StatsRefresh.objects.filter(project=project).update(status="succeeded")
    other = labeling_job_create(project=project, kind="step_judge", model_name=tiny_model_dir,
                                params={"mode": "verify"}, enqueue=False)  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        assert labeling_job_cancel(job=other)
    assert StatsRefresh.objects.filter(project=project, status="queued").count() == 1


def test_scoring_job_reranks_an_uncertainty_routed_project(step_project, tiny_model_dir):
    project = step_project(n=3)
    project.routing = "uncertainty"
    project.save()
    assert not Item.objects.filter(project=project, priority__gt=0).exists()
    job = run(project, "mc_estimate", tiny_model_dir, params=FAST_MC)
    assert job.status == JobStatus.SUCCEEDED
    # One method alone cannot disagree: every item with an MC verdict is ranked (priority 1,
    # uncertainty 0) and marked routed; the recompute ran once the job finished.
    with_verdict = set(
        Suggestion.objects.filter(job_id=job.id, target="item")
        .exclude(label="")
        .values_list("item_id", flat=True)
    )
    assert with_verdict
    ranked = Item.objects.filter(project=project, routed_at__isnull=False)
    assert set(ranked.values_list("id", flat=True)) == with_verdict
    assert set(ranked.values_list("priority", flat=True)) <= {1}
    assert set(Item.objects.filter(project=project).values_list("manager_priority", flat=True)) == {
        0
    }
