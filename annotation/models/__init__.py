"""The annotation domain. What is labeled or queried is a row; configuration may be JSON.

Imported labels (ProcessBench experts, AnnoMI coders, counsel-chat upvotes) are ordinary
annotations by a User of kind `imported` named after the source, so agreement and
evaluation treat them like any annotator's.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models

# Background runs and worker heartbeats live in their own module, re-exported here: importing
# them registers them with the app, and `from annotation.models import ImportRun` works.
from annotation.run_models import ACTIVE_STATUSES as ACTIVE_STATUSES
from annotation.run_models import BackgroundRun as BackgroundRun
from annotation.run_models import ExportRun as ExportRun
from annotation.run_models import ImportRun as ImportRun
from annotation.run_models import RunStatus as RunStatus
from annotation.run_models import StatsRefresh as StatsRefresh
from annotation.run_models import WorkerHeartbeat as WorkerHeartbeat


class User(AbstractUser):
    class Kind(models.TextChoices):
        HUMAN = "human", "Human"
        IMPORTED = "imported", "Imported source"
        MODEL = "model", "Model / consensus"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.HUMAN)
    # Creating projects is a site-level permission: staff, superusers, and users a superuser
    # gave this flag (admin, or `manage.py grant_project_creation`).
    can_create_projects = models.BooleanField(
        default=False,
        help_text="May create projects (and so become their manager). Staff always may.",
    )


class ProjectKind(models.TextChoices):
    STEP_LABELS = "step_labels", "Step labels (reasoning traces)"
    DIALOGUE_CODING = "dialogue_coding", "Dialogue-turn coding"
    PREFERENCE = "preference", "Preference pairs"


class Role(models.TextChoices):
    MANAGER = "manager", "Manager"
    REVIEWER = "reviewer", "Reviewer"
    ANNOTATOR = "annotator", "Annotator"
    RESEARCHER = "researcher", "Researcher"


class Routing(models.TextChoices):
    PRIORITY = "priority", "By priority (as set by managers)"
    UNCERTAINTY = "uncertainty", "By model uncertainty (active selection)"


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=32, choices=ProjectKind.choices)
    # Validated by annotation.label_schema for the project's kind.
    label_schema = models.JSONField(default=dict)
    overlap = models.PositiveSmallIntegerField(
        default=1, help_text="Distinct annotators needed per item (k)."
    )
    description = models.TextField(blank=True, help_text="What the project is for (managers).")
    instructions = models.TextField(blank=True, help_text="Markdown shown to annotators.")
    show_suggestions = models.BooleanField(
        default=True, help_text="Annotators see model hints on the labeling page."
    )
    # Quality settings (annotation.project_settings lists every editable setting).
    gold_rate = models.FloatField(
        default=0.05, help_text="Share (0..1) of an annotator's stream drawn from gold items."
    )
    gold_min_accuracy = models.FloatField(
        default=0.7, help_text="Annotators under this gold accuracy are flagged (0..1)."
    )
    gold_min_items = models.PositiveIntegerField(
        default=5, help_text="Gold items an annotator must have done before being flagged."
    )
    consensus_auto_accept = models.BooleanField(
        default=True,
        help_text="Consensus jobs write the verdicts judge and MC agree on as labels.",
    )
    allow_consensus_labels = models.BooleanField(
        default=False, help_text="Exports may include consensus labels (include_consensus)."
    )
    # Gold items in the project, kept by the gold services: the task stream draws gold items
    # (at gold_rate) only when there are some, without a query per claim.
    gold_count = models.PositiveIntegerField(default=0)
    # The model loop (annotation.services.model_loop): how the task stream orders items,
    # when consensus labels are accepted without a human, and whether the labeling page
    # pre-fills the newest model pre-label of each step for annotators to verify.
    routing = models.CharField(max_length=16, choices=Routing.choices, default=Routing.PRIORITY)
    auto_accept_target = models.FloatField(
        default=0.95, help_text="Accuracy an auto-accept rule must reach (its 95% lower bound)."
    )
    auto_accept_min_labeled = models.PositiveIntegerField(
        default=50, help_text="Fewest human- or gold-labeled items a rule is measured on."
    )
    prefill = models.BooleanField(
        default=False, help_text="Pre-fill model pre-labels; annotators confirm or change each."
    )
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
    # How imports cut reasoning text into steps: {"mode": ..., "pattern"?: ...}; {} = as given.
    step_split = models.JSONField(default=dict, blank=True)
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
    # Not indexed: nothing filters or sorts by it (export splits hash it in Python), and its
    # two indexes (btree + LIKE) cost every import ~8% of PostgreSQL's work.
    group_key = models.CharField(max_length=255, blank=True)
    prompt = models.TextField(blank=True)
    reference_answer = models.TextField(blank=True)
    final_answer = models.TextField(blank=True)
    final_answer_correct = models.BooleanField(null=True, blank=True)
    generator_model = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The claim order (highest first). Under uncertainty routing it holds the routing score
    # and `manager_priority` keeps the manager's value, put back when routing is switched off
    # (NULL: `priority` is the manager's own).
    priority = models.IntegerField(default=0)
    manager_priority = models.IntegerField(null=True, blank=True)
    # Set by the routing recompute when the item was ranked by model uncertainty; human labels
    # submitted after it count as "routed" on the dashboard.
    routed_at = models.DateTimeField(null=True, blank=True)
    # Submitted human annotations so far and whether the item has its k: kept by the
    # submit service so the task stream never counts rows on a 100,000-item project.
    done_count = models.PositiveIntegerField(default=0, db_default=0)
    is_complete = models.BooleanField(default=False, db_default=False)
    # Gold items have a known answer (an annotation with source=gold) and feed annotator
    # accuracy; they look like any other item in the stream.
    is_gold = models.BooleanField(default=False, db_default=False)
    # Labels wanted beyond the project's k: an item a manager sent back to the queue needs
    # k + extra_labels submitted annotations before it is complete again.
    extra_labels = models.PositiveIntegerField(default=0, db_default=0)
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
        indexes = [
            models.Index(
                fields=["project", "is_complete", "-priority", "id"], name="item_stream_idx"
            ),
            # The item browser's "highest priority first" order, keyset-paginated.
            models.Index(fields=["project", "-priority", "id"], name="item_browse_priority"),
        ]

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
        GOLD = "gold", "Gold answer"

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
    # Labeled in verify-the-model mode (the form was pre-filled with model pre-labels):
    # anchored labels, left out of human-human agreement.
    prefilled = models.BooleanField(default=False, db_default=False)
    # 1 for the first submission; each edit archives the previous state in
    # AnnotationRevision and increments this.
    revision = models.PositiveIntegerField(default=1, db_default=1)
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


class ProjectStat(models.Model):
    """Precomputed dashboard figures (agreement, progress, throughput), refreshed by a task
    so the dashboard reads one row per figure instead of recomputing on 100,000 items."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="stats")
    key = models.CharField(max_length=100)
    value = models.JSONField()
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="projectstat_unique")
        ]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.key}"


# Defined in submodules, re-exported so that `annotation.models` stays the one import path.
from annotation.models.labels import (  # noqa: E402
    PreferenceLabel,
    PrincipleRating,
    Provenance,
    StepLabel,
    TurnLabel,
)
from annotation.models.study import StudyLink, StudyWorker  # noqa: E402
from annotation.models.suggestions import Suggestion, SuggestionMethod  # noqa: E402
from annotation.models.workflow import AnnotationRevision, Assignment, Flag  # noqa: E402

__all__ = [
    "ACTIVE_STATUSES",
    "Annotation",
    "AnnotationRevision",
    "Assignment",
    "BackgroundRun",
    "Candidate",
    "Dataset",
    "ExportRun",
    "FinishReason",
    "Flag",
    "ImportRun",
    "Item",
    "Membership",
    "PreferenceLabel",
    "PrincipleRating",
    "Project",
    "ProjectKind",
    "ProjectStat",
    "Provenance",
    "Role",
    "Routing",
    "RunStatus",
    "StatsRefresh",
    "Step",
    "StepLabel",
    "StudyLink",
    "StudyWorker",
    "Suggestion",
    "SuggestionMethod",
    "Turn",
    "TurnLabel",
    "User",
    "WorkerHeartbeat",
]
