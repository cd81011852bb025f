"""Step labels: a reasoning trace rated step by step (−1 wrong, 0 neutral, +1 right), or
marked at its first error (ProcessBench semantics).

Normal form: {"steps": [{"index", "rating", "cant_judge", "comment"}] (every step, in
order), "first_error_index": -1 | index | None, "finish_reason": str}.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import connection

from annotation.kinds.base import (
    Cell,
    Choice,
    Column,
    FieldSpec,
    ItemPart,
    KindTemplates,
    LabelKind,
    Labels,
    Part,
    Parts,
    ReviewCells,
    ReviewLayout,
    Schema,
    Suggestions,
    as_int,
    hints,
    invalid,
)
from annotation.kinds.steps_prefill import _STOPPED, RATING_TEXT, StepPrefill
from annotation.models import FinishReason, ProjectKind, Provenance, Step, StepLabel
from annotation.web.rendering import rich_text

if TYPE_CHECKING:
    from django.http import QueryDict

    from annotation.models import Annotation, Item, Project

STEP_MODES = ("rate_every_step", "first_error")
STEP_MODE_CHOICES = (
    ("rate_every_step", "Rate every step (−1 / 0 / +1)"),
    ("first_error", "First error (ProcessBench: mark the first wrong step)"),
)
RATING_CLASS = {-1: "r-wrong", 0: "r-neutral", 1: "r-right"}
# A step longer than this is shown collapsed to a few lines, with "show all".
LONG_STEP_CHARS = 600
LONG_STEP_LINES = 8
_STEP_KEY = re.compile(r"^(rating|cant|comment|confirm)-(\d+)$")
_PREFILL_KEYS = ("provenance", "model_value", "model_confidence", "model_method")


def _shown_rating(value: Any) -> tuple[str, str]:
    """(text, css class) of an imported rating; ("unrated", "") for null or anything else."""
    if isinstance(value, int) and not isinstance(value, bool) and value in RATING_TEXT:
        return RATING_TEXT[value], RATING_CLASS[value]
    return "unrated", ""


class StepLabels(StepPrefill, LabelKind):
    kind = ProjectKind.STEP_LABELS
    part_name = "steps"
    missing_parts_message = "a reasoning trace needs at least one step"
    shown_parts = ("steps",)
    splits_text = True
    templates = KindTemplates(
        form="web/kinds/steps.html",
        keymap="web/kinds/steps_keys.html",
        review="web/kinds/steps_review.html",
    )
    schema_help = (
        '"mode": rate_every_step or first_error (also on the Settings tab); "ratings": the '
        'values -1, 0 and 1 once each, with a display "name" and a "help" text shown on hover.'
    )
    default_schema: ClassVar[Schema] = {
        "mode": "rate_every_step",
        "ratings": [
            {"value": -1, "name": "wrong", "help": "Wrong, off-topic or a clear dead end."},
            {"value": 0, "name": "neutral", "help": "Valid but makes no progress."},
            {"value": 1, "name": "right", "help": "Correct and advances the solution."},
        ],
    }

    # The demo project of this kind (annotation.services.demo), data in annotation/demo.
    demo: ClassVar[dict[str, Any]] = {
        "slug": "demo-math-steps",
        "name": "Demo: grade-school math steps",
        "overlap": 2,
        "file": "math_traces.jsonl",
        "dataset": "Demo math traces",
        "instructions": (
            "Rate every step of the solution.\n\n"
            "* **+1 right**: correct, verifiable in about 30 seconds, and moves the solution forward.\n"
            "* **0 neutral**: correct but makes no progress.\n"
            "* **-1 wrong**: incorrect, off-topic, or a dead end.\n\n"
            "Finish with *found an error*, *solution is fine*, *bad problem* or *gave up*."
        ),
    }

    def schema_check(self, schema: Schema) -> None:
        if schema["mode"] not in STEP_MODES:
            raise invalid("label_schema.mode", f"must be one of {', '.join(STEP_MODES)}")
        if not isinstance(schema["ratings"], list):
            raise invalid("label_schema.ratings", "must be a list")
        values = [r.get("value") for r in schema["ratings"] if isinstance(r, dict)]
        # Sorted by repr: any JSON value may come in, and mixed types do not compare.
        if sorted(values, key=repr) != [-1, 0, 1] or len(values) != len(schema["ratings"]):
            raise invalid("label_schema.ratings", "must name the values -1, 0 and 1 once each")
        for i, r in enumerate(schema["ratings"]):
            for key in ("name", "help"):
                text = r.get(key, "")
                if not isinstance(text, str) or len(text) > 500:
                    raise invalid(
                        f"label_schema.ratings[{i}].{key}",
                        "must be a text of at most 500 characters",
                    )

    # --- labels ---------------------------------------------------------------------------

    def parts(self, *, item_id: int) -> Parts:
        # Plain SQL: every submit reads these.
        with connection.cursor() as cur:
            cur.execute(
                f'SELECT "index", id FROM {Step._meta.db_table} WHERE item_id = %s',  # noqa: S608
                [item_id],
            )
            return {i: ItemPart(pk) for i, pk in cur.fetchall()}

    def validate(
        self, *, schema: Schema, parts: Parts, payload: Mapping[str, Any], gold: bool = False
    ) -> Labels:
        n = len(parts)
        finish = payload.get("finish_reason") or ""
        if finish and finish not in FinishReason.values:
            raise invalid("finish_reason", f"must be one of {', '.join(FinishReason.values)}")
        fe_raw = payload.get("first_error_index")
        first_error = None if fe_raw in (None, "") else as_int(fe_raw, "first_error_index")
        if first_error is not None and not -1 <= first_error < n:
            raise invalid("first_error_index", f"must be -1 (no error) or a step index below {n}")
        given = self._given_steps(payload.get("steps"), n)
        stopped = finish in _STOPPED or gold
        if schema.get("mode", "rate_every_step") == "first_error" and (
            first_error is not None or not gold
        ):
            if first_error is None and not stopped:
                raise invalid("first_error_index", "mark the first wrong step, or -1 for no error")
            steps = [
                {"index": idx, "rating": _first_error_rating(first_error, idx),
                 "cant_judge": given.get(idx, {}).get("cant_judge", False),
                 "comment": given.get(idx, {}).get("comment", "")}
                for idx in range(n)
            ]  # fmt: skip
            if not finish:
                finish = FinishReason.SOLUTION if first_error == -1 else FinishReason.FOUND_ERROR
        else:
            steps = [
                given.get(idx, {"index": idx, "rating": None, "cant_judge": False, "comment": ""})
                for idx in range(n)
            ]
            missing = [s["index"] for s in steps if s["rating"] is None and not s["cant_judge"]]
            if missing and not stopped:
                raise invalid(
                    "steps",
                    "rate every step or mark it can't judge (missing: "
                    f"{', '.join(str(m + 1) for m in missing[:10])})",
                )
            if first_error is None:
                wrong = [s["index"] for s in steps if s["rating"] == -1]
                first_error = wrong[0] if wrong else (-1 if not missing else None)
            if not finish:
                finish = (
                    FinishReason.FOUND_ERROR
                    if first_error not in (None, -1)
                    else FinishReason.SOLUTION
                )
        if gold and first_error is None and all(s["rating"] is None for s in steps):
            raise invalid("labels", "a gold answer needs a first_error_index or step ratings")
        return {"steps": steps, "first_error_index": first_error, "finish_reason": finish}

    @staticmethod
    def _given_steps(raw_steps: Any, n: int) -> dict[int, dict[str, Any]]:
        given: dict[int, dict[str, Any]] = {}
        for i, raw in enumerate(raw_steps or []):
            if not isinstance(raw, dict):
                raise invalid(f"steps[{i}]", "must be an object")
            idx = as_int(raw.get("index"), f"steps[{i}].index")
            if not 0 <= idx < n:
                raise invalid(f"steps[{i}].index", f"must be below {n}")
            rating = raw.get("rating")
            rating = None if rating in (None, "") else as_int(rating, f"steps[{i}].rating")
            if rating is not None and rating not in (-1, 0, 1):
                raise invalid(f"steps[{i}].rating", "must be -1, 0 or 1")
            given[idx] = {
                "index": idx,
                "rating": rating,
                "cant_judge": bool(raw.get("cant_judge")),
                "comment": str(raw.get("comment") or "")[:5000],
            }
            if raw.get("confirmed") in (True, 1, "1", "true", "on"):
                # Only read by `prefill_apply`, which drops it from the normal form.
                given[idx]["confirmed"] = True
        return given

    def annotation_fields(self, labels: Labels) -> dict[str, Any]:
        return {
            "first_error_index": labels["first_error_index"],
            "finish_reason": labels["finish_reason"],
        }

    def write(
        self,
        *,
        annotation: Annotation,
        labels: Labels,
        parts: Parts,
        replace: bool,
        left_candidate_id: int | None = None,
    ) -> None:
        self.write_rows(
            StepLabel, annotation=annotation, labels=labels, parts=parts, replace=replace
        )

    def label_rows(
        self, *, labels: Labels, parts: Parts, left_candidate_id: int | None = None
    ) -> list[StepLabel]:
        return [
            StepLabel(
                step_id=parts[s["index"]].id,
                rating=s["rating"],
                cant_judge=s["cant_judge"],
                comment=s["comment"],
                provenance=s.get("provenance", Provenance.HUMAN),
                model_value=s.get("model_value"),
                model_confidence=s.get("model_confidence"),
                model_method=s.get("model_method", ""),
            )
            for s in labels["steps"]
        ]

    def read(self, annotation: Annotation) -> Labels:
        steps = [
            {
                "index": sl.step.index,
                "rating": sl.rating,
                "cant_judge": sl.cant_judge,
                "comment": sl.comment,
                **(
                    {k: getattr(sl, k) for k in _PREFILL_KEYS}
                    if sl.provenance != Provenance.HUMAN
                    else {}
                ),
            }
            for sl in annotation.step_labels.select_related("step").order_by("step__index")
        ]
        return {"steps": steps, "first_error_index": annotation.first_error_index,
                "finish_reason": annotation.finish_reason}  # fmt: skip

    # --- the labeling form ------------------------------------------------------------------

    def parse_form(
        self, *, post: QueryDict, left_index: int | None, right_index: int | None
    ) -> dict[str, Any]:
        steps: dict[int, dict[str, Any]] = {}
        for key in post:
            m = _STEP_KEY.match(key)
            if not m:
                continue
            what, idx = m.group(1), int(m.group(2))
            row = steps.setdefault(idx, {"index": idx})
            if what == "rating":
                row["rating"] = post.get(key) or None
            elif what == "confirm":
                row["confirmed"] = post.get(key) in ("1", "on", "true")
            elif what == "cant":
                row["cant_judge"] = post.get(key) in ("1", "on", "true")
            else:
                row["comment"] = post.get(key, "")
        return {
            "steps": [steps[i] for i in sorted(steps)],
            "first_error_index": post.get("first_error_index", ""),
            "finish_reason": post.get("finish_reason", ""),
        }

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
        given = {s["index"]: s for s in labels.get("steps", [])}
        provenance = labels.get("provenance") or {}
        steps = []
        for step in item.steps.all():
            mine = given.get(step.index, {})
            steps.append(
                Part(
                    index=step.index,
                    number=step.index + 1,
                    html=rich_text(step.text),
                    hints=hints(suggestions, f"step:{step.index}"),
                    rating=mine.get("rating"),
                    cant_judge=bool(mine.get("cant_judge")),
                    comment=mine.get("comment", ""),
                    source=provenance.get(f"step:{step.index}"),
                    long=len(step.text) > LONG_STEP_CHARS
                    or step.text.count("\n") >= LONG_STEP_LINES,
                )
            )
        by_value = {r["value"]: r for r in schema["ratings"]}
        keys = {-1: "1", 0: "2", 1: "3"}
        ratings = [
            Choice(
                value=v,
                label=f"{RATING_TEXT[v]} {by_value[v].get('name', '')}".strip(),
                key=keys[v],
                help=by_value[v].get("help", ""),
            )
            for v in (-1, 0, 1)
        ]
        finish = labels.get("finish_reason", "")
        return {
            "item_hints": hints(suggestions, "item"),
            "steps": steps,
            "mode": schema["mode"],
            "ratings": ratings,
            "first_error_index": labels.get("first_error_index"),
            "finish_reasons": [
                Choice(value=v, label=lab, checked=v == finish) for v, lab in FinishReason.choices
            ],
            "reference_answer": item.reference_answer,
            "final_answer": item.final_answer,
            "first_error_source": provenance.get("item"),
        }

    # --- review ---------------------------------------------------------------------------

    def review_layout(self, *, item: Item, schema: Schema) -> ReviewLayout:
        n = len(item.steps.all())
        columns = [Column(i, str(i + 1), f"Step {i + 1}") for i in range(n)]
        return ReviewLayout(columns, ["First error", "Finish"])

    def review_cells(
        self,
        *,
        labels: Labels,
        layout: ReviewLayout,
        item: Item,
        annotation: Annotation | None = None,
    ) -> ReviewCells:
        by_index = {s["index"]: s for s in labels.get("steps", [])}
        cells = []
        for i in range(len(layout.columns)):
            s = by_index.get(i, {})
            r = s.get("rating")
            text = RATING_TEXT.get(r, "?" if s.get("cant_judge") else "")
            cells.append(Cell(text, RATING_CLASS.get(r, "r-none"), s.get("comment", "")))
        fe = labels.get("first_error_index")
        fe_text = "—" if fe is None else ("none" if fe == -1 else f"step {fe + 1}")
        extra = [Cell(fe_text), Cell((labels.get("finish_reason") or "—").replace("_", " "))]
        return ReviewCells(cells, extra, extra_key=fe)

    def review_context(self, *, item: Item) -> dict[str, Any]:
        """Alternative steps rated at import (PRM800K keeps every rated completion that was
        not chosen in `metadata["alternatives"]`), grouped by step position."""
        alts = (item.metadata or {}).get("alternatives")
        if not isinstance(alts, list):
            return {}
        by_step: dict[int, list[dict[str, Any]]] = {}
        for alt in alts:
            if isinstance(alt, dict) and isinstance(alt.get("step"), int):
                by_step.setdefault(alt["step"], []).append(alt)
        groups = [
            {
                "step": step + 1,
                "options": [
                    {
                        "html": rich_text(str(a.get("text", ""))),
                        "rating": _shown_rating(a.get("rating"))[0],
                        "css": _shown_rating(a.get("rating"))[1],
                    }
                    for a in options
                ],
            }
            for step, options in sorted(by_step.items())
        ]
        return {"alternatives": groups} if groups else {}

    def review_targets(self, layout: ReviewLayout) -> list[str]:
        return [f"step:{c.key}" for c in layout.columns]

    def review_signature(self, *, schema: Schema, annotation: Annotation) -> Any:
        if schema.get("mode") == "first_error":
            return annotation.first_error_index
        return tuple(
            sl.rating for sl in sorted(annotation.step_labels.all(), key=lambda s: s.step_id)
        )

    # --- agreement ------------------------------------------------------------------------

    def agreement_fields(self, *, project: Project) -> list[FieldSpec]:
        return [
            FieldSpec("step_rating", "Step rating (−1/0/+1)", "ordinal", (-1.0, 0.0, 1.0),
                      kappa_weights="quadratic"),
            FieldSpec("step_correct", "Step correct (first-error semantics)", "nominal",
                      (0.0, 1.0)),
            FieldSpec("first_error_index", "First-error index", "nominal", first_error=True),
        ]  # fmt: skip

    def gold_field(self, key: str) -> bool:
        return key == "first_error_index"


def _first_error_rating(first_error: int | None, idx: int) -> int | None:
    """A step's rating under first-error labeling: right before the error, wrong at it, and
    unlabeled (not wrong) after it."""
    if first_error is None:
        return None
    if first_error == -1 or idx < first_error:
        return 1
    if idx == first_error:
        return -1
    return None
