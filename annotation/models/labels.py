"""Label rows: what an annotation says about each step, turn or candidate pair.

They reference the core models by name ("annotation.Step"), so this module imports nothing
of the package that re-exports it.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Provenance(models.TextChoices):
    """Where a step's value came from (verify-the-model mode pre-fills the model's)."""

    HUMAN = "human", "Human"
    MODEL_CONFIRMED = "model_confirmed", "Model pre-fill, confirmed"
    MODEL_CHANGED = "model_changed", "Model pre-fill, changed"


class StepLabel(models.Model):
    """A rating of one step: -1 wrong, 0 neutral, +1 right; NULL = unlabeled (e.g. after a
    first error in ProcessBench mode).

    With pre-fill on, `model_value`, `model_confidence` and `model_method` keep the pre-label
    the annotator was shown, and `provenance` whether they confirmed or changed it."""

    annotation = models.ForeignKey(
        "annotation.Annotation",
        on_delete=models.CASCADE,
        related_name="step_labels",
        db_index=False,
    )
    step = models.ForeignKey("annotation.Step", on_delete=models.CASCADE, related_name="labels")
    rating = models.SmallIntegerField(null=True, blank=True)
    cant_judge = models.BooleanField(default=False)
    comment = models.TextField(blank=True)
    provenance = models.CharField(
        max_length=16, choices=Provenance.choices, default=Provenance.HUMAN,
        db_default=Provenance.HUMAN,
    )  # fmt: skip
    model_value = models.SmallIntegerField(null=True, blank=True)
    model_confidence = models.FloatField(null=True, blank=True)
    model_method = models.CharField(max_length=24, blank=True, default="", db_default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["annotation", "step"], name="steplabel_unique"),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=-1, rating__lte=1),
                name="steplabel_rating_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step_id}={self.rating}"


class TurnLabel(models.Model):
    """One code for one turn in one field (e.g. main_therapist_behaviour = reflection)."""

    annotation = models.ForeignKey(
        "annotation.Annotation",
        on_delete=models.CASCADE,
        related_name="turn_labels",
        db_index=False,
    )
    turn = models.ForeignKey("annotation.Turn", on_delete=models.CASCADE, related_name="labels")
    field = models.CharField(max_length=64)
    value = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["annotation", "turn", "field"], name="turnlabel_unique")
        ]

    def __str__(self) -> str:
        return f"{self.turn_id}.{self.field}={self.value}"


class PreferenceLabel(models.Model):
    """A judgement between two candidates, stored relative to the candidates.

    strength in -3..+3: negative = candidate_a better, positive = candidate_b better, 0 = tie.
    `left_candidate` records which one the annotator saw on the left (position bias).
    `margin` keeps a numeric source signal such as an upvote difference.
    """

    annotation = models.ForeignKey(
        "annotation.Annotation",
        on_delete=models.CASCADE,
        related_name="preference_labels",
        db_index=False,
    )
    candidate_a = models.ForeignKey(
        "annotation.Candidate", on_delete=models.CASCADE, related_name="+"
    )
    candidate_b = models.ForeignKey(
        "annotation.Candidate", on_delete=models.CASCADE, related_name="+"
    )
    strength = models.SmallIntegerField()
    margin = models.FloatField(null=True, blank=True)
    left_candidate = models.ForeignKey(
        "annotation.Candidate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["annotation", "candidate_a", "candidate_b"], name="preflabel_unique"
            ),
            models.CheckConstraint(
                condition=Q(strength__gte=-3, strength__lte=3), name="preflabel_strength_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.candidate_a_id} vs {self.candidate_b_id}: {self.strength}"


class PrincipleRating(models.Model):
    """A rating under one principle: per response (candidate set, value 1..5) or per pair
    (candidate NULL, value -3..+3 with the PreferenceLabel sign convention)."""

    annotation = models.ForeignKey(
        "annotation.Annotation", on_delete=models.CASCADE, related_name="principle_ratings"
    )
    principle = models.CharField(max_length=64)
    candidate = models.ForeignKey(
        "annotation.Candidate", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    value = models.SmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["annotation", "principle", "candidate"],
                condition=Q(candidate__isnull=False),
                name="principlerating_unique_response",
            ),
            models.UniqueConstraint(
                fields=["annotation", "principle"],
                condition=Q(candidate__isnull=True),
                name="principlerating_unique_pair",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.principle}={self.value}"
