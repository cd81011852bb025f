"""REST views of project backup and restore.

GET  /api/v1/projects/{slug}/backup/   managers: the project's backup, streamed as it is
                                        written (gzip JSONL; flat memory, no file kept)
POST /api/v1/backups/restore/          multipart `file` (+ optional `slug`): restore a
                                        backup as a new project; the caller manages it.
                                        Like creating a project: 403 unless the caller may
                                        create projects (staff, `can_create_projects`).
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.api.permissions import CanCreateProjects
from annotation.api.serializers import ProjectOutputSerializer
from annotation.api.views import AuthedRequest, ProjectScopedApi
from annotation.selectors.projects import MANAGE
from annotation.services.backups import (
    project_backup_chunks,
    project_backup_filename,
    project_restore,
)


class ProjectBackupApi(ProjectScopedApi):
    """The project's full backup (every row; members by username), streamed."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": MANAGE}

    @extend_schema(responses={(200, "application/gzip"): OpenApiTypes.BINARY})
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        response = StreamingHttpResponse(
            project_backup_chunks(project=self.project), content_type="application/gzip"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{project_backup_filename(project=self.project)}"'
        )
        return response


class ProjectRestoreApi(APIView):
    """Restore a backup file as a new project (all or nothing); 409 when the slug exists."""

    permission_classes = (IsAuthenticated, CanCreateProjects)
    parser_classes = (MultiPartParser, FormParser)

    class ProjectRestoreInputSerializer(serializers.Serializer):
        file = serializers.FileField()
        slug = serializers.SlugField(
            max_length=80, required=False, allow_blank=True,
            help_text="Slug of the restored project; default: the backup's.",
        )  # fmt: skip

        def validate_file(self, value: UploadedFile) -> UploadedFile:
            limit = settings.STEPWISE_IMPORT_MAX_FILE_BYTES
            if value.size is not None and value.size > limit:
                raise serializers.ValidationError(f"is larger than the limit of {limit} bytes")
            return value

    @extend_schema(request=ProjectRestoreInputSerializer, responses={201: ProjectOutputSerializer})
    def post(self, request: AuthedRequest) -> Response:
        data = self.ProjectRestoreInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        project = project_restore(
            stream=upload.file, slug=data.validated_data.get("slug") or None, user=request.user
        )
        return Response(ProjectOutputSerializer(project).data, status=status.HTTP_201_CREATED)
