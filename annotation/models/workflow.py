"""The annotator's work: leases on items (assignments), every submitted state of an
annotation (revisions), and reports about items (flags).

They reference the core models by name ("annotation.Item"), so this module imports nothing
of the package that re-exports it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Assignment(models.Model):
    """A claim of one item by one annotator: a lease that expires, then a submission or skip.

    One row per (item, annotator): an annotator is never given the same item twice, and a
    skipped item is not shown to them again.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Claimed"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Lease expired"

    item = models.ForeignKey(
        "annotation.Item", on_delete=models.CASCADE, related_name="assignments"
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    project = models.ForeignKey("annotation.Project", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    claimed_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    first_rendered_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # Active time on the item in ms (first render to submit, idle gaps over 5 min excluded).
    active_ms = models.PositiveIntegerField(default=0)
    skip_reason = models.TextField(blank=True)
    # Preference items: the pair shown and its sides, randomised per annotator (for items
    # with more than two candidates, the pair too).
    left_candidate = models.ForeignKey(
        "annotation.Candidate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    right_candidate = models.ForeignKey(
        "annotation.Candidate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    annotation = models.OneToOneField(
        "annotation.Annotation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assignment",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="assignment_unique")
        ]
        indexes = [
            models.Index(fields=["annotator", "project", "status"], name="assignment_mine"),
            models.Index(fields=["item", "status", "expires_at"], name="assignment_open"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator_id} on item {self.item_id}: {self.status}"


class AnnotationRevision(models.Model):
    """An archived state of an annotation: every submission is kept, edits never overwrite.

    `client_token` is the submit form's one-time token: a second submit with the same token
    (double click, retry) is recognised and changes nothing.
    """

    annotation = models.ForeignKey(
        "annotation.Annotation", on_delete=models.CASCADE, related_name="revisions"
    )
    revision = models.PositiveIntegerField()
    labels = models.JSONField()
    client_token = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["annotation_id", "revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["annotation", "revision"], name="annotationrevision_unique"
            ),
            models.UniqueConstraint(
                fields=["annotation", "client_token"],
                condition=~Q(client_token=""),
                name="annotationrevision_unique_token",
            ),
        ]

    def __str__(self) -> str:
        return f"annotation {self.annotation_id} r{self.revision}"


class Flag(models.Model):
    """An annotator's report about an item (crisis content, personal data, broken item)."""

    class Reason(models.TextChoices):
        CRISIS = "crisis", "Crisis or risk content"
        PERSONAL_DATA = "personal_data", "Personal data"
        BROKEN = "broken", "Broken item"
        OTHER = "other", "Other"

    item = models.ForeignKey("annotation.Item", on_delete=models.CASCADE, related_name="flags")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"flag {self.reason} on item {self.item_id}"
