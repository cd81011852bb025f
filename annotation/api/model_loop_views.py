"""REST for the model loop's project settings: routing, calibrated auto-accept and
pre-fill (`annotation.services.model_loop`), with the calibration they act on."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from annotation.api.views import AuthedRequest, ProjectScopedApi
from annotation.models import Project, Routing
from annotation.selectors.calibration import calibration_report
from annotation.selectors.projects import MANAGE, READ_ITEMS
from annotation.services.model_loop import MIN_LABELED_MAX, project_model_loop_update


def _settings(project: Project) -> dict[str, Any]:
    return {
        "routing": project.routing,
        "auto_accept_target": project.auto_accept_target,
        "auto_accept_min_labeled": project.auto_accept_min_labeled,
        "prefill": project.prefill,
    }


class ModelLoopSettingsApi(ProjectScopedApi):
    """GET (managers, reviewers, researchers): the settings and the calibration of each
    auto-accept rule on the labeled items. PATCH (managers): change the settings."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": READ_ITEMS, "PATCH": MANAGE}

    class InputSerializer(serializers.Serializer):
        routing = serializers.ChoiceField(choices=Routing.choices, required=False)
        auto_accept_target = serializers.FloatField(min_value=0.5, max_value=1.0, required=False)
        auto_accept_min_labeled = serializers.IntegerField(
            min_value=1, max_value=MIN_LABELED_MAX, required=False
        )
        prefill = serializers.BooleanField(required=False)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: AuthedRequest, slug: str) -> Response:
        return Response(
            {**_settings(self.project), "calibration": calibration_report(project=self.project)}
        )

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT)
    def patch(self, request: AuthedRequest, slug: str) -> Response:
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = project_model_loop_update(project=self.project, **data.validated_data)
        return Response(_settings(project))
