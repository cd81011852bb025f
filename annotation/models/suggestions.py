"""Model pre-labels (suggestions) and the methods that write them."""

from __future__ import annotations

from django.db import models


class SuggestionMethod(models.TextChoices):
    JUDGE = "judge", "LLM judge (critique)"
    VERIFY = "verify", "LLM judge (verify, P(Yes))"
    MC = "mc", "Monte-Carlo rollouts"
    FIRST_ERROR_SEARCH = "first_error_search", "First-error search"
    CONSENSUS = "consensus", "Consensus"
    PAIR_JUDGE = "pair_judge", "Pair judge"
    TURN_CODER = "turn_coder", "Turn coder"
    PRM = "prm", "Process reward model"


class Suggestion(models.Model):
    """A model's pre-label for an item or one of its steps, turns or candidates.

    `target` names the part ("item", "step:3", "turn:12", "candidate:1") so the unique key
    (job_id, item, method, target) lets a redelivered job chunk upsert instead of duplicating.
    `job_id` is the labeling_jobs.LabelingJob id, kept as a plain column so that this app
    does not depend on labeling_jobs.
    """

    item = models.ForeignKey(
        "annotation.Item", on_delete=models.CASCADE, related_name="suggestions"
    )
    step = models.ForeignKey(
        "annotation.Step",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="suggestions",
    )
    turn = models.ForeignKey(
        "annotation.Turn",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="suggestions",
    )
    candidate = models.ForeignKey(
        "annotation.Candidate",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="suggestions",
    )
    target = models.CharField(max_length=32)
    method = models.CharField(max_length=24, choices=SuggestionMethod.choices)
    model_name = models.CharField(max_length=200)
    score = models.FloatField(null=True, blank=True)
    label = models.CharField(max_length=64, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    job_id = models.BigIntegerField(default=0, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job_id", "item", "method", "target"], name="suggestion_unique"
            )
        ]
        indexes = [models.Index(fields=["item", "method"], name="suggestion_by_item")]

    def __str__(self) -> str:
        return f"{self.method} {self.target} of item {self.item_id}: {self.label or self.score}"
