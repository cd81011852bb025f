"""Output serializers of the annotator's and reviewer's REST endpoints.

What an annotator receives never carries labels of anyone else, nor source signals that would
bias them: no item or candidate metadata (imported upvotes, alternatives), no
`final_answer_correct`, no candidate `source_model`. Reviewer output carries everything.

Like `serializers.py`, these render rows that the view selected or prefetched and never
query on their own, except where a docstring says so.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from annotation.api.serializers import (
    FieldsOnceMixin,
    StepOutputSerializer,
    TurnOutputSerializer,
)
from annotation.kinds import LABEL_KINDS, label_kind_for
from annotation.models import Annotation, Assignment, Candidate, Flag, Item, Suggestion, User
from annotation.selectors.annotations import annotation_labels


class LabelCandidateSerializer(FieldsOnceMixin, serializers.ModelSerializer):
    class Meta:
        model = Candidate
        fields = ("id", "index", "text")
        read_only_fields = fields


class SuggestionOutputSerializer(FieldsOnceMixin, serializers.ModelSerializer):
    class Meta:
        model = Suggestion
        fields = ("target", "method", "model_name", "score", "label")
        read_only_fields = fields


class LabelItemSerializer(FieldsOnceMixin, serializers.ModelSerializer):
    """The item as the annotator sees it (from `item_for_labeling`: prefetched parts).
    `context["kind"]` limits the parts read to those its label kind shows (the others render
    as empty lists, the same shape for every kind, and are never read, since reading them
    would query); without it all are read."""

    steps = serializers.SerializerMethodField()
    turns = serializers.SerializerMethodField()
    candidates = serializers.SerializerMethodField()

    class Meta:
        model = Item
        fields = (
            "id",
            "external_id",
            "prompt",
            "reference_answer",
            "final_answer",
            "steps",
            "turns",
            "candidates",
        )
        read_only_fields = fields

    def _part(
        self, item: Item, name: str, serializer: type[serializers.ModelSerializer]
    ) -> list[dict[str, Any]]:
        kind = self.context.get("kind")
        if kind is not None and name not in LABEL_KINDS[kind].shown_parts:
            return []
        rows: Any = serializer(getattr(item, name).all(), many=True).data  # a ReturnList
        return rows

    def get_steps(self, obj: Item) -> list[dict[str, Any]]:
        return self._part(obj, "steps", StepOutputSerializer)

    def get_turns(self, obj: Item) -> list[dict[str, Any]]:
        return self._part(obj, "turns", TurnOutputSerializer)

    def get_candidates(self, obj: Item) -> list[dict[str, Any]]:
        return self._part(obj, "candidates", LabelCandidateSerializer)


class AssignmentOutputSerializer(serializers.Serializer):
    """A claimed item ready to render.

    `context` must hold `item` (from `item_for_labeling`), `project` and `suggestions`
    (target → list, empty when the project hides them). For preference projects
    `left_candidate`/`right_candidate` are the candidate ids to show on each side; labels
    refer to candidates by index, so clients translate through `item.candidates`.
    """

    id = serializers.IntegerField()
    status = serializers.CharField()
    claimed_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    left_candidate = serializers.IntegerField(source="left_candidate_id", allow_null=True)
    right_candidate = serializers.IntegerField(source="right_candidate_id", allow_null=True)
    item = serializers.SerializerMethodField()
    project = serializers.SerializerMethodField()
    suggestions = serializers.SerializerMethodField()
    prefill = serializers.SerializerMethodField()

    def get_item(self, obj: Assignment) -> dict[str, Any]:
        kind = self.context["project"].kind
        return LabelItemSerializer(self.context["item"], context={"kind": kind}).data

    def get_project(self, obj: Assignment) -> dict[str, Any]:
        project = self.context["project"]
        return {
            "slug": project.slug,
            "kind": project.kind,
            "label_schema": project.label_schema,
            "instructions": project.instructions,
            "overlap": project.overlap,
        }

    def get_suggestions(self, obj: Assignment) -> dict[str, Any]:
        return {
            target: SuggestionOutputSerializer(rows, many=True).data
            for target, rows in self.context["suggestions"].items()
        }

    def get_prefill(self, obj: Assignment) -> dict[str, Any]:
        """Verify-the-model mode: the model's pre-label per part index ({} when off). Each
        pre-filled step must be submitted with `confirmed: true` or a changed value."""
        project = self.context["project"]
        if not project.prefill:
            return {}
        got = label_kind_for(project).prefill(item_id=obj.item_id, schema=project.label_schema)
        return {
            str(i): {"value": p.value, "confidence": p.confidence, "method": p.method}
            for i, p in got.items()
        }


class AssignmentStateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Assignment
        fields = ("id", "item", "status", "skip_reason", "claimed_at", "expires_at")
        read_only_fields = fields


class AnnotationOutputSerializer(FieldsOnceMixin, serializers.ModelSerializer):
    """One of my annotations with its current labels (the normal form of
    `annotation.services.annotations`). Needs `revisions` prefetched (or does one query)."""

    item_external_id = serializers.CharField(source="item.external_id", read_only=True)
    labels = serializers.SerializerMethodField()

    class Meta:
        model = Annotation
        fields = (
            "id",
            "item",
            "item_external_id",
            "revision",
            "labels",
            "time_spent_ms",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_labels(self, obj: Annotation) -> dict[str, Any]:
        return annotation_labels(obj)


class AnnotatorOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ("id", "username", "kind")
        read_only_fields = fields


class ReviewAnnotationSerializer(serializers.ModelSerializer):
    """An annotation on the review page: who, when, time spent, revisions, labels
    (from `item_review`, which prefetches revisions)."""

    annotator = AnnotatorOutputSerializer(read_only=True)
    labels = serializers.SerializerMethodField()
    revisions = serializers.SerializerMethodField()

    class Meta:
        model = Annotation
        fields = (
            "id",
            "annotator",
            "source",
            "labels",
            "note",
            "time_spent_ms",
            "revision",
            "revisions",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_labels(self, obj: Annotation) -> dict[str, Any]:
        return annotation_labels(obj)

    def get_revisions(self, obj: Annotation) -> int:
        return len(obj.revisions.all())


class FlagOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Flag
        fields: tuple[str, ...] = ("id", "item", "reason", "note", "created_at", "resolved_at")
        read_only_fields: tuple[str, ...] = fields


class ReviewFlagSerializer(FlagOutputSerializer):
    """A flag with who raised it (`item_review` selects the user)."""

    user = serializers.CharField(source="user.username", read_only=True)

    class Meta(FlagOutputSerializer.Meta):
        fields = (*FlagOutputSerializer.Meta.fields, "user")
        read_only_fields = fields


class ReviewItemSerializer(serializers.Serializer):
    """A row of `review_items`."""

    id = serializers.IntegerField(source="item.id")
    external_id = serializers.CharField(source="item.external_id")
    priority = serializers.IntegerField(source="item.priority")
    done_count = serializers.IntegerField(source="item.done_count")
    n_human = serializers.IntegerField()
    disagreement = serializers.BooleanField()
    adjudicated = serializers.BooleanField()
    flags = FlagOutputSerializer(many=True)
