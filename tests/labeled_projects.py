"""Projects with every kind of row a real project accumulates, built through the services.

Used where a test needs the whole picture rather than one feature: the exporters' SQL reader
checked against the ORM reader, and project backup/restore. Labels are deterministic (seeded)
so two builds give the same data.

- `demo_labeled()`: the three demo projects, each labeled by two annotators (an edit makes a
  second revision), adjudicated on two items, one gold item, flags (one resolved), a skipped
  item, and model suggestions under a labeling job with chunks.
- `processbench_labeled()`: the real ProcessBench GSM8K file (400 traces, imported expert
  labels) plus a human annotator on 60 traces and another on 30, so final labels aggregate
  over overlapping raters, and Monte-Carlo values on 40 traces.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from django.utils import timezone

from annotation.models import (
    Assignment,
    Candidate,
    Item,
    Project,
    ProjectKind,
    Role,
    Step,
    Suggestion,
    SuggestionMethod,
    Turn,
    User,
)
from annotation.services.annotations import adjudication_submit, annotation_submit
from annotation.services.assignments import assignment_claim_next, assignment_skip
from annotation.services.demo import DEMO_PROJECTS, demo_setup
from annotation.services.flags import flag_create, flag_resolve
from annotation.services.gold import item_gold_set
from annotation.services.imports import dataset_import
from annotation.services.projects import membership_set, project_create
from annotation.services.suggestions import suggestion_bulk_upsert, user_model_get_or_create


def _step_labels(rng: random.Random, n: int) -> dict[str, Any]:
    fe = rng.randint(-1, n - 1)
    steps = []
    for i in range(n):
        rating = 1 if fe == -1 or i < fe else (-1 if i == fe else rng.choice([-1, 0, 1]))
        if rng.random() < 0.15:
            rating = 0
        cant = rng.random() < 0.08
        steps.append(
            {"index": i, "rating": rating, "cant_judge": cant,
             "comment": "unsure about this one" if cant else ""}
        )  # fmt: skip
    finish = rng.choice(["", "", "", "give_up"]) if rng.random() < 0.1 else ""
    return {"steps": steps, "finish_reason": finish}


def _turn_labels(rng: random.Random, project: Project, item: Item) -> dict[str, Any]:
    fields = project.label_schema["fields"]
    turns = []
    for turn in Turn.objects.filter(item=item).order_by("index"):
        for f in fields:
            if f["role"] == turn.speaker and rng.random() < 0.9:
                turns.append({"index": turn.index, "field": f["name"],
                              "value": rng.choice(f["choices"])})  # fmt: skip
    if not turns:
        turn = Turn.objects.filter(item=item).order_by("index").first()
        f = next(f for f in fields if f["role"] == turn.speaker)
        turns.append({"index": turn.index, "field": f["name"], "value": f["choices"][0]})
    return {"turns": turns}


def _preference_labels(rng: random.Random, project: Project, item: Item) -> dict[str, Any]:
    schema = project.label_schema
    a, b = 0, 1
    principles = [
        {"principle": p, "candidate": c, "value": rng.randint(1, 5)}
        for p in schema["principles"][:4]
        for c in (a, b)
    ]
    return {
        "candidate_a": a,
        "candidate_b": b,
        "strength": rng.randint(-3, 3),
        "principles": principles,
        "justification": f"Response {rng.choice('AB')} reflects the feeling; the other advises.",
    }


def labels_for(rng: random.Random, project: Project, item: Item) -> dict[str, Any]:
    if project.kind == ProjectKind.STEP_LABELS:
        return _step_labels(rng, Step.objects.filter(item=item).count())
    if project.kind == ProjectKind.DIALOGUE_CODING:
        return _turn_labels(rng, project, item)
    return _preference_labels(rng, project, item)


def label_all(
    project: Project, annotator: User, *, seed: int, limit: int | None = None, skip_first: bool
) -> list[Assignment]:
    """The annotator claims and submits until nothing is left (or `limit` items)."""
    rng = random.Random(seed)
    done: list[Assignment] = []
    skipped = not skip_first
    while limit is None or len(done) < limit:
        assignment = assignment_claim_next(
            project=project, annotator=annotator, rng=random.Random(seed + len(done))
        )
        if assignment is None:
            break
        if not skipped:
            assignment_skip(assignment=assignment, reason="not sure I can judge this")
            skipped = True
            continue
        annotation_submit(
            assignment=assignment,
            labels=labels_for(rng, project, assignment.item),
            client_token=f"{annotator.username}-{assignment.id}",
            active_ms=1000 + rng.randint(0, 90_000),
        )
        done.append(assignment)
    return done


def add_suggestions(project: Project, *, n_items: int, seed: int) -> int:
    """Model suggestions of every target kind under a labeling job with its chunks."""
    from labeling_jobs.models import Backend, JobChunk, JobKind, LabelingJob

    rng = random.Random(seed)
    items = list(Item.objects.filter(project=project).order_by("id")[:n_items])
    job = LabelingJob.objects.create(
        project=project,
        kind=JobKind.MC_ESTIMATE,
        backend=Backend.TRANSFORMERS,
        model_name="HuggingFaceTB/SmolLM2-135M-Instruct",
        params={"n_rollouts": 8, "temperature": 0.7, "seed": seed, "max_new_tokens": 256},
        scope={"item_ids": [i.id for i in items], "limit": n_items},
        status="succeeded",
        progress_done=len(items),
        progress_total=len(items),
        tokens_generated=12345,
        wall_seconds=3.5,
        attempts=1,
        stats={"rollouts": 8 * len(items)},
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    for n, start in enumerate(range(0, len(items), 7)):
        JobChunk.objects.create(
            job=job, index=n, item_ids=[i.id for i in items[start : start + 7]],
            status=JobChunk.Status.DONE, attempts=1, worker="gpu0@test", tokens_generated=99,
        )  # fmt: skip
    rows = []
    for item in items:
        if project.kind == ProjectKind.STEP_LABELS:
            for step in Step.objects.filter(item=item).order_by("index"):
                rows.append(
                    Suggestion(
                        item=item, step=step, target=f"step:{step.index}",
                        method=SuggestionMethod.MC, model_name=job.model_name,
                        score=rng.randint(0, 8) / 8, raw={"alive": rng.randint(0, 8), "n": 8},
                        job_id=job.id,
                    )
                )  # fmt: skip
        elif project.kind == ProjectKind.DIALOGUE_CODING:
            for turn in Turn.objects.filter(item=item).order_by("index")[:3]:
                rows.append(
                    Suggestion(
                        item=item, turn=turn, target=f"turn:{turn.index}",
                        method=SuggestionMethod.TURN_CODER, model_name=job.model_name,
                        label="question", raw={"field": "main_therapist_behaviour"},
                        job_id=job.id,
                    )
                )  # fmt: skip
        else:
            for cand in Candidate.objects.filter(item=item).order_by("index"):
                rows.append(
                    Suggestion(
                        item=item, candidate=cand, target=f"candidate:{cand.index}",
                        method=SuggestionMethod.PAIR_JUDGE, model_name=job.model_name,
                        score=rng.random(), job_id=job.id,
                    )
                )  # fmt: skip
        rows.append(
            Suggestion(
                item=item, target="item", method=SuggestionMethod.JUDGE,
                model_name=job.model_name, label=str(rng.randint(-1, 1)), job_id=job.id,
            )
        )  # fmt: skip
    return suggestion_bulk_upsert(suggestions=rows)


def demo_labeled() -> list[Project]:
    """The demo projects with two annotators' labels, reviews, gold, flags and suggestions."""
    demo_setup(password="demo-password-for-tests")
    users = {u.username: u for u in User.objects.filter(username__in=["annotator1", "annotator2",
                                                                      "reviewer", "manager"])}  # fmt: skip
    projects = []
    for n, spec in enumerate(DEMO_PROJECTS):
        project = Project.objects.get(slug=spec["slug"])
        first = label_all(project, users["annotator1"], seed=10 + n, skip_first=False)
        label_all(project, users["annotator2"], seed=20 + n, skip_first=True)
        # An edit: the first annotation gets a second revision.
        rng = random.Random(30 + n)
        annotation_submit(
            assignment=first[0],
            labels=labels_for(rng, project, first[0].item),
            client_token="annotator1-edit",
        )
        items = list(Item.objects.filter(project=project).order_by("id"))
        for item in items[:2]:
            adjudication_submit(
                item=item, reviewer=users["reviewer"], labels=labels_for(rng, project, item),
                note="settled after discussion", client_token=f"adj-{item.id}",
            )  # fmt: skip
        gold_item = items[-1]
        gold = labels_for(rng, project, gold_item)
        if project.kind == ProjectKind.STEP_LABELS:
            gold["first_error_index"] = -1
            gold["steps"] = [{"index": s["index"], "rating": 1} for s in gold["steps"]]
            gold["finish_reason"] = "solution"
        item_gold_set(item=gold_item, user=users["manager"], labels=gold)
        flag_create(item=items[0], user=users["annotator2"], reason="personal_data", note="a name")
        resolved = flag_create(item=items[1], user=users["annotator1"], reason="broken")
        flag_resolve(flag=resolved, user=users["manager"])
        add_suggestions(project, n_items=len(items), seed=40 + n)
        projects.append(project)
    return projects


def processbench_labeled(path: Path, *, manager: User | None = None) -> Project:
    """ProcessBench GSM8K with its experts, two human annotators and MC values."""
    manager = manager or User.objects.create_user(username="pb-manager", password="pw-pb")
    project = project_create(
        name="ProcessBench GSM8K", slug="pb-gsm8k", kind=ProjectKind.STEP_LABELS,
        created_by=manager, overlap=2,
    )  # fmt: skip
    with open(path, "rb") as fh:
        result = dataset_import(
            project=project, dataset_name="processbench-gsm8k", fmt="processbench", stream=fh,
            dataset_license="Apache-2.0", user=manager,
        )  # fmt: skip
    assert result.ok, result.errors[:3]
    for name, seed, limit in (("pb-rater-1", 1, 60), ("pb-rater-2", 2, 30)):
        user = User.objects.create_user(username=name, password="pw-" + name)
        membership_set(project=project, user=user, role=Role.ANNOTATOR)
        label_all(project, user, seed=seed, limit=limit, skip_first=False)
    add_suggestions(project, n_items=40, seed=5)
    user_model_get_or_create(username="consensus")
    return project
