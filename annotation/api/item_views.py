"""REST of the item browser: the filtered, keyset-paginated item list, one item with
everything recorded about it, and managers' bulk actions.

GET for managers, reviewers and researchers; bulk actions for managers. Non-members get 404
and other roles 403, as everywhere in the API (`ProjectRole`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from annotation.api.pagination import ID_MAX
from annotation.api.serializers import ItemOutputSerializer
from annotation.api.views import ProjectScopedApi
from annotation.models import SuggestionMethod
from annotation.selectors.annotations import annotation_labels, item_review
from annotation.selectors.items import (
    PAGE_SIZE,
    PAGE_SIZE_MAX,
    SEARCH_MAX,
    AgreementFilter,
    FlagFilter,
    ItemOrder,
    ItemQuery,
    ItemRow,
    ItemStatus,
    SuggestedFilter,
    item_browse,
    item_browse_detail,
    item_browse_status,
    item_cursor_parse,
    item_suggestions_by_job,
)
from annotation.selectors.projects import MANAGE, READ_ITEMS
from annotation.services.item_bulk import (
    BULK_MAX_ITEMS,
    PRIORITY_MAX,
    PRIORITY_MIN,
    BulkAction,
    item_bulk_action,
)

SCORE_BOUND = 1e9


class FiniteFloatField(serializers.FloatField):
    def to_internal_value(self, data: Any) -> float:
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            raise serializers.ValidationError("must be a finite number")
        return value


class ItemBrowseFilterSerializer(serializers.Serializer):
    """Query parameters of the item list; all optional, all bounded."""

    cursor = serializers.CharField(required=False, max_length=40,
                                   help_text="The `next` link's cursor (keyset position).")  # fmt: skip
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, default=PAGE_SIZE,
        help_text=f"Items per page; larger values are capped at {PAGE_SIZE_MAX}.",
    )  # fmt: skip
    order = serializers.ChoiceField(choices=ItemOrder.choices, required=False, default="id")
    q = serializers.CharField(required=False, max_length=SEARCH_MAX, allow_blank=True,
                              help_text="Full-text search over the external id, problem, steps, "
                              'turns and candidates (PostgreSQL websearch syntax: "a phrase", '
                              "or, -word).")  # fmt: skip
    dataset = serializers.IntegerField(required=False, min_value=0, max_value=ID_MAX)
    group_key = serializers.CharField(required=False, max_length=255)
    status = serializers.ChoiceField(choices=ItemStatus.choices, required=False)
    labels_min = serializers.IntegerField(required=False, min_value=0, max_value=10_000)
    labels_max = serializers.IntegerField(required=False, min_value=0, max_value=10_000)
    agreement = serializers.ChoiceField(choices=AgreementFilter.choices, required=False,
                                        help_text="Checked item by item over at most 250 "
                                        "items per page: a page may be short, follow `next`.")  # fmt: skip
    flags = serializers.ChoiceField(choices=FlagFilter.choices, required=False)
    suggested = serializers.ChoiceField(choices=SuggestedFilter.choices, required=False)
    method = serializers.ChoiceField(choices=SuggestionMethod.choices, required=False)
    verdict = serializers.CharField(required=False, max_length=64,
                                    help_text="Label of an item-level model suggestion "
                                    '(first-error methods: "-1" = no error, "2" = step 3).')  # fmt: skip
    score_min = FiniteFloatField(required=False, min_value=-SCORE_BOUND, max_value=SCORE_BOUND)
    score_max = FiniteFloatField(required=False, min_value=-SCORE_BOUND, max_value=SCORE_BOUND)
    priority_min = serializers.IntegerField(required=False, min_value=PRIORITY_MIN,
                                            max_value=PRIORITY_MAX)  # fmt: skip
    priority_max = serializers.IntegerField(required=False, min_value=PRIORITY_MIN,
                                            max_value=PRIORITY_MAX)  # fmt: skip
    annotator = serializers.IntegerField(required=False, min_value=0, max_value=ID_MAX,
                                         help_text="User id: items this user labeled.")  # fmt: skip

    def query(self) -> ItemQuery:
        d = self.validated_data
        return ItemQuery(
            dataset_id=d.get("dataset"), status=d.get("status", ""),
            labels_min=d.get("labels_min"), labels_max=d.get("labels_max"),
            agreement=d.get("agreement", ""), flags=d.get("flags", ""),
            suggested=d.get("suggested", ""), method=d.get("method", ""),
            verdict=d.get("verdict", ""), score_min=d.get("score_min"),
            score_max=d.get("score_max"), priority_min=d.get("priority_min"),
            priority_max=d.get("priority_max"), annotator_id=d.get("annotator"),
            group_key=d.get("group_key", ""), q=d.get("q", ""), order=d.get("order", "id"),
        )  # fmt: skip


class VerdictOutputSerializer(serializers.Serializer):
    method = serializers.CharField()
    model = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label
    score = serializers.FloatField(allow_null=True)


class ItemBrowseOutputSerializer(ItemOutputSerializer):
    """An item with its parts and the browser's columns."""

    status = serializers.CharField()
    labels = serializers.IntegerField(help_text="Submitted human labels.")
    labels_needed = serializers.IntegerField()
    agreement = serializers.FloatField(allow_null=True,
                                       help_text="Share of pairs of annotators who agree; null "
                                       "under two labels.")  # fmt: skip
    open_flags = serializers.IntegerField()
    flags = serializers.IntegerField()
    verdicts = VerdictOutputSerializer(many=True)

    class Meta(ItemOutputSerializer.Meta):
        fields = (*ItemOutputSerializer.Meta.fields, "status", "labels", "labels_needed",
                  "agreement", "open_flags", "flags", "verdicts")  # fmt: skip
        read_only_fields = fields


def _row_data(row: ItemRow) -> dict[str, Any]:
    """`ItemBrowseOutputSerializer`'s shape (the browse columns are not item attributes)."""
    data: dict[str, Any] = dict(ItemOutputSerializer(row.item).data)
    data.update(
        status=row.status, labels=row.labels, labels_needed=row.needed,
        agreement=row.agreement, open_flags=row.open_flags, flags=row.flags,
        verdicts=VerdictOutputSerializer(row.verdicts, many=True).data,
    )  # fmt: skip
    return data


class ItemPageOutputSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True, help_text="Always null: pages go forward.")
    results = ItemBrowseOutputSerializer(many=True)


class ItemListApi(ProjectScopedApi):
    """Items of the project, filtered, with their parts and the browser's columns, a page at
    a time (keyset pagination: follow `next`). Annotators get 403: they receive items
    through assignments, not by browsing."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": READ_ITEMS}

    @extend_schema(
        parameters=[ItemBrowseFilterSerializer],
        responses=ItemPageOutputSerializer,
        operation_id="projects_items_list",
    )
    def get(self, request: Request, slug: str) -> Response:
        params = ItemBrowseFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        query = params.query()
        after = None
        cursor = params.validated_data.get("cursor")
        if cursor:
            after = item_cursor_parse(cursor=cursor, order=query.order)
            if after is None:
                raise NotFound("Invalid cursor")
        page = item_browse(project=self.project, query=query, after=after,
                           page_size=min(params.validated_data["page_size"], PAGE_SIZE_MAX), with_content=True)  # fmt: skip
        url = request.build_absolute_uri()
        return Response({
            "next": replace_query_param(url, "cursor", page.next_cursor) if page.next_cursor else None,
            "previous": None,
            "results": [_row_data(r) for r in page.rows],
        })  # fmt: skip


class AnnotationBrowseOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    annotator = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.source
    revision = serializers.IntegerField()
    labels = serializers.JSONField(help_text="The current labels in the kind's normal form.")
    note = serializers.CharField()
    justification = serializers.CharField()
    updated_at = serializers.DateTimeField()
    revisions = serializers.ListField(child=serializers.DictField())


class ItemDetailOutputSerializer(ItemOutputSerializer):
    status = serializers.CharField()
    labels_needed = serializers.IntegerField()
    annotations = AnnotationBrowseOutputSerializer(many=True)
    flag_list = serializers.ListField(child=serializers.DictField())
    suggestions = serializers.ListField(child=serializers.DictField())

    class Meta(ItemOutputSerializer.Meta):
        fields = (*ItemOutputSerializer.Meta.fields, "status", "labels_needed", "annotations",
                  "flag_list", "suggestions")  # fmt: skip
        read_only_fields = fields


class ItemDetailApi(ProjectScopedApi):
    """One item with every annotation (current labels and revisions), its flags, and every
    model suggestion with its raw output."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"GET": READ_ITEMS}

    @extend_schema(responses=ItemDetailOutputSerializer)
    def get(self, request: Request, slug: str, pk: int) -> Response:
        if pk > ID_MAX:
            raise NotFound()
        item = item_browse_detail(project=self.project, item_id=pk)
        if item is None:
            raise NotFound()
        review = item_review(item=item)
        data: dict[str, Any] = dict(ItemOutputSerializer(item).data)
        data["status"] = item_browse_status(item=item)
        data["labels_needed"] = self.project.overlap + item.extra_labels
        data["annotations"] = [
            {"id": a.id, "annotator": a.annotator.get_username(), "source": a.source,
             "revision": a.revision, "labels": annotation_labels(a), "note": a.note,
             "justification": a.justification, "updated_at": a.updated_at.isoformat(),
             "revisions": [{"revision": r.revision, "labels": r.labels,
                            "created_at": r.created_at.isoformat()}
                           for r in sorted(a.revisions.all(), key=lambda r: r.revision)]}
            for group in review["annotations"].values() for a in group
        ]  # fmt: skip
        data["flag_list"] = [
            {"id": f.id, "reason": f.reason, "note": f.note, "user": f.user.get_username(),
             "created_at": f.created_at.isoformat(),
             "resolved_at": f.resolved_at.isoformat() if f.resolved_at else None}
            for f in review["flags"]
        ]  # fmt: skip
        data["suggestions"] = [
            {"job_id": job_id, "method": s.method, "model": s.model_name, "target": s.target,
             "label": s.label, "score": s.score, "raw": s.raw}
            for job_id, found in item_suggestions_by_job(item=item) for s in found
        ]  # fmt: skip
        return Response(data)


class ItemBulkInputSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=BulkAction.choices)
    items = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
        min_length=1, max_length=BULK_MAX_ITEMS,
    )  # fmt: skip
    value = serializers.IntegerField(required=False, allow_null=True, min_value=PRIORITY_MIN,
                                     max_value=PRIORITY_MAX,
                                     help_text="The priority (set_priority) or the number "
                                     "of more labels, 1-10 (requeue).")  # fmt: skip


class ItemBulkOutputSerializer(serializers.Serializer):
    action = serializers.CharField()
    changed = serializers.IntegerField()
    skipped = serializers.DictField(child=serializers.IntegerField())


class ItemBulkApi(ProjectScopedApi):
    """Managers: set priority, mark or unmark gold (with the adjudicated label as the
    answer), or send items back to the queue for `value` more labels."""

    roles: ClassVar[dict[str, frozenset[str]]] = {"POST": MANAGE}

    @extend_schema(request=ItemBulkInputSerializer, responses=ItemBulkOutputSerializer)
    def post(self, request: Request, slug: str) -> Response:
        data = ItemBulkInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user: Any = request.user
        result = item_bulk_action(
            project=self.project, user=user, action=data.validated_data["action"],
            item_ids=data.validated_data["items"], value=data.validated_data.get("value"),
        )  # fmt: skip
        return Response(ItemBulkOutputSerializer(result).data)
