"""REST API of labeling jobs under /api/v1/projects/{slug}/jobs/. Managers start, cancel
and retry; managers, reviewers and researchers read. Non-members get 404."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from annotation.api.views import AuthedRequest, ProjectScopedApi
from annotation.selectors.projects import MANAGE, READ_ITEMS
from labeling_jobs.model_settings import model_list
from labeling_jobs.models import Backend, JobKind, LabelingJob
from labeling_jobs.selectors import labeling_job_get, labeling_job_list
from labeling_jobs.services import labeling_job_cancel, labeling_job_create, labeling_job_retry


class LabelingJobOutputSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", default=None, read_only=True, allow_null=True
    )

    class Meta:
        model = LabelingJob
        fields = [
            "id", "kind", "status", "scope", "backend", "model_name", "params",
            "progress_done", "progress_total", "percent", "tokens_generated", "wall_seconds",
            "attempts", "skipped", "stats", "detail", "error", "created_by", "created_at",
            "started_at", "heartbeat_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


# A 409 when the job's state forbids the action: {"detail": "..."}.
ERROR = inline_serializer("LabelingJobConflict", {"detail": serializers.CharField()})


def _job_or_404(view: Any, pk: int) -> LabelingJob:
    job = labeling_job_get(project=view.project, job_id=pk)
    if job is None:
        from rest_framework.exceptions import NotFound

        raise NotFound("No such job.")
    return job


class LabelingJobListCreateApi(ProjectScopedApi):
    """GET: the project's labeling jobs, newest first, with status, progress and statistics;
    managers, reviewers and researchers. POST: a manager starts a job: a model pre-labels the
    items in `scope` (kind says how: step judge, Monte Carlo rollouts, consensus, ...). The
    job is split into chunks that workers run on the `gpu` queue; poll the job until it has
    ended. 400 names the field of an invalid kind, model, scope or parameter."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": MANAGE | READ_ITEMS, "POST": MANAGE}

    class InputSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=JobKind.choices, help_text="What the job does.")
        backend = serializers.ChoiceField(
            choices=[Backend.TRANSFORMERS, Backend.OPENAI], required=False, allow_null=True,
            help_text="Where the model runs: in the worker (transformers) or behind an "
            "OpenAI-compatible server; the kind's default when absent.",
        )  # fmt: skip
        model = serializers.CharField(
            required=False, allow_blank=True, max_length=300,
            help_text="A model name from GET models/ (the demo model when empty).",
        )  # fmt: skip
        params = serializers.DictField(
            required=False,
            help_text='Parameters of the kind, e.g. {"mode": "verify"} for the step judge.',
        )
        scope = serializers.DictField(
            required=False,
            help_text="Which items: dataset_id, item_ids, external_ids, is_complete (all "
            "optional; the whole project when empty).",
        )
        limit = serializers.IntegerField(
            required=False, min_value=1, max_value=2**31 - 1, allow_null=True,
            help_text="At most this many items of the scope.",
        )  # fmt: skip
        chunk_size = serializers.IntegerField(
            required=False, min_value=1, max_value=1000, allow_null=True,
            help_text="Items per chunk (a unit of work a worker claims).",
        )  # fmt: skip

    @extend_schema(
        operation_id="projects_jobs_list", responses=LabelingJobOutputSerializer(many=True)
    )
    def get(self, request: AuthedRequest, slug: str) -> Response:
        jobs = labeling_job_list(project=self.project)
        return Response(LabelingJobOutputSerializer(jobs, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: LabelingJobOutputSerializer})
    def post(self, request: AuthedRequest, slug: str) -> Response:
        ser = self.InputSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        job = labeling_job_create(
            project=self.project, kind=data["kind"], user=request.user,
            backend=data.get("backend"), model_name=data.get("model") or None,
            params=data.get("params"), scope=data.get("scope"), limit=data.get("limit"),
            chunk_size=data.get("chunk_size"),
        )  # fmt: skip
        return Response(LabelingJobOutputSerializer(job).data, status=status.HTTP_201_CREATED)


class LabelingJobDetailApi(ProjectScopedApi):
    """One labeling job: status, progress (items done of total), tokens generated, wall
    time, what was skipped and why, per-kind statistics and the error of a failed job."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": MANAGE | READ_ITEMS}

    @extend_schema(responses=LabelingJobOutputSerializer)
    def get(self, request: AuthedRequest, slug: str, pk: int) -> Response:
        return Response(LabelingJobOutputSerializer(_job_or_404(self, pk)).data)


class LabelingJobCancelApi(ProjectScopedApi):
    """A manager stops a queued or running job between chunks; a chunk already running
    finishes and keeps its results. 409 when the job has already ended."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"POST": MANAGE}

    @extend_schema(request=None, responses={200: LabelingJobOutputSerializer, 409: ERROR})
    def post(self, request: AuthedRequest, slug: str, pk: int) -> Response:
        job = _job_or_404(self, pk)
        if not labeling_job_cancel(job=job):
            return Response({"detail": f"job {job.id} is already {job.status}"}, status=409)
        job.refresh_from_db()
        return Response(LabelingJobOutputSerializer(job).data)


class LabelingJobRetryApi(ProjectScopedApi):
    """A manager runs a failed or cancelled job again from where it stopped: chunks not done
    start over, finished chunks keep their results. 409 for a job in any other state."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"POST": MANAGE}

    @extend_schema(request=None, responses={200: LabelingJobOutputSerializer, 409: ERROR})
    def post(self, request: AuthedRequest, slug: str, pk: int) -> Response:
        job = _job_or_404(self, pk)
        if job.status not in ("failed", "cancelled"):
            return Response(
                {
                    "detail": f"only failed or cancelled jobs can be retried; job {job.id} is {job.status}"
                },
                status=409,
            )
        labeling_job_retry(job=job)
        job.refresh_from_db()
        return Response(LabelingJobOutputSerializer(job).data)


class ModelOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    format = serializers.CharField()
    is_prm = serializers.BooleanField()
    can_critique = serializers.BooleanField()
    step_separator = serializers.CharField()
    step_tag = serializers.CharField()
    positive_token = serializers.CharField()
    negative_token = serializers.CharField()
    positive_label = serializers.IntegerField()
    max_length = serializers.IntegerField()
    description = serializers.CharField()
    # Named like Field.source, a DRF attribute (the stubs type it as a callable or str).
    source = serializers.CharField()  # type: ignore[assignment]
    base_model = serializers.CharField()
    created_at = serializers.CharField()
    metrics = serializers.DictField()


class ModelListApi(ProjectScopedApi):
    """The models a job of this project can name: the demo model, local models with settings
    and the PRMs trained on this project's labels (with their held-out metrics)."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": MANAGE | READ_ITEMS}

    @extend_schema(operation_id="projects_models_list", responses=ModelOutputSerializer(many=True))
    def get(self, request: AuthedRequest, slug: str) -> Response:
        models = model_list(project_slug=self.project.slug)
        return Response(ModelOutputSerializer(models, many=True).data)
