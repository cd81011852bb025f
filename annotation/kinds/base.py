"""What every label kind provides (`LabelKind`), and the pieces kinds share.

A label payload is a plain dict, the same from the browser form and from REST. A kind's
`validate` turns it into the kind's *normal form* (`Labels`), which is what its label rows are
written from, what each AnnotationRevision archives and what `read` gives back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from annotation.errors import ApplicationError

if TYPE_CHECKING:
    from django.db.models import Model
    from django.http import QueryDict

    from annotation.aggregation import FinalLabel
    from annotation.agreement import Level
    from annotation.models import Annotation, Item, Project, ProjectKind, Suggestion

Labels = dict[str, Any]
Schema = dict[str, Any]
# Model suggestions of one item by target ("item", "step:3", "turn:5"), newest first.
Suggestions = Mapping[str, Sequence["Suggestion"]]


@dataclass(frozen=True, slots=True)
class ItemPart:
    """A step, turn or candidate of an item as validation and writing need it."""

    id: int
    speaker: str = ""


# index -> part, for the parts a kind labels (steps, turns or candidates).
Parts = dict[int, ItemPart]


@dataclass(frozen=True, slots=True)
class KindTemplates:
    """The kind's templates: `form` is included in the labeling, edit and adjudication forms
    (with `task` and `mode_name` in its context); `keymap` lists the kind's keys; `review`,
    when set, is included on the review page after the comparison table (with `extra`, the
    kind's `review_context`)."""

    form: str
    keymap: str
    review: str = ""
    # Included on the review page above the comparison table (the same `extra` context).
    review_head: str = ""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One label field that agreement is computed on (the `key` names it)."""

    key: str
    label: str
    level: Level
    # Ordered numeric domain; for string codes, `codes[i]` is the code of value i.
    domain: tuple[float, ...] | None = None
    codes: tuple[str, ...] | None = None
    kappa_weights: Literal["linear", "quadratic"] | None = None
    # The first-error index also reports exact and ±1 agreement.
    first_error: bool = False


@dataclass(frozen=True, slots=True)
class SchemaOrphan:
    """Labels a schema change would orphan: `what` disappears, `annotations` use it."""

    what: str
    annotations: int


@dataclass(frozen=True, slots=True)
class Prefill:
    """A model's pre-label of one part, as verify-the-model mode shows it for confirmation:
    the value, the model's probability of that value (None when it gave none) and the
    suggestion method it came from."""

    value: int
    confidence: float | None
    method: str


# --- presentation: what the labeling form and the review table show ------------------------


@dataclass
class Choice:
    value: Any
    label: str
    key: str = ""
    checked: bool = False
    help: str = ""


@dataclass
class FieldRow:
    name: str
    label: str
    input_name: str
    choices: list[Choice]
    source: tuple[str, str] | None = None


@dataclass
class Part:
    """A step, turn or candidate as the template shows it."""

    index: int
    number: int
    html: Any
    speaker: str = ""
    hints: list[str] = field(default_factory=list)
    fields: list[FieldRow] = field(default_factory=list)
    rating: int | None = None
    cant_judge: bool = False
    comment: str = ""
    highlight: bool = False
    side: str = ""
    # Where a pre-filled value came from (review), and its css class.
    source: tuple[str, str] | None = None
    # Long enough to be shown collapsed to a few lines, with "show all".
    long: bool = False
    # Verify-the-model mode: the model's pre-label shown for this part, and whether the
    # annotator ticked it as confirmed.
    prefill: Prefill | None = None
    prefill_text: str = ""
    confirmed: bool = False


@dataclass
class Cell:
    text: str = ""
    css: str = ""
    title: str = ""
    disagree: bool = False
    # A short label shown before the text (whose screen side a justification speaks of).
    tag: str = ""


@dataclass
class Column:
    key: Any
    label: str
    title: str = ""
    disagree: bool = False


@dataclass
class ReviewLayout:
    """The columns of an item's comparison table: one per label unit, then `extra` ones
    (first error and finish, or the justification)."""

    columns: list[Column]
    extra: list[str] = field(default_factory=list)
    # Show the extra cells on a line of their own under each row (long text: a
    # justification) instead of as columns.
    extra_below: bool = False


@dataclass
class ReviewCells:
    cells: list[Cell]
    extra: list[Cell] = field(default_factory=list)
    # Compared between annotators to mark the first extra column as a disagreement (the
    # first-error index); None for kinds without one.
    extra_key: Any = None
    # How the annotator saw the item, when reading their labels depends on it ("#2 on the
    # left"); shown under their name.
    screen: str = ""


SUGGESTION_SHORT = {
    "judge": "judge",
    "verify": "P(correct)",
    "mc": "MC value",
    "first_error_search": "first-error search",
    "consensus": "consensus",
    "pair_judge": "pair judge",
    "turn_coder": "model code",
    "prm": "PRM P(correct)",
}
# Item-level suggestions of the step methods carry a first-error index as their label.
ITEM_HINT_NAME = {"judge": "judge", "verify": "verifier", "mc": "MC", "consensus": "consensus",
                  "first_error_search": "search", "prm": "PRM"}  # fmt: skip


def humanize(name: str) -> str:
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def hint_text(s: Suggestion) -> str:
    name = SUGGESTION_SHORT.get(s.method, s.method)
    if s.target == "item" and s.method in ITEM_HINT_NAME:
        if s.label.lstrip("-").isdigit():
            fe = int(s.label)
            verdict = "no error" if fe == -1 else f"first error at step {fe + 1}"
            return f"{ITEM_HINT_NAME[s.method]}: {verdict}"
        return f"{ITEM_HINT_NAME[s.method]}: no verdict"
    if s.target.startswith("step:") and s.score is not None:
        return f"{name}: {s.score:.2f}"
    if s.label and s.score is not None:
        return f"{name}: {s.label} ({s.score:.2f})"
    if s.label:
        return f"{name}: {s.label}"
    if s.score is not None:
        return f"{name}: {s.score:.2f}"
    return name


def hints(suggestions: Suggestions, target: str) -> list[str]:
    """The newest suggestion per method for one target, as short texts."""
    seen: set[str] = set()
    out = []
    for s in suggestions.get(target, []):
        if s.method in seen:
            continue
        seen.add(s.method)
        out.append(hint_text(s))
    return out


def provenance_text(final: FinalLabel) -> tuple[str, str]:
    """(text, css class) saying where a pre-filled value of the final-label form came from."""
    source = final.source.removesuffix("+consensus")
    n = final.n_votes
    if source == "dawid_skene":
        return f"Dawid–Skene {final.confidence:.0%} of {n}", "prov-ds"
    if source == "single":
        return "one annotator", "prov-single"
    if source == "majority":
        agree = round(final.confidence * n)
        if agree == n:
            return f"all {n} agree", "prov-agree"
        if agree * 2 <= n:
            return f"tie {agree}/{n}: check", "prov-tie"
        return f"majority {agree}/{n}", "prov-majority"
    return source.replace("_", " "), "prov-other"


# --- validation helpers ------------------------------------------------------------------


def invalid(field: str, message: str, *, code: str = "invalid") -> ApplicationError:
    return ApplicationError(message, code=code, field=field)


def check_name(value: Any, field: str, *, max_length: int = 64) -> str:
    """A code or name stored in a label row: a non-empty string of at most `max_length`."""
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise invalid(field, f"must be a non-empty text of at most {max_length} characters")
    return value


def check_labels(value: Any, field: str, *, keys: set[str], max_length: int = 200) -> None:
    """An optional {code: display text} map over known codes."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise invalid(field, "must be an object of display names")
    for key, text in value.items():
        if key not in keys:
            raise invalid(f"{field}.{key}", "names no value of this field")
        if not isinstance(text, str) or len(text) > max_length:
            raise invalid(f"{field}.{key}", f"must be a text of at most {max_length} characters")


def as_int(value: Any, field: str) -> int:
    """An integer from an int or a numeric string (form posts are strings); bools refused."""
    if isinstance(value, bool):
        raise invalid(field, "must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(field, f"must be an integer, got {value!r}") from None


# --- the protocol ------------------------------------------------------------------------


class LabelKind(ABC):
    """One project kind's whole labeling path. See `annotation.kinds` for what a new kind
    must provide; the methods below are called by services, selectors and views, which never
    look at `project.kind` themselves."""

    kind: ClassVar[ProjectKind]
    # The item's parts that are labeled (a relation of Item: "steps", "turns", "candidates"),
    # how many an importable item needs at least, and the import error when it has fewer.
    part_name: ClassVar[str]
    min_parts: ClassVar[int] = 1
    missing_parts_message: ClassVar[str]
    # The Item relations the labeling page and the annotator's API show, prefetched.
    shown_parts: ClassVar[tuple[str, ...]]
    templates: ClassVar[KindTemplates]
    # Distressing content is possible: a content note before the first item of a session.
    content_note: ClassVar[bool] = False
    # Items compare two candidates: each assignment draws the pair and its screen sides.
    compares_pairs: ClassVar[bool] = False
    # Imports may cut the labeled parts out of one block of text (the `split` option of
    # annotation.importers.split): the upload form offers it.
    splits_text: ClassVar[bool] = False
    default_schema: ClassVar[Schema]
    # One paragraph for the schema editor: the keys of this kind's schema and what they mean.
    schema_help: ClassVar[str] = ""
    # The kind's demo project: slug, name, overlap, instructions, and the native JSONL file
    # (under annotation/demo) and dataset name its items come from.
    demo: ClassVar[dict[str, Any]]

    # --- schema ---------------------------------------------------------------------------

    @abstractmethod
    def schema_check(self, schema: Schema) -> None:
        """Raise ApplicationError (field `label_schema.<name>`) unless the merged schema is
        usable by this kind."""

    def schema_orphans(self, *, project: Project, old: Schema, new: Schema) -> list[SchemaOrphan]:
        """What changing the project's schema from `old` to `new` (both checked) would take
        away from labels already written: values, fields or principles that disappear and
        how many annotations use each. Empty when nothing labeled is lost (the default: a kind
        whose label values the schema cannot remove)."""
        return []

    # --- labels ---------------------------------------------------------------------------

    @abstractmethod
    def parts(self, *, item_id: int) -> Parts:
        """The item's labeled parts by index (one query)."""

    @abstractmethod
    def validate(
        self, *, schema: Schema, parts: Parts, payload: Mapping[str, Any], gold: bool = False
    ) -> Labels:
        """Check a payload against the schema and the item's parts; returns the normal form.

        Raises ApplicationError naming the field (`steps[2].rating`). `gold=True` checks a
        known answer: the same rules for every value, but none of the duties that make an
        annotator finish the form (rate every step, write a justification)."""

    def annotation_fields(self, labels: Labels) -> dict[str, Any]:
        """Columns of the Annotation row that carry part of the labels."""
        return {}

    @abstractmethod
    def write(
        self,
        *,
        annotation: Annotation,
        labels: Labels,
        parts: Parts,
        replace: bool,
        left_candidate_id: int | None = None,
    ) -> None:
        """Write the label rows of `annotation` from validated `labels`; with `replace`,
        first delete the rows of its previous state (an edit). `left_candidate_id` is the
        candidate shown on the left (pair kinds)."""

    def write_rows(self, model: type[Model], *, annotation: Annotation, labels: Labels,
                   parts: Parts, replace: bool) -> None:  # fmt: skip
        """`write` for kinds whose `label_rows` are all one `model`'s; `replace` deletes first."""
        if replace:
            model._default_manager.filter(annotation=annotation).delete()
        rows = list(self.label_rows(labels=labels, parts=parts) or ())
        for row in rows:
            row.annotation = annotation  # type: ignore[attr-defined]
        model._default_manager.bulk_create(rows)

    def label_rows(
        self, *, labels: Labels, parts: Parts, left_candidate_id: int | None = None
    ) -> Sequence[Model] | None:
        """The label rows `write` inserts for `labels` (unsaved, without their annotation),
        so a first submit can insert them in the same statement as the annotation (see
        `annotation.services.annotations`). None: this kind has no such list; its submit
        takes the general path through `write`."""
        return None

    @abstractmethod
    def read(self, annotation: Annotation) -> Labels:
        """The labels of an annotation rebuilt from its rows (imported and gold annotations
        have no revisions)."""

    # --- the labeling form ------------------------------------------------------------------

    @abstractmethod
    def parse_form(
        self, *, post: QueryDict, left_index: int | None, right_index: int | None
    ) -> dict[str, Any]:
        """The labeling form's POST as a payload; values are passed on as given (validate
        checks them)."""

    @abstractmethod
    def page_context(
        self,
        *,
        item: Item,
        schema: Schema,
        labels: Labels,
        suggestions: Suggestions,
        left_index: int | None,
        right_index: int | None,
    ) -> dict[str, Any]:
        """What the kind's form template shows for one item, `labels` pre-filled."""

    # --- verify-the-model mode (project.prefill) ---------------------------------------------

    def prefill(self, *, item_id: int, schema: Schema) -> dict[int, Prefill]:
        """The newest model pre-label of each part, by part index, to pre-fill the form with;
        empty for kinds (or schema modes) that are never pre-filled."""
        return {}

    def prefill_of_annotation(self, annotation: Annotation) -> dict[int, Prefill]:
        """The pre-labels an annotation was submitted against (kept on its label rows), so
        that an edit keeps their provenance."""
        return {}

    def prefill_apply(
        self, *, labels: Labels, prefill: Mapping[int, Prefill], require_confirmation: bool
    ) -> Labels:
        """Mark each part of validated `labels` with where its value came from (human, model
        confirmed, model changed). With `require_confirmation`, raise ApplicationError unless
        every pre-filled part was confirmed or changed."""
        return labels

    def prefill_page(self, *, context: dict[str, Any], prefill: Mapping[int, Prefill]) -> None:
        """Show `prefill` in a `page_context` built without labels: the model's values
        pre-selected and marked as the model's."""
        return None

    # --- review ---------------------------------------------------------------------------

    @abstractmethod
    def review_layout(self, *, item: Item, schema: Schema) -> ReviewLayout: ...

    @abstractmethod
    def review_cells(
        self,
        *,
        labels: Labels,
        layout: ReviewLayout,
        item: Item,
        annotation: Annotation | None = None,
    ) -> ReviewCells:
        """One row of the comparison table: a cell per column of `layout`; `annotation` (with
        its label rows prefetched) when the row is one, for what the labels alone do not say
        (which candidate the annotator saw on the left)."""

    def review_context(self, *, item: Item) -> dict[str, Any]:
        """What the kind's `templates.review` shows of the item on the review page."""
        return {}

    def prefill_votes(
        self, *, labels: Labels, item: Item, specs: Mapping[str, FieldSpec]
    ) -> dict[tuple[str, Any], float]:
        """One annotator's labels as votes for the review form's starting point:
        (agreement field key, unit of the form) -> a value of that field (`specs` by key).
        A kind without it starts the final-label form blank."""
        return {}

    def prefill_labels(
        self,
        *,
        finals: Mapping[tuple[str, Any], FinalLabel],
        item: Item,
        schema: Schema,
        specs: Mapping[str, FieldSpec],
    ) -> Labels:
        """The final-label form's labels from the aggregated votes (`finals`, keyed as
        `prefill_votes` keys them), plus "provenance": {form target: the FinalLabel it came
        from}; the kind's `page_context` shows each target's provenance next to it."""
        return {}

    @abstractmethod
    def review_targets(self, layout: ReviewLayout) -> list[str]:
        """The suggestion target shown in each column ("" for none)."""

    @abstractmethod
    def review_signature(self, *, schema: Schema, annotation: Annotation) -> Any:
        """What two annotators must share to agree on an item (from prefetched rows)."""

    # --- agreement and statistics ---------------------------------------------------------

    @abstractmethod
    def agreement_fields(self, *, project: Project) -> list[FieldSpec]:
        """The label fields agreement is computed on, in the order the dashboard shows them."""

    @abstractmethod
    def gold_field(self, key: str) -> bool:
        """Whether annotator accuracy compares the field `key` with the gold answers."""
