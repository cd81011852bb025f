"""REST views of exports and agreement.

Researchers and managers start exports and fetch their files; managers, reviewers and
researchers read agreement (the dashboard's precomputed figures, or computed now with
`?fresh=1` for one field). Non-members get 404, other roles 403 (ProjectRole).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from annotation.api.views import AuthedRequest, ProjectScopedApi
from annotation.exporters import EXPORT_FORMAT_NAMES
from annotation.models import ExportRun, Role
from annotation.selectors.agreement import SOURCE_CHOICES, agreement_report
from annotation.selectors.exports import export_run_list
from annotation.selectors.stats import project_stats_get
from annotation.services.exports import (
    export_file_path,
    export_run_files,
    export_run_retry,
    export_run_start,
)

EXPORTERS_ROLES = frozenset({Role.MANAGER, Role.RESEARCHER})
AGREEMENT_ROLES = frozenset({Role.MANAGER, Role.REVIEWER, Role.RESEARCHER})


class ExportRunOutputSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True, default=None
    )
    files = serializers.SerializerMethodField()

    class Meta:
        model = ExportRun
        fields = (
            "id", "format", "options", "status", "progress_done", "progress_total", "percent",
            "counts", "path", "error", "attempts", "files", "created_by", "created_at",
            "started_at", "heartbeat_at", "finished_at",
        )  # fmt: skip
        read_only_fields = fields

    def get_files(self, run: ExportRun) -> list[dict[str, str]]:
        request = self.context.get("request")
        out = []
        for name in export_run_files(run=run):
            url = f"/api/v1/projects/{run.project.slug}/exports/{run.id}/download/{name}"
            out.append({"name": name, "url": request.build_absolute_uri(url) if request else url})
        return out


def _runs(view: ProjectScopedApi) -> QuerySet[ExportRun]:
    return export_run_list(project=view.project)


class ExportRunListCreateApi(ProjectScopedApi, generics.ListAPIView):
    """GET: the project's export runs, newest first. POST: start an export (a worker writes
    it; poll the run, then download its files)."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": EXPORTERS_ROLES, "POST": EXPORTERS_ROLES}
    serializer_class = ExportRunOutputSerializer

    class ExportRunCreateInputSerializer(serializers.Serializer):
        format = serializers.ChoiceField(choices=EXPORT_FORMAT_NAMES)
        options = serializers.DictField(required=False, default=dict)

    def get_queryset(self) -> QuerySet[ExportRun]:
        if getattr(self, "swagger_fake_view", False):
            return ExportRun.objects.none()
        return _runs(self).order_by("-id")

    @extend_schema(
        request=ExportRunCreateInputSerializer, responses={201: ExportRunOutputSerializer}
    )
    def post(self, request: AuthedRequest, slug: str) -> Response:
        data = self.ExportRunCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = export_run_start(
            project=self.project,
            fmt=data.validated_data["format"],
            options=data.validated_data.get("options") or {},
            user=request.user,
        )
        return Response(
            ExportRunOutputSerializer(run, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class ExportRunDetailApi(ProjectScopedApi, generics.RetrieveAPIView):
    """One export run: status, progress, the counts of a finished run (records per split,
    rows left out by reason) and links to its files. Poll it until it has ended."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": EXPORTERS_ROLES}
    serializer_class = ExportRunOutputSerializer

    def get_queryset(self) -> QuerySet[ExportRun]:
        if getattr(self, "swagger_fake_view", False):
            return ExportRun.objects.none()
        return _runs(self)


class ExportRunRetryApi(ProjectScopedApi):
    """Queue a failed or cancelled export again (fresh attempts). 409 in any other state."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"POST": EXPORTERS_ROLES}

    @extend_schema(request=None, responses={200: ExportRunOutputSerializer})
    def post(self, request: AuthedRequest, slug: str, pk: int) -> Response:
        run = _runs(self).filter(pk=pk).first()
        if run is None:
            raise NotFound("No such export run.")
        run = export_run_retry(run=run)
        return Response(ExportRunOutputSerializer(run, context={"request": request}).data)


class ExportRunDownloadApi(ProjectScopedApi):
    """One file of a finished export (data file, manifest.json or README.md), streamed."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": EXPORTERS_ROLES}

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: AuthedRequest, slug: str, pk: int, filename: str) -> FileResponse:
        run = _runs(self).filter(pk=pk).first()
        path = export_file_path(run=run, filename=filename) if run is not None else None
        if path is None:
            raise NotFound("No such file in this export.")
        return FileResponse(open(path, "rb"), as_attachment=True, filename=path.name)  # noqa: SIM115


class AgreementApi(ProjectScopedApi):
    """Agreement per label field: the dashboard's precomputed figures (with `computed_at`),
    or, with `fresh=1`, computed now (use `field` to limit the work on big projects)."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": AGREEMENT_ROLES}

    @extend_schema(
        parameters=[
            OpenApiParameter("field", str, many=True, required=False),
            OpenApiParameter("sources", str, enum=sorted(SOURCE_CHOICES), required=False),
            OpenApiParameter("fresh", bool, required=False),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: AuthedRequest, slug: str) -> Response:
        fields = request.query_params.getlist("field") or None
        sources = request.query_params.get("sources") or None
        fresh = request.query_params.get("fresh") in ("1", "true", "yes")
        if not fresh and sources in (None, "annotators"):
            stats = project_stats_get(project=self.project)
            if "agreement" in stats:
                report: dict[str, Any] = dict(stats["agreement"])
                if fields:
                    report["fields"] = [f for f in report["fields"] if f["field"] in fields]
                report["computed_at"] = stats["_computed_at"]["agreement"].isoformat()
                report["stale"] = False
                return Response(report)
        report = agreement_report(
            project=self.project, fields=fields, sources=sources, with_trend=False
        )
        report["computed_at"] = None
        return Response(report)
