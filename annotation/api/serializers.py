"""Output serializers shared by several API views (list and detail of the same entity).

Input serializers live nested in the view that uses them; these only render rows that
selectors and services return, and never query: anything they show is selected or
prefetched by the selector.
"""

from __future__ import annotations

import copy
from typing import Any

from rest_framework import serializers

from annotation.models import Candidate, Dataset, ImportRun, Item, Membership, Project, Step, Turn


class FieldsOnceMixin:
    """For a ModelSerializer on a hot path: its fields are built from the model once per
    class and copied per instance (DRF introspects the model for every instance, which is
    about half the cost of rendering a small object). Declared fields are copied the same
    way by DRF itself, so the output is the same."""

    def get_fields(self) -> dict[str, Any]:
        cls = type(self)
        proto = cls.__dict__.get("_fields_proto")
        if proto is None:
            proto = super().get_fields()  # type: ignore[misc]
            cls._fields_proto = proto  # type: ignore[attr-defined]
        return copy.deepcopy(proto)


class ProjectOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields: tuple[str, ...] = (
            "id",
            "slug",
            "name",
            "description",
            "kind",
            "label_schema",
            "overlap",
            "instructions",
            "show_suggestions",
            "created_at",
        )
        read_only_fields: tuple[str, ...] = fields


class ProjectListOutputSerializer(ProjectOutputSerializer):
    item_count = serializers.IntegerField(read_only=True)

    class Meta(ProjectOutputSerializer.Meta):
        fields = (*ProjectOutputSerializer.Meta.fields, "item_count")
        read_only_fields = fields


class MembershipOutputSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ("id", "user_id", "username", "role", "created_at")
        read_only_fields = fields


class DatasetOutputSerializer(serializers.ModelSerializer):
    # Annotated by `dataset_list`; a dataset just created has no items yet.
    item_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Dataset
        fields = (
            "id",
            "name",
            "source_format",
            "license",
            "provenance",
            "step_split",
            "created_at",
            "item_count",
        )
        read_only_fields = fields


class StepOutputSerializer(FieldsOnceMixin, serializers.ModelSerializer):
    class Meta:
        model = Step
        fields = ("id", "index", "text")
        read_only_fields = fields


class TurnOutputSerializer(FieldsOnceMixin, serializers.ModelSerializer):
    class Meta:
        model = Turn
        fields = ("id", "index", "speaker", "text")
        read_only_fields = fields


class CandidateOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Candidate
        fields = ("id", "index", "text", "source_model", "metadata")
        read_only_fields = fields


class ItemOutputSerializer(serializers.ModelSerializer):
    """An item with its steps, turns and candidates (prefetched by `item_list`)."""

    dataset = serializers.IntegerField(source="dataset_id", read_only=True)
    steps = StepOutputSerializer(many=True, read_only=True)
    turns = TurnOutputSerializer(many=True, read_only=True)
    candidates = CandidateOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Item
        fields: tuple[str, ...] = (
            "id",
            "dataset",
            "external_id",
            "group_key",
            "prompt",
            "reference_answer",
            "final_answer",
            "final_answer_correct",
            "generator_model",
            "metadata",
            "priority",
            "created_at",
            "steps",
            "turns",
            "candidates",
        )
        read_only_fields: tuple[str, ...] = fields


class ImportRunOutputSerializer(serializers.ModelSerializer):
    """An import run as a client polls it: status, counts, the first problems and a message.

    `errors` holds up to STEPWISE_IMPORT_ERROR_LIMIT problems as {line|row|record, field,
    message}; `error_count` is the total. `error` says why a failed run failed (the rejection
    summary, or the crash). While running, `progress_total` is estimated from the bytes read.
    """

    dataset = serializers.IntegerField(source="dataset_id", read_only=True, allow_null=True)
    percent = serializers.IntegerField(read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = ImportRun
        fields = (
            "id",
            "status",
            "format",
            "dataset",
            "dataset_name",
            "original_filename",
            "options",
            "progress_done",
            "progress_total",
            "percent",
            "items_created",
            "items_unchanged",
            "records_skipped",
            "steps_created",
            "turns_created",
            "candidates_created",
            "annotations_created",
            "errors",
            "error_count",
            "message",
            "error",
            "attempts",
            "created_by",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
        )
        read_only_fields = fields
