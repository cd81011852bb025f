"""REST for setting a project up: its settings, its label schema, and member roles.

The settings serializer is built from `annotation.project_settings.PROJECT_SETTINGS`, so a
setting declared there is readable and writable here with no other change.
"""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.api.parsers import SafeJSONField
from annotation.api.serializers import MembershipOutputSerializer
from annotation.api.views import AuthedRequest, ProjectScopedApi, _object_or_404
from annotation.models import Role
from annotation.project_settings import PROJECT_SETTINGS, ProjectSetting
from annotation.selectors.project_settings import project_settings_get
from annotation.selectors.projects import ALL_ROLES, MANAGE, READ_ITEMS, membership_list
from annotation.services.project_settings import project_schema_set, project_settings_update
from annotation.services.projects import membership_remove, membership_set

SCHEMA_MAX_CHARS = 100_000


def _serializer_field(setting: ProjectSetting) -> serializers.Field:
    common: dict[str, Any] = {"required": False, "help_text": f"{setting.label}: {setting.help}"}
    if setting.type in ("text", "textarea", "markdown"):
        return serializers.CharField(
            max_length=setting.max_length or 100_000, allow_blank=not setting.required,
            trim_whitespace=setting.type == "text", **common,
        )  # fmt: skip
    if setting.type == "int":
        return serializers.IntegerField(**setting.bounds(), **common)
    if setting.type == "float":
        return serializers.FloatField(**setting.bounds(), **common)
    if setting.type == "bool":
        return serializers.BooleanField(**common)
    return serializers.ChoiceField(choices=list(setting.choices), **common)


# One optional field per declared setting; a setting that does not apply to the project's
# kind (the step mode of a dialogue project) is absent from GET and refused by PATCH.
ProjectSettingsSerializer = type(
    "ProjectSettingsSerializer",
    (serializers.Serializer,),
    {s.name: _serializer_field(s) for s in PROJECT_SETTINGS},
)


class ProjectSettingsApi(ProjectScopedApi):
    """GET: managers, reviewers and researchers read the project's settings (annotators get
    403: the gold rate is not theirs to know; their instructions come with the project).
    PATCH: a manager changes some of them (all or nothing); each is validated against its
    declared type and bounds."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": READ_ITEMS, "PATCH": MANAGE}

    @extend_schema(responses=ProjectSettingsSerializer)
    def get(self, request: AuthedRequest, slug: str) -> Response:
        return Response(project_settings_get(project=self.project))

    @extend_schema(request=ProjectSettingsSerializer, responses=ProjectSettingsSerializer)
    def patch(self, request: AuthedRequest, slug: str) -> Response:
        data = ProjectSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = project_settings_update(project=self.project, values=data.validated_data)
        return Response(project_settings_get(project=project))


class SchemaSerializer(serializers.Serializer):
    label_schema = SafeJSONField(
        help_text="The project kind's label schema; missing keys take the kind's defaults."
    )

    def validate_label_schema(self, value: Any) -> Any:
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a JSON object")
        if len(repr(value)) > SCHEMA_MAX_CHARS:
            raise serializers.ValidationError(f"at most {SCHEMA_MAX_CHARS} characters")
        return value


class ProjectSchemaApi(ProjectScopedApi):
    """GET: any member reads the label schema. PUT: a manager replaces it; the project's label
    kind validates it (400 with the field and reason), and a schema that removes values
    existing annotations use is refused with 409, naming them and how many annotations."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": ALL_ROLES, "PUT": MANAGE}

    @extend_schema(responses=SchemaSerializer)
    def get(self, request: AuthedRequest, slug: str) -> Response:
        return Response({"label_schema": self.project.label_schema})

    @extend_schema(request=SchemaSerializer, responses=SchemaSerializer)
    def put(self, request: AuthedRequest, slug: str) -> Response:
        data = SchemaSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_schema_set(
            project=self.project, label_schema=data.validated_data["label_schema"]
        )
        return Response({"label_schema": project.label_schema})


class MemberDetailApi(ProjectScopedApi):
    """PATCH: a manager changes a member's role. DELETE: a manager removes the membership.
    Either refuses (400) to leave the project without a manager."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"PATCH": MANAGE, "DELETE": MANAGE}

    class MemberRoleInputSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(request=MemberRoleInputSerializer, responses=MembershipOutputSerializer)
    def patch(self, request: AuthedRequest, slug: str, pk: int) -> Response:
        data = self.MemberRoleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        m = _object_or_404(membership_list(project=self.project).filter(pk=pk).first())
        membership = membership_set(
            project=self.project, user=m.user, role=data.validated_data["role"]
        )
        return Response(MembershipOutputSerializer(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, pk: int) -> Response:
        m = _object_or_404(membership_list(project=self.project).filter(pk=pk).first())
        membership_remove(membership=m)
        return Response(status=204)
