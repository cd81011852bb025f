"""REST views of study links (managers only).

GET   /api/v1/projects/{slug}/study-links/                the project's links
POST  /api/v1/projects/{slug}/study-links/                a new link (name, completion_code,
                                                          optional settings)
GET   /api/v1/projects/{slug}/study-links/{id}/           one link
PATCH /api/v1/projects/{slug}/study-links/{id}/           change settings, pause or resume
GET   /api/v1/projects/{slug}/study-links/{id}/workers/   its workers: time, items, gold
                                                          accuracy, status, code
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from annotation.api.views import AuthedRequest, ProjectScopedApi
from annotation.models import StudyLink, StudyWorker
from annotation.selectors.projects import MANAGE
from annotation.selectors.study import study_link_get, study_link_list, study_worker_rows
from annotation.services.study import (
    CONSENT_MAX,
    QUOTA_MAX,
    TRAINING_MAX,
    WORKERS_MAX,
    study_link_create,
    study_link_update,
)

PARAM_RE = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"


class StudyLinkOutputSerializer(serializers.ModelSerializer):
    worker_count = serializers.IntegerField(read_only=True)
    entry_path = serializers.SerializerMethodField()

    class Meta:
        model = StudyLink
        fields = (
            "id", "name", "token", "entry_path", "platform", "worker_param", "study_param",
            "session_param", "quota", "max_workers", "paused", "consent_text",
            "completion_code", "failure_code", "completion_url", "training_items", "pass_mark",
            "attention_rate", "worker_count", "created_at",
        )  # fmt: skip

    def get_entry_path(self, link: StudyLink) -> str:
        return reverse("study_entry", args=[link.token])


class StudyLinkInputSerializer(serializers.Serializer):
    """Shapes and bounds; the service checks the rest (URL scheme, distinct names)."""

    name = serializers.CharField(max_length=200)
    completion_code = serializers.RegexField(r"^[A-Za-z0-9_\-]{1,64}$", max_length=64)
    failure_code = serializers.CharField(max_length=64, allow_blank=True, required=False)
    completion_url = serializers.CharField(max_length=2000, allow_blank=True, required=False)
    platform = serializers.RegexField(
        max_length=32, regex=r"^[a-z][a-z0-9_-]{0,31}$", required=False
    )
    worker_param = serializers.RegexField(PARAM_RE, max_length=64, required=False)
    study_param = serializers.RegexField(PARAM_RE, max_length=64, required=False)
    session_param = serializers.RegexField(PARAM_RE, max_length=64, required=False)
    quota = serializers.IntegerField(min_value=1, max_value=QUOTA_MAX, required=False)
    max_workers = serializers.IntegerField(min_value=1, max_value=WORKERS_MAX, required=False)
    paused = serializers.BooleanField(required=False)
    consent_text = serializers.CharField(max_length=CONSENT_MAX, allow_blank=True, required=False)
    training_items = serializers.IntegerField(min_value=0, max_value=TRAINING_MAX, required=False)
    pass_mark = serializers.FloatField(min_value=0, max_value=1, required=False)
    attention_rate = serializers.FloatField(min_value=0, max_value=1, required=False)


class StudyWorkerOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    worker_id = serializers.CharField()
    study_id = serializers.CharField()
    session_id = serializers.CharField()
    status = serializers.ChoiceField(choices=StudyWorker.Status.choices)
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    minutes = serializers.FloatField()
    active_minutes = serializers.FloatField()
    items_done = serializers.IntegerField()
    gold_total = serializers.IntegerField()
    gold_correct = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    training_done = serializers.IntegerField()
    training_correct = serializers.IntegerField()
    training_passed = serializers.BooleanField(allow_null=True)
    completion_code = serializers.CharField()


def _data(serializer: serializers.Serializer) -> dict[str, Any]:
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class StudyLinkListCreateApi(ProjectScopedApi):
    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": MANAGE, "POST": MANAGE}

    @extend_schema(responses=StudyLinkOutputSerializer(many=True))
    def get(self, request: AuthedRequest, slug: str) -> Response:
        links = study_link_list(project=self.project)[:500]
        return Response(StudyLinkOutputSerializer(links, many=True).data)

    @extend_schema(request=StudyLinkInputSerializer, responses={201: StudyLinkOutputSerializer})
    def post(self, request: AuthedRequest, slug: str) -> Response:
        data = _data(StudyLinkInputSerializer(data=request.data))
        link = study_link_create(project=self.project, user=request.user, data=data)
        out = study_link_get(project=self.project, link_id=link.id)
        return Response(StudyLinkOutputSerializer(out).data, status=status.HTTP_201_CREATED)


def _link(api: ProjectScopedApi, pk: int) -> StudyLink:
    link = study_link_get(project=api.project, link_id=pk)
    if link is None:
        raise NotFound("No such study link.")
    return link


class StudyLinkDetailApi(ProjectScopedApi):
    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": MANAGE, "PATCH": MANAGE}

    @extend_schema(responses=StudyLinkOutputSerializer)
    def get(self, request: AuthedRequest, slug: str, pk: int) -> Response:
        return Response(StudyLinkOutputSerializer(_link(self, pk)).data)

    @extend_schema(request=StudyLinkInputSerializer, responses=StudyLinkOutputSerializer)
    def patch(self, request: AuthedRequest, slug: str, pk: int) -> Response:
        link = _link(self, pk)
        data = _data(StudyLinkInputSerializer(data=request.data, partial=True))
        study_link_update(link=link, data=data)
        return Response(StudyLinkOutputSerializer(_link(self, pk)).data)


class StudyWorkerListApi(ProjectScopedApi):
    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": MANAGE}

    @extend_schema(responses=StudyWorkerOutputSerializer(many=True))
    def get(self, request: AuthedRequest, slug: str, pk: int) -> Response:
        rows = study_worker_rows(link=_link(self, pk))
        return Response(StudyWorkerOutputSerializer(rows, many=True).data)
