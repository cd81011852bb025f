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
    # Gold items in the project, kept by the gold services: the task stream draws gold items
    # (at label_schema["gold_rate"]) only when there are some, without a query per claim.
    gold_count = models.PositiveIntegerField(default=0)
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
    priority = models.IntegerField(default=0)
    # Submitted human annotations so far and whether the item has its k: kept by the
    # submit service so the task stream never counts rows on a 100,000-item project.
    done_count = models.PositiveIntegerField(default=0, db_default=0)
    is_complete = models.BooleanField(default=False, db_default=False)
    # Gold items have a known answer (an annotation with source=gold) and feed annotator
    # accuracy; they look like any other item in the stream.
    is_gold = models.BooleanField(default=False, db_default=False)
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
            )
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


class RunStatus(models.TextChoices):
    """Lifecycle of a background run (imports, exports)."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class BackgroundRun(models.Model):
    """What import and export runs share: a status a task moves along, who started it, when."""

    Status = RunStatus

    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-id"]


class ImportRun(BackgroundRun):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_runs")
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="import_runs"
    )
    dataset_name = models.CharField(max_length=200)
    format = models.CharField(max_length=32)
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

    def __str__(self) -> str:
        return f"import {self.id} ({self.format}, {self.status})"


class WorkerHeartbeat(models.Model):
    """Last sign of life of each Celery worker (read by /healthz)."""

    hostname = models.CharField(max_length=255, unique=True)
    queues = models.CharField(max_length=255, blank=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return self.hostname


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

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
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
        Candidate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    right_candidate = models.ForeignKey(
        Candidate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    annotation = models.OneToOneField(
        Annotation, null=True, blank=True, on_delete=models.SET_NULL, related_name="assignment"
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

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="revisions")
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

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="flags")
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


class SuggestionMethod(models.TextChoices):
    JUDGE = "judge", "LLM judge (critique)"
    VERIFY = "verify", "LLM judge (verify, P(Yes))"
    MC = "mc", "Monte-Carlo rollouts"
    FIRST_ERROR_SEARCH = "first_error_search", "First-error search"
    CONSENSUS = "consensus", "Consensus"
    PAIR_JUDGE = "pair_judge", "Pair judge"
    TURN_CODER = "turn_coder", "Turn coder"


class Suggestion(models.Model):
    """A model's pre-label for an item or one of its steps, turns or candidates.

    `target` names the part ("item", "step:3", "turn:12", "candidate:1") so the unique key
    (job_id, item, method, target) lets a redelivered job chunk upsert instead of duplicating.
    `job_id` is the labeling_jobs.LabelingJob id, kept as a plain column so that this app
    does not depend on labeling_jobs.
    """

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="suggestions")
    step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.CASCADE, related_name="suggestions"
    )
    turn = models.ForeignKey(
        Turn, null=True, blank=True, on_delete=models.CASCADE, related_name="suggestions"
    )
    candidate = models.ForeignKey(
        Candidate, null=True, blank=True, on_delete=models.CASCADE, related_name="suggestions"
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


class ExportRun(BackgroundRun):
    """A training-data export written by a task to a deterministic folder under MEDIA_ROOT."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="export_runs")
    format = models.CharField(max_length=32)
    options = models.JSONField(default=dict, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    path = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"export {self.id} ({self.format}, {self.status})"


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
