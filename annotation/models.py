"""The annotation domain. What is labeled or queried is a row; configuration may be JSON.

Imported labels (ProcessBench experts, AnnoMI coders, counsel-chat upvotes) are ordinary
annotations by a User of kind `imported` named after the source, so agreement and
evaluation treat them like any annotator's.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q


class User(AbstractUser):
    class Kind(models.TextChoices):
        HUMAN = "human", "Human"
        IMPORTED = "imported", "Imported source"
        MODEL = "model", "Model / consensus"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.HUMAN)


class ProjectKind(models.TextChoices):
    STEP_LABELS = "step_labels", "Step labels (reasoning traces)"
    DIALOGUE_CODING = "dialogue_coding", "Dialogue-turn coding"
    PREFERENCE = "preference", "Preference pairs"


class Role(models.TextChoices):
    MANAGER = "manager", "Manager"
    REVIEWER = "reviewer", "Reviewer"
    ANNOTATOR = "annotator", "Annotator"
    RESEARCHER = "researcher", "Researcher"


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=32, choices=ProjectKind.choices)
    # Validated by annotation.label_schema for the project's kind.
    label_schema = models.JSONField(default=dict)
    overlap = models.PositiveSmallIntegerField(
        default=1, help_text="Distinct annotators needed per item (k)."
    )
    instructions = models.TextField(blank=True, help_text="Markdown shown to annotators.")
    show_suggestions = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    # Indexed by the (project, user) unique constraint.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.project_id}:{self.role}"


class Dataset(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    source_format = models.CharField(max_length=32)
    license = models.CharField(max_length=100, blank=True)
    provenance = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="dataset_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class Item(models.Model):
    # Indexed by the (dataset, external_id) unique constraint.
    dataset = models.ForeignKey(
        Dataset, on_delete=models.CASCADE, related_name="items", db_index=False
    )
    # Denormalised from the dataset: the task stream and exports filter by project.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="items", db_index=False
    )  # indexed by item_stream_idx
    external_id = models.CharField(max_length=255)
    group_key = models.CharField(max_length=255, blank=True, db_index=True)
    prompt = models.TextField(blank=True)
    reference_answer = models.TextField(blank=True)
    final_answer = models.TextField(blank=True)
    final_answer_correct = models.BooleanField(null=True, blank=True)
    generator_model = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    priority = models.IntegerField(default=0)
    # sha256 of the item's imported content: a re-import of the same record is a no-op, a
    # different record under the same external id is an error.
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "external_id"], name="item_unique_external_id"
            )
        ]
        indexes = [models.Index(fields=["project", "-priority", "id"], name="item_stream_idx")]

    def __str__(self) -> str:
        return self.external_id


class Step(models.Model):
    # FK columns that lead a unique constraint need no index of their own: one fewer
    # B-tree insert per row on bulk imports.
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="steps", db_index=False)
    index = models.PositiveIntegerField()
    text = models.TextField()

    class Meta:
        ordering = ["item_id", "index"]
        constraints = [models.UniqueConstraint(fields=["item", "index"], name="step_unique_index")]

    def __str__(self) -> str:
        return f"step {self.index} of item {self.item_id}"


class Turn(models.Model):
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="turns", db_index=False)
    index = models.PositiveIntegerField()
    speaker = models.CharField(max_length=64)
    text = models.TextField()

    class Meta:
        ordering = ["item_id", "index"]
        constraints = [models.UniqueConstraint(fields=["item", "index"], name="turn_unique_index")]

    def __str__(self) -> str:
        return f"turn {self.index} ({self.speaker}) of item {self.item_id}"


class Candidate(models.Model):
    item = models.ForeignKey(
        Item, on_delete=models.CASCADE, related_name="candidates", db_index=False
    )
    index = models.PositiveIntegerField()
    text = models.TextField()
    source_model = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["item_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["item", "index"], name="candidate_unique_index")
        ]

    def __str__(self) -> str:
        return f"candidate {self.index} of item {self.item_id}"


class FinishReason(models.TextChoices):
    FOUND_ERROR = "found_error", "Found an error"
    SOLUTION = "solution", "Solution is fine"
    BAD_PROBLEM = "bad_problem", "Bad problem"
    GIVE_UP = "give_up", "Gave up"


class Annotation(models.Model):
    """One annotator's labels for one item (the labels are child rows).

    `source` separates human work from imported sources, model consensus and adjudication, so
    agreement never mixes them by accident.
    """

    class Source(models.TextChoices):
        HUMAN = "human", "Human annotator"
        IMPORTED = "imported", "Imported"
        CONSENSUS = "consensus", "Model consensus"
        ADJUDICATION = "adjudication", "Adjudicated"

    item = models.ForeignKey(
        Item, on_delete=models.CASCADE, related_name="annotations", db_index=False
    )  # indexed by annotation_unique_per_source
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations"
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.HUMAN)
    # ProcessBench semantics: -1 = no error, else the 0-based index of the first wrong step.
    first_error_index = models.IntegerField(null=True, blank=True)
    finish_reason = models.CharField(
        max_length=16, choices=FinishReason.choices, blank=True, default=""
    )
    justification = models.TextField(blank=True)
    note = models.TextField(blank=True)
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "annotator", "source"], name="annotation_unique_per_source"
            )
        ]
        indexes = [models.Index(fields=["annotator", "source"], name="annotation_by_annotator")]

    def __str__(self) -> str:
        return f"annotation {self.id} of item {self.item_id} by {self.annotator_id}"


class StepLabel(models.Model):
    """A rating of one step: -1 wrong, 0 neutral, +1 right; NULL = unlabeled (e.g. after a
    first error in ProcessBench mode)."""

    annotation = models.ForeignKey(
        Annotation, on_delete=models.CASCADE, related_name="step_labels", db_index=False
    )
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="labels")
    rating = models.SmallIntegerField(null=True, blank=True)
    cant_judge = models.BooleanField(default=False)
    comment = models.TextField(blank=True)

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
        Annotation, on_delete=models.CASCADE, related_name="turn_labels", db_index=False
    )
    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="labels")
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
        Annotation, on_delete=models.CASCADE, related_name="preference_labels", db_index=False
    )
    candidate_a = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="+")
    candidate_b = models.ForeignKey(Candidate, on_delete=models.CASCADE, related_name="+")
    strength = models.SmallIntegerField()
    margin = models.FloatField(null=True, blank=True)
    left_candidate = models.ForeignKey(
        Candidate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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
        Annotation, on_delete=models.CASCADE, related_name="principle_ratings"
    )
    principle = models.CharField(max_length=64)
    candidate = models.ForeignKey(
        Candidate, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
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


class ImportRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_runs")
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="import_runs"
    )
    dataset_name = models.CharField(max_length=200)
    format = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    file = models.CharField(max_length=500, help_text="Path of the uploaded file under MEDIA_ROOT.")
    original_filename = models.CharField(max_length=255, blank=True)
    options = models.JSONField(default=dict, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    items_created = models.PositiveIntegerField(default=0)
    items_unchanged = models.PositiveIntegerField(default=0)
    records_skipped = models.PositiveIntegerField(default=0)
    steps_created = models.PositiveIntegerField(default=0)
    turns_created = models.PositiveIntegerField(default=0)
    candidates_created = models.PositiveIntegerField(default=0)
    annotations_created = models.PositiveIntegerField(default=0)
    # The first STEPWISE_IMPORT_ERROR_LIMIT problems as {line, field, message}; error_count
    # has the total.
    errors = models.JSONField(default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"import {self.id} ({self.format}, {self.status})"


class WorkerHeartbeat(models.Model):
    """Last sign of life of each Celery worker (read by /healthz)."""

    hostname = models.CharField(max_length=255, unique=True)
    queues = models.CharField(max_length=255, blank=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return self.hostname
