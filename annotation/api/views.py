"""REST API, version 1. Views validate input, call one selector or service, and render.

Project-scoped views declare `roles`: per HTTP method, the project roles allowed to call it
(`annotation.api.permissions.ProjectRole` checks them; non-members get 404). Services signal
bad input with ApplicationError, which the API's exception handler (`annotation.api.errors`)
turns into a 400 {field: [message]}; any other exception is a 500.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.api.pagination import ImportRunCursorPagination
from annotation.api.parsers import SafeJSONField
from annotation.api.permissions import CanCreateProjects, ProjectRole
from annotation.api.serializers import (
    DatasetOutputSerializer,
    ImportRunOutputSerializer,
    MembershipOutputSerializer,
    ProjectListOutputSerializer,
    ProjectOutputSerializer,
)
from annotation.importers import FORMAT_NAMES
from annotation.importers.schema import NATIVE_RECORD_SCHEMA
from annotation.models import ImportRun, Project, ProjectKind, Role, User
from annotation.selectors.items import dataset_list, import_run_list
from annotation.selectors.projects import (
    ALL_ROLES,
    LIST_MEMBERS,
    MANAGE,
    membership_list,
    project_list_for_user,
)
from annotation.selectors.users import user_find_addable
from annotation.services.import_runs import import_run_create, import_run_retry
from annotation.services.projects import (
    dataset_create,
    membership_set,
    project_create,
    project_update,
)

READ_IMPORTS = frozenset({Role.MANAGER, Role.RESEARCHER})
# Bounds of what the API accepts, by column (overlap is a small integer) or by use.
OVERLAP_MAX = 32767
INSTRUCTIONS_MAX = 100_000


class AuthedRequest(Request):
    """A request to a view behind IsAuthenticated (every view here but the public ones):
    its user is signed in. For type checking; views receive the ordinary request."""

    user: User


class ProjectScopedApi(APIView):
    """Base of views under /projects/{slug}/: sets `self.project` and `self.role`."""

    permission_classes = (IsAuthenticated, ProjectRole)
    roles: ClassVar[dict[str, frozenset[str]]] = {}
    project: Project
    role: str | None


def _object_or_404(obj: Any) -> Any:
    if obj is None:
        raise NotFound()
    return obj


# --- public: schemas, docs ---------------------------------------------------------


class ImportSchemaApi(APIView):
    """The JSON Schema (draft 2020-12) of one record of the native JSONL import format."""

    permission_classes = (AllowAny,)

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, operation_id="schemas_import_retrieve")
    def get(self, request: Request) -> Response:
        return Response(NATIVE_RECORD_SCHEMA)


# --- projects --------------------------------------------------------------------------------


class ProjectListCreateApi(APIView):
    """GET: the caller's projects (a superuser sees all). POST: create one; the caller
    becomes its manager. Creating projects needs the site-level permission (staff, or
    `can_create_projects`), else 403. A slug that is taken, whether or not the caller can
    see that project, is a 409 that says only that the slug is not available; without a
    slug, a free one is derived from the name."""

    permission_classes = (IsAuthenticated, CanCreateProjects)

    class ProjectCreateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        kind = serializers.ChoiceField(choices=ProjectKind.choices)
        slug = serializers.SlugField(max_length=80, required=False, allow_blank=True)
        label_schema = SafeJSONField(required=False)
        overlap = serializers.IntegerField(min_value=1, max_value=OVERLAP_MAX, required=False)
        instructions = serializers.CharField(
            max_length=INSTRUCTIONS_MAX, required=False, allow_blank=True
        )
        show_suggestions = serializers.BooleanField(required=False)

    @extend_schema(responses=ProjectListOutputSerializer(many=True))
    def get(self, request: AuthedRequest) -> Response:
        projects = project_list_for_user(user=request.user)
        return Response(ProjectListOutputSerializer(projects, many=True).data)

    @extend_schema(request=ProjectCreateInputSerializer, responses={201: ProjectOutputSerializer})
    def post(self, request: AuthedRequest) -> Response:
        data = self.ProjectCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(created_by=request.user, **data.validated_data)
        return Response(ProjectOutputSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(ProjectScopedApi):
    """GET: the project (name, kind, label schema, overlap, instructions); any member may
    read it. PATCH: managers change name, label schema, overlap, instructions."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": ALL_ROLES, "PATCH": MANAGE}

    class ProjectUpdateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(max_length=10_000, required=False, allow_blank=True)
        label_schema = SafeJSONField(required=False)
        overlap = serializers.IntegerField(min_value=1, max_value=OVERLAP_MAX, required=False)
        instructions = serializers.CharField(
            max_length=INSTRUCTIONS_MAX, required=False, allow_blank=True
        )
        show_suggestions = serializers.BooleanField(required=False)

    @extend_schema(responses=ProjectOutputSerializer)
    def get(self, request: AuthedRequest, slug: str) -> Response:
        return Response(ProjectOutputSerializer(self.project).data)

    @extend_schema(request=ProjectUpdateInputSerializer, responses=ProjectOutputSerializer)
    def patch(self, request: AuthedRequest, slug: str) -> Response:
        data = self.ProjectUpdateInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = project_update(project=self.project, **data.validated_data)
        return Response(ProjectOutputSerializer(project).data)


# --- members ---------------------------------------------------------------------------------


class MemberListSetApi(ProjectScopedApi):
    """GET: managers and reviewers list members. POST: a manager adds a user by username (or
    their account's email) or changes their role (one membership per user; answers 200 either way). A username the
    manager may not add (see `user_list_addable_by`) gets the same 400 as one that does not
    exist."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": LIST_MEMBERS, "POST": MANAGE}

    class MemberSetInputSerializer(serializers.Serializer):
        username = serializers.CharField(
            max_length=254, help_text="The user's username, or the email of their account."
        )
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(responses=MembershipOutputSerializer(many=True))
    def get(self, request: AuthedRequest, slug: str) -> Response:
        members = membership_list(project=self.project)
        return Response(MembershipOutputSerializer(members, many=True).data)

    @extend_schema(request=MemberSetInputSerializer, responses=MembershipOutputSerializer)
    def post(self, request: AuthedRequest, slug: str) -> Response:
        data = self.MemberSetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_find_addable(requester=request.user, identifier=data.validated_data["username"])
        if user is None:
            raise ValidationError({"username": ["No user you can add has this username or email."]})
        membership = membership_set(
            project=self.project, user=user, role=data.validated_data["role"]
        )
        return Response(MembershipOutputSerializer(membership).data)


# --- datasets --------------------------------------------------------------------------------


class DatasetListCreateApi(ProjectScopedApi):
    """GET: the project's datasets with their item counts; any member may list them. POST: a
    manager creates an empty dataset (imports also create them)."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": ALL_ROLES, "POST": MANAGE}

    class DatasetCreateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        source_format = serializers.ChoiceField(choices=FORMAT_NAMES, default="native")
        license = serializers.CharField(max_length=100, required=False, allow_blank=True)
        provenance = serializers.CharField(
            max_length=INSTRUCTIONS_MAX, required=False, allow_blank=True
        )

    @extend_schema(responses=DatasetOutputSerializer(many=True))
    def get(self, request: AuthedRequest, slug: str) -> Response:
        datasets = dataset_list(project=self.project)
        return Response(DatasetOutputSerializer(datasets, many=True).data)

    @extend_schema(request=DatasetCreateInputSerializer, responses={201: DatasetOutputSerializer})
    def post(self, request: AuthedRequest, slug: str) -> Response:
        data = self.DatasetCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = dataset_create(
            project=self.project, created_by=request.user, **data.validated_data
        )
        return Response(DatasetOutputSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(ProjectScopedApi):
    """One dataset of the project: name, source format, license, provenance and item count.
    Any member."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": ALL_ROLES}

    @extend_schema(responses=DatasetOutputSerializer)
    def get(self, request: AuthedRequest, slug: str, pk: int) -> Response:
        dataset = _object_or_404(dataset_list(project=self.project).filter(pk=pk).first())
        return Response(DatasetOutputSerializer(dataset).data)


# --- imports ---------------------------------------------------------------------------------


class ImportRunListCreateApi(ProjectScopedApi, generics.ListAPIView):
    """GET: managers and researchers list import runs, newest first. POST (multipart): a
    manager uploads a file; the import runs in a worker and the client polls the run."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": READ_IMPORTS, "POST": MANAGE}
    serializer_class = ImportRunOutputSerializer
    pagination_class = ImportRunCursorPagination
    parser_classes = (MultiPartParser, FormParser)

    class ImportRunCreateInputSerializer(serializers.Serializer):
        # An empty file is refused by the service with the message the CLI gives.
        file = serializers.FileField(allow_empty_file=True)
        format = serializers.ChoiceField(choices=FORMAT_NAMES)
        dataset = serializers.CharField(
            max_length=200, help_text="Name of the dataset to import into; created if missing."
        )
        options = SafeJSONField(
            binary=True,
            required=False,
            help_text="Format options as a JSON object string, e.g. "
            '`{"split": "blank_lines"}` for native or gsm8k_solutions (split: none, lines, '
            "blank_lines, numbered, step_markers, sentences, or regex with `split_pattern`).",
        )

        def validate_options(self, value: Any) -> dict[str, Any]:
            if value is None:
                return {}
            if not isinstance(value, dict):
                raise serializers.ValidationError("must be a JSON object")
            return value

    def get_queryset(self) -> QuerySet[ImportRun]:
        if getattr(self, "swagger_fake_view", False):
            return ImportRun.objects.none()
        return import_run_list(project=self.project)

    @extend_schema(
        request=ImportRunCreateInputSerializer, responses={201: ImportRunOutputSerializer}
    )
    def post(self, request: AuthedRequest, slug: str) -> Response:
        body = request.data  # parsing runs UploadLimitHandler, which may refuse the file
        refused = getattr(request._request, "upload_refused", None)
        if refused:
            raise ValidationError({"file": [refused]})
        data = self.ImportRunCreateInputSerializer(data=body)
        data.is_valid(raise_exception=True)
        run = import_run_create(
            project=self.project,
            user=request.user,
            upload=data.validated_data["file"],
            fmt=data.validated_data["format"],
            dataset_name=data.validated_data["dataset"],
            options=data.validated_data.get("options") or {},
        )
        return Response(ImportRunOutputSerializer(run).data, status=status.HTTP_201_CREATED)


class ImportRunDetailApi(ProjectScopedApi, generics.RetrieveAPIView):
    """One import run: status, counts, the first problems (with line numbers) and a message."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": READ_IMPORTS}
    serializer_class = ImportRunOutputSerializer

    def get_queryset(self) -> QuerySet[ImportRun]:
        if getattr(self, "swagger_fake_view", False):
            return ImportRun.objects.none()
        return import_run_list(project=self.project)


class ImportRunRetryApi(ProjectScopedApi):
    """A manager queues a failed or cancelled import again, from the same upload (fresh
    attempts). 409 when the run is in another state or its upload is no longer kept."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"POST": MANAGE}

    @extend_schema(request=None, responses={200: ImportRunOutputSerializer})
    def post(self, request: AuthedRequest, slug: str, pk: int) -> Response:
        run = import_run_list(project=self.project).filter(pk=pk).first()
        if run is None:
            raise NotFound("No such import run.")
        return Response(ImportRunOutputSerializer(import_run_retry(run=run)).data)
