"""Crowd-worker study links (Prolific-style): a URL a crowd platform opens with the worker's id
in a query parameter, and one row per worker who came through it.

They reference the core models by name ("annotation.Project"), so this module imports nothing
of the package that re-exports it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class StudyLink(models.Model):
    """A manager's study link for one project. Services validate every field
    (`annotation.services.study`); the columns only bound them."""

    project = models.ForeignKey(
        "annotation.Project", on_delete=models.CASCADE, related_name="study_links"
    )
    # The secret part of the URL /s/<token>/ (secrets.token_urlsafe).
    token = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    # Which platform the workers come from: part of their account's key.
    platform = models.CharField(max_length=32, default="prolific")
    worker_param = models.CharField(max_length=64, default="PROLIFIC_PID")
    study_param = models.CharField(max_length=64, default="STUDY_ID")
    session_param = models.CharField(max_length=64, default="SESSION_ID")
    quota = models.PositiveIntegerField(default=10, help_text="Items each worker labels.")
    max_workers = models.PositiveIntegerField(default=50, help_text="Workers let in, at most.")
    paused = models.BooleanField(default=False)
    consent_text = models.TextField(blank=True, help_text="Markdown; empty for no consent page.")
    completion_code = models.CharField(max_length=64)
    # Shown instead of the completion code to workers stopped by the training round or the
    # attention checks; empty: they see the completion code, marked for rejection here.
    failure_code = models.CharField(max_length=64, blank=True)
    completion_url = models.URLField(max_length=2000, blank=True)
    training_items = models.PositiveSmallIntegerField(
        default=0, help_text="Gold items with feedback before real items (0: no training)."
    )
    pass_mark = models.FloatField(
        default=0.8, help_text="Share of training and attention-check items answered right."
    )
    attention_rate = models.FloatField(
        default=0.0, help_text="Share of the worker's items that are attention checks (gold)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class StudyWorker(models.Model):
    """One crowd worker on one study link, and their own account (no password)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed training"
        REJECTED = "rejected", "Marked for rejection"

    link = models.ForeignKey(StudyLink, on_delete=models.CASCADE, related_name="workers")
    worker_id = models.CharField(max_length=128)
    study_id = models.CharField(max_length=128, blank=True)
    session_id = models.CharField(max_length=128, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_workers"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    started_at = models.DateTimeField(auto_now_add=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Items of the main stream submitted (attention checks included; training excluded).
    items_done = models.PositiveIntegerField(default=0)
    # Attention checks (gold items in the main stream) answered, and answered right.
    gold_total = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    training_done = models.PositiveIntegerField(default=0)
    training_correct = models.PositiveIntegerField(default=0)
    # None while the training round runs (or when the link has none).
    training_passed = models.BooleanField(null=True, blank=True)
    completion_code = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["link", "worker_id"], name="studyworker_unique")
        ]

    def __str__(self) -> str:
        return f"{self.worker_id} on link {self.link_id}: {self.status}"
