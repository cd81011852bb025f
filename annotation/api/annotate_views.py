"""REST for the annotator's day and for review: the same services as the web pages.

Annotators (and managers) claim, submit, skip and edit their own work; reviewers and managers
list items to review, read every annotation of an item and adjudicate. Annotators never see
anyone else's labels: their endpoints return only their own annotations, and the review
endpoints answer them 403.

Prefetching the next item: `POST assignments/next/` with `{"exclude": [current id]}` claims
another item without starting its clock (no render is recorded). A later plain `next/` — the
client showing that item — returns the oldest lease the caller holds and records the render,
which starts the item's time-on-task.

Every write takes a `client_token` (unique per form or per attempt, reused on retries), so a
retry after a network error or a double click is recognised and changes nothing.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from annotation.api.annotate_serializers import (
    AnnotationOutputSerializer,
    AssignmentOutputSerializer,
    AssignmentStateSerializer,
    FlagOutputSerializer,
    ReviewAnnotationSerializer,
    ReviewFlagSerializer,
    ReviewItemSerializer,
    SuggestionOutputSerializer,
)
from annotation.api.pagination import ID_MAX, IdCursorPagination
from annotation.api.views import AuthedRequest, ProjectScopedApi
from annotation.models import Annotation, Assignment, Flag, Item, Role, User
from annotation.selectors.annotations import (
    annotation_list_for_annotator,
    assignment_for_annotator,
    assignment_for_submit,
    item_parts_load,
    item_review,
    review_items,
    suggestions_for_item,
)
from annotation.selectors.projects import ALL_ROLES, READ_ITEMS
from annotation.services.annotations import (
    adjudication_submit,
    annotation_edit,
    annotation_submit_created,
)
from annotation.services.assignments import (
    assignment_claim_next,
    assignment_mark_rendered,
    assignment_skip,
)
from annotation.services.flags import flag_create

LABEL = frozenset({Role.MANAGER, Role.ANNOTATOR})
REVIEW = frozenset({Role.MANAGER, Role.REVIEWER})
REVIEW_FILTERS = ("disagreement", "flagged", "all")
INT32_MAX = 2**31 - 1  # PositiveIntegerField columns (time spent)

IDEMPOTENCY_HELP = (
    "One-time token of this submission (e.g. a UUID made when the form was shown); a retry "
    "with the same token changes nothing."
)


# Small scoped reads that have no selector of their own yet.


def _item_in_project(*, project_id: int, item_id: int) -> Item:
    item = Item.objects.select_related("project").filter(project_id=project_id, id=item_id).first()
    if item is None:
        raise NotFound()
    return item


def _item_visible_to(*, view: ProjectScopedApi, user: Any, item_id: int) -> Item:
    """Roles that browse items see every item; an annotator only items assigned to them
    (any status: claimed, submitted, skipped). Anything else is 404."""
    if view.role in READ_ITEMS:
        return _item_in_project(project_id=view.project.id, item_id=item_id)
    item = (
        Item.objects.filter(
            project=view.project,
            id=item_id,
            assignments__annotator=user,
        )
        .distinct()
        .first()
    )
    if item is None:
        raise NotFound()
    return item


class _OwnAssignmentMixin:
    """The caller's own assignment in this project, else 404 (also for others' ids)."""

    project: Any

    def own_assignment(self, request: AuthedRequest, pk: int) -> Assignment:
        assignment = assignment_for_annotator(assignment_id=pk, annotator=request.user)
        if assignment is None or assignment.project_id != self.project.id:
            raise NotFound()
        return assignment


# --- the task stream ------------------------------------------------------------------------


class AssignmentNextApi(ProjectScopedApi):
    """Claim the next item (or resume the lease I hold): 200 with the item to render, or 204
    when nothing is left for me.

    `exclude`: assignment ids the client already holds and shows; with it, another item is
    claimed ahead of time (prefetch) and its render is not recorded yet.
    """

    roles: ClassVar[dict[str, frozenset[str]]] = {"POST": LABEL}

    class AssignmentNextInputSerializer(serializers.Serializer):
        exclude = serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
            required=False,
            default=list,
            max_length=100,
            help_text="Assignment ids to leave out (the item on screen), to prefetch the next.",
        )

    @extend_schema(
        request=AssignmentNextInputSerializer,
        responses={200: AssignmentOutputSerializer, 204: None},
    )
    def post(self, request: AuthedRequest, slug: str) -> Response:
        data = self.AssignmentNextInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        exclude: list[int] = data.validated_data["exclude"]
        assignment = assignment_claim_next(
            project=self.project,
            annotator=request.user,
            exclude_ids=exclude,
            render=not exclude,
        )
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        if not exclude:
            assignment_mark_rendered(assignment=assignment)
        # The claim read the item's row already: only its parts are left to read.
        item = item_parts_load(item=assignment.item, kind=self.project.kind)
        suggestions = suggestions_for_item(item=item) if self.project.show_suggestions else {}
        context = {"item": item, "project": self.project, "suggestions": suggestions}
        return Response(AssignmentOutputSerializer(assignment, context=context).data)


class AssignmentSubmitApi(_OwnAssignmentMixin, ProjectScopedApi):
    """Submit labels for my assignment: 201 with the new annotation; 200 with the same
    annotation when `client_token` was already used (nothing changes), or with a new revision
    when an already submitted assignment gets a new token. 400 names the invalid field."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"POST": LABEL}

    class AssignmentSubmitInputSerializer(serializers.Serializer):
        labels = serializers.DictField(
            help_text="The label payload of the project's kind (see annotation.services."
            "annotations)."
        )
        client_token = serializers.CharField(max_length=64, help_text=IDEMPOTENCY_HELP)
        active_ms = serializers.IntegerField(
            min_value=0,
            max_value=INT32_MAX,
            required=False,
            allow_null=True,
            default=None,
            help_text="Active time on the item in ms (the client pauses it when idle).",
        )

    @extend_schema(
        request=AssignmentSubmitInputSerializer,
        responses={201: AnnotationOutputSerializer, 200: AnnotationOutputSerializer},
    )
    def post(self, request: AuthedRequest, slug: str, pk: int) -> Response:
        data = self.AssignmentSubmitInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = assignment_for_submit(
            assignment_id=pk, annotator=request.user, project=self.project
        )
        if assignment is None:
            raise NotFound()
        annotation, created = annotation_submit_created(
            assignment=assignment,
            labels=data.validated_data["labels"],
            client_token=data.validated_data["client_token"],
            active_ms=data.validated_data["active_ms"],
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(AnnotationOutputSerializer(annotation).data, status=code)


class AssignmentSkipApi(_OwnAssignmentMixin, ProjectScopedApi):
    """Release my lease with an optional reason; I am not given that item again. Skipping a
    submitted assignment is a 400."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"POST": LABEL}

    class AssignmentSkipInputSerializer(serializers.Serializer):
        reason = serializers.CharField(
            max_length=2000, required=False, allow_blank=True, default=""
        )

    @extend_schema(request=AssignmentSkipInputSerializer, responses=AssignmentStateSerializer)
    def post(self, request: AuthedRequest, slug: str, pk: int) -> Response:
        data = self.AssignmentSkipInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        assignment = self.own_assignment(request, pk)
        assignment = assignment_skip(assignment=assignment, reason=data.validated_data["reason"])
        return Response(AssignmentStateSerializer(assignment).data)


# --- my annotations -------------------------------------------------------------------------


class MyAnnotationCursorPagination(IdCursorPagination):
    """Newest first by id: stable while I edit (an edit changes updated_at, not the id)."""

    ordering = "-id"


class AnnotationMineListApi(ProjectScopedApi, generics.ListAPIView):
    """My annotations in this project with their current labels (never anyone else's)."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": LABEL}
    serializer_class = AnnotationOutputSerializer
    pagination_class = MyAnnotationCursorPagination
    filter_backends = ()

    def get_queryset(self) -> QuerySet[Annotation]:
        if getattr(self, "swagger_fake_view", False):
            return Annotation.objects.none()
        # Revisions hold the labels in their normal form: one query for the whole page.
        user = self.request.user
        if not isinstance(user, User):
            return Annotation.objects.none()  # IsAuthenticated answered 401 already
        return annotation_list_for_annotator(annotator=user, project=self.project).prefetch_related(
            "revisions"
        )


class AnnotationEditApi(ProjectScopedApi):
    """Change one of my annotations: a new revision; the previous one is kept. Someone
    else's annotation is 404. A token already used changes nothing (200, unchanged)."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"PATCH": LABEL}

    class AnnotationEditInputSerializer(serializers.Serializer):
        labels = serializers.DictField()
        client_token = serializers.CharField(max_length=64, help_text=IDEMPOTENCY_HELP)

    @extend_schema(request=AnnotationEditInputSerializer, responses=AnnotationOutputSerializer)
    def patch(self, request: AuthedRequest, slug: str, pk: int) -> Response:
        data = self.AnnotationEditInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        annotation = (
            annotation_list_for_annotator(annotator=request.user, project=self.project)
            .filter(pk=pk)
            .first()
        )
        if annotation is None:
            raise NotFound()
        annotation = annotation_edit(
            annotation=annotation,
            labels=data.validated_data["labels"],
            client_token=data.validated_data["client_token"],
        )
        return Response(AnnotationOutputSerializer(annotation).data)


# --- flags ----------------------------------------------------------------------------------


class ItemFlagCreateApi(ProjectScopedApi):
    """Flag an item for the managers (crisis content, personal data, broken item). Any member
    who can see the item; annotators only items assigned to them (others are 404)."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"POST": ALL_ROLES}

    class ItemFlagInputSerializer(serializers.Serializer):
        reason = serializers.ChoiceField(choices=Flag.Reason.choices)
        note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")

    @extend_schema(request=ItemFlagInputSerializer, responses={201: FlagOutputSerializer})
    def post(self, request: AuthedRequest, slug: str, pk: int) -> Response:
        data = self.ItemFlagInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = _item_visible_to(view=self, user=request.user, item_id=pk)
        flag = flag_create(item=item, user=request.user, **data.validated_data)
        return Response(FlagOutputSerializer(flag).data, status=status.HTTP_201_CREATED)


# --- review ---------------------------------------------------------------------------------


class ReviewItemListApi(ProjectScopedApi):
    """Items to review, highest priority first: `only=disagreement` (default; human labels
    that differ), `flagged` (open flags) or `all` (any human annotation); `annotator=<user
    id>` keeps items that annotator labeled. At most `limit` rows (default 200, max 500)."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": REVIEW}

    class ReviewItemQuerySerializer(serializers.Serializer):
        only = serializers.ChoiceField(choices=REVIEW_FILTERS, default="disagreement")
        annotator = serializers.IntegerField(
            min_value=1, max_value=ID_MAX, required=False, default=None
        )
        limit = serializers.IntegerField(min_value=1, max_value=500, default=200)

    @extend_schema(
        parameters=[ReviewItemQuerySerializer], responses=ReviewItemSerializer(many=True)
    )
    def get(self, request: AuthedRequest, slug: str) -> Response:
        query = self.ReviewItemQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = review_items(
            project=self.project,
            only=query.validated_data["only"],
            annotator_id=query.validated_data["annotator"],
            limit=query.validated_data["limit"],
        )
        return Response(ReviewItemSerializer(rows, many=True).data)


class ItemAnnotationListApi(ProjectScopedApi):
    """Every annotation of an item grouped by source (human, imported, consensus,
    adjudication, gold) with who, when, time spent, revision count and current labels; plus
    the item's model suggestions and flags."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": REVIEW}

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        parameters=[OpenApiParameter("pk", int, OpenApiParameter.PATH)],
    )
    def get(self, request: AuthedRequest, slug: str, pk: int) -> Response:
        item = _item_in_project(project_id=self.project.id, item_id=pk)
        review = item_review(item=item)
        annotations: dict[str, Any] = {}
        for source, rows in review["annotations"].items():
            for row in rows:
                row.item = item  # imported labels are built from rows and need the kind
            annotations[source] = ReviewAnnotationSerializer(rows, many=True).data
        return Response(
            {
                "item": item.id,
                "external_id": item.external_id,
                "annotations": annotations,
                "suggestions": {
                    target: SuggestionOutputSerializer(rows, many=True).data
                    for target, rows in review["suggestions"].items()
                },
                "flags": ReviewFlagSerializer(review["flags"], many=True).data,
            }
        )


class AdjudicationCreateApi(ProjectScopedApi):
    """Record my adjudicated final label for an item (annotators' own labels stay as they
    were): 201 the first time, 200 with a new revision (or unchanged, for a token already
    used) afterwards."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"POST": REVIEW}

    class AdjudicationInputSerializer(serializers.Serializer):
        labels = serializers.DictField()
        note = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
        client_token = serializers.CharField(max_length=64, help_text=IDEMPOTENCY_HELP)

    @extend_schema(
        request=AdjudicationInputSerializer,
        responses={201: ReviewAnnotationSerializer, 200: ReviewAnnotationSerializer},
    )
    def post(self, request: AuthedRequest, slug: str, pk: int) -> Response:
        data = self.AdjudicationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = _item_in_project(project_id=self.project.id, item_id=pk)
        existed = Annotation.objects.filter(
            item=item, annotator=request.user, source=Annotation.Source.ADJUDICATION
        ).exists()
        annotation = adjudication_submit(item=item, reviewer=request.user, **data.validated_data)
        code = status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        return Response(ReviewAnnotationSerializer(annotation).data, status=code)
