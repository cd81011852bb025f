"""Labeling jobs: every model call runs under a LabelingJob row, split into JobChunk rows.

A chunk is the unit of work of one Celery task. It is claimed with a conditional UPDATE and
counts its attempts, so a chunk whose worker keeps dying fails the job instead of looping.
Results are `annotation.Suggestion` rows keyed by (job_id, item, method, target).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from annotation.models import ACTIVE_STATUSES as ACTIVE_STATUSES
from annotation.models import BackgroundRun, ProjectKind, RunStatus, SuggestionMethod


class JobKind(models.TextChoices):
    STEP_JUDGE = "step_judge", "Step judge (LLM as judge)"
    MC_ESTIMATE = "mc_estimate", "Monte-Carlo step estimation"
    FIRST_ERROR_SEARCH = "first_error_search", "First-error search (binary)"
    CONSENSUS = "consensus", "Consensus of judge and MC"
    PAIR_JUDGE = "pair_judge", "Pair judge (preference)"
    TURN_CODER = "turn_coder", "Turn coder (dialogue)"
    PRM_SCORE = "prm_score", "PRM scoring (process reward model)"
    PRM_TRAIN = "prm_train", "Train a PRM from this project's labels"


@dataclass(frozen=True, slots=True)
class JobKindSpec:
    """What a job kind works on and writes: the project kind whose items it reads, and the
    `SuggestionMethod`s of the suggestion rows it writes (annotation knows methods, never
    job kinds, so it does not depend on this app)."""

    project_kind: ProjectKind
    methods: tuple[SuggestionMethod, ...]


JOB_KIND_SPECS: dict[JobKind, JobKindSpec] = {
    JobKind.STEP_JUDGE: JobKindSpec(
        ProjectKind.STEP_LABELS, (SuggestionMethod.JUDGE, SuggestionMethod.VERIFY)
    ),
    JobKind.MC_ESTIMATE: JobKindSpec(ProjectKind.STEP_LABELS, (SuggestionMethod.MC,)),
    JobKind.FIRST_ERROR_SEARCH: JobKindSpec(
        ProjectKind.STEP_LABELS, (SuggestionMethod.FIRST_ERROR_SEARCH,)
    ),
    JobKind.CONSENSUS: JobKindSpec(ProjectKind.STEP_LABELS, (SuggestionMethod.CONSENSUS,)),
    JobKind.PAIR_JUDGE: JobKindSpec(ProjectKind.PREFERENCE, (SuggestionMethod.PAIR_JUDGE,)),
    JobKind.TURN_CODER: JobKindSpec(ProjectKind.DIALOGUE_CODING, (SuggestionMethod.TURN_CODER,)),
    JobKind.PRM_SCORE: JobKindSpec(ProjectKind.STEP_LABELS, (SuggestionMethod.PRM,)),
    # Training writes a model (and the job's `detail`), no suggestions.
    JobKind.PRM_TRAIN: JobKindSpec(ProjectKind.STEP_LABELS, ()),
}


def job_kinds_for(project_kind: str) -> list[JobKind]:
    """The job kinds that run on projects of `project_kind`, in declaration order."""
    return [k for k in JobKind if JOB_KIND_SPECS[k].project_kind == project_kind]


class Backend(models.TextChoices):
    TRANSFORMERS = "transformers", "transformers (local)"
    OPENAI = "openai", "OpenAI-compatible server"
    NONE = "none", "No model"


# Jobs share the lifecycle of every background run (annotation.run_models).
JobStatus = RunStatus


class LabelingJob(BackgroundRun):
    """A model job over a set of items. `attempts` sums its chunks' attempts (a redelivered or
    retried chunk counts again); the cap applies per chunk. `heartbeat_at` is beaten by
    whichever worker is running one of its chunks."""

    dispatch_name = "labeling_jobs.job"

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="labeling_jobs"
    )
    kind = models.CharField(max_length=32, choices=JobKind.choices)
    # {"dataset_id": int} | {"item_ids": [...]} | {} (whole project); "limit" caps the count.
    scope = models.JSONField(default=dict, blank=True)
    backend = models.CharField(max_length=16, choices=Backend.choices)
    model_name = models.CharField(max_length=300, blank=True)
    # temperature, top_p, max_new_tokens, n_rollouts, seed and the method's own options.
    params = models.JSONField(default=dict, blank=True)
    tokens_generated = models.BigIntegerField(default=0)
    wall_seconds = models.FloatField(default=0.0)
    # Per-reason counts of items that were skipped ({"no reference answer": 3}).
    skipped = models.JSONField(default=dict, blank=True)
    # Method statistics summed over chunks (rollouts spent, verdicts, routed items, ...).
    stats = models.JSONField(default=dict, blank=True)
    # What the running method reports as it goes (training phase, step and loss, ...) and,
    # at the end, its result (e.g. the trained model and its held-out metrics).
    detail = models.JSONField(default=dict, blank=True)

    class Meta(BackgroundRun.Meta):
        indexes = [models.Index(fields=["project", "kind", "status"], name="labelingjob_by_kind")]

    def __str__(self) -> str:
        return f"job {self.id} ({self.kind}, {self.status})"


class JobChunk(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    job = models.ForeignKey(LabelingJob, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    item_ids = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=255, blank=True)
    tokens_generated = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="jobchunk_unique_index")
        ]

    def __str__(self) -> str:
        return f"chunk {self.index} of job {self.job_id} ({self.status})"
