"""Preference pairs: which of two candidate responses is better, by how much, and optional
ratings under principles (per response, or per pair), with a justification.

Normal form: {"candidate_a", "candidate_b", "strength", "principles": [{"principle",
"candidate", "value"}], "justification"}. `strength` is relative to the candidates (-3: a
much better .. +3: b much better), never to the screen side; `candidate` fields are candidate
indexes within the item. Labels read back from rows carry every stored pair in "pairs" (an
imported annotation may hold several) and the top-level pair only when there is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

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
    SchemaOrphan,
    Suggestions,
    as_int,
    invalid,
)
from annotation.kinds.preference_form import (
    context_turns,
    excerpt,
    identity_strength,
    left_index_of,
    principle_rows,
)
from annotation.kinds.preference_prefill import PreferenceReviewPrefill
from annotation.kinds.preference_schema import (
    COUNSELING_PRINCIPLES,
    PRINCIPLE_KEY,
    PRINCIPLE_MODES,
    STRENGTH_LABELS,
    PrincipleSpec,
    preference_schema_check,
    preference_schema_orphans,
    principle_label,
    principle_names,
    principle_specs,
)
from annotation.models import Candidate, PreferenceLabel, PrincipleRating, ProjectKind
from annotation.web.rendering import rich_text

if TYPE_CHECKING:
    from django.db.models import Model
    from django.http import QueryDict

    from annotation.models import Annotation, Item, Project


class PreferencePairs(PreferenceReviewPrefill, LabelKind):
    kind = ProjectKind.PREFERENCE
    part_name = "candidates"
    min_parts = 2
    missing_parts_message = "a preference item needs at least two candidates"
    # The context of a preference item may be a dialogue.
    shown_parts = ("candidates", "turns")
    templates = KindTemplates(
        form="web/kinds/preference.html",
        keymap="web/kinds/preference_keys.html",
        review_head="web/kinds/preference_review.html",
    )
    content_note = True
    compares_pairs = True
    schema_help = (
        '"principles": names rated under each response (per_response) or for the pair '
        '(per_pair, -3..+3), each a name or {"name", "required", "label", "description"}, '
        'with optional "principle_labels" {name: {"label", "help"}}; "principle_scale": '
        "[low, high] of per-response ratings; the preference strength is always -3..+3; "
        '"justification_required" and "justification_min_length".'
    )
    default_schema: ClassVar[Schema] = {
        "strength_min": -3,
        "strength_max": 3,
        "principles": COUNSELING_PRINCIPLES,
        "principle_mode": "per_response",
        "principle_scale": [1, 5],
        "justification_required": True,
        "justification_min_length": 20,
    }

    # The demo project of this kind (annotation.services.demo), data in annotation/demo.
    demo: ClassVar[dict[str, Any]] = {
        "slug": "demo-counseling-preference",
        "name": "Demo: counseling response preference",
        "overlap": 2,
        "file": "counseling_preferences.jsonl",
        "dataset": "Demo counseling responses",
        "instructions": (
            "Read the client's message, then compare the two therapist responses. Choose how much "
            "better one is (-3..+3), rate each response under every principle, and justify your "
            "choice in a sentence or two naming the responses.\n\n"
            "*Content note: some messages mention distress or self-harm.*"
        ),
    }

    def schema_check(self, schema: Schema) -> None:
        preference_schema_check(schema, PRINCIPLE_MODES)

    def schema_orphans(self, *, project: Project, old: Schema, new: Schema) -> list[SchemaOrphan]:
        return preference_schema_orphans(project=project, old=old, new=new)

    # --- labels ---------------------------------------------------------------------------

    def parts(self, *, item_id: int) -> Parts:
        rows = Candidate.objects.filter(item_id=item_id).values_list("index", "id")
        return {i: ItemPart(pk) for i, pk in rows}

    def validate(
        self, *, schema: Schema, parts: Parts, payload: Mapping[str, Any], gold: bool = False
    ) -> Labels:
        n = len(parts)
        a = as_int(payload.get("candidate_a", 0), "candidate_a")
        b = as_int(payload.get("candidate_b", 1), "candidate_b")
        if not (0 <= a < n and 0 <= b < n) or a == b:
            raise invalid("candidate_a", f"a and b must be two different candidates below {n}")
        strength = as_int(payload.get("strength"), "strength")
        if not -3 <= strength <= 3:
            raise invalid("strength", "must be between -3 and +3")
        principles = []
        specs = principle_specs(schema)
        names = {p.name for p in specs}
        per_response = schema.get("principle_mode", "per_response") == "per_response"
        lo, hi = schema.get("principle_scale", [1, 5]) if per_response else (-3, 3)
        for i, raw in enumerate(payload.get("principles") or []):
            if not isinstance(raw, dict):
                raise invalid(f"principles[{i}]", "must be an object")
            name = str(raw.get("principle") or "")
            if name not in names:
                raise invalid(f"principles[{i}].principle", f"unknown principle {name!r}")
            value = as_int(raw.get("value"), f"principles[{i}].value")
            if not lo <= value <= hi:
                raise invalid(f"principles[{i}].value", f"must be between {lo} and {hi}")
            cand = raw.get("candidate")
            if per_response:
                cand = as_int(cand, f"principles[{i}].candidate")
                if cand not in (a, b):
                    raise invalid(f"principles[{i}].candidate", f"must be candidate {a} or {b}")
            else:
                cand = None
            principles.append({"principle": name, "candidate": cand, "value": value})
        if not gold:
            self._check_required(specs, principles, (a, b) if per_response else (None,))
        justification = str(payload.get("justification") or "").strip()
        if schema.get("justification_required") and not gold:
            need = int(schema.get("justification_min_length") or 1)
            if len(justification) < need:
                raise invalid("justification", f"required, at least {need} characters")
        return {
            "candidate_a": a,
            "candidate_b": b,
            "strength": strength,
            "principles": principles,
            "justification": justification,
        }

    @staticmethod
    def _check_required(
        specs: list[PrincipleSpec], given: list[dict[str, Any]], targets: tuple[int | None, ...]
    ) -> None:
        """Every required principle rated for each target (both candidates, or the pair)."""
        rated = {(p["principle"], p["candidate"]) for p in given}
        for spec in specs:
            if spec.required and any((spec.name, t) not in rated for t in targets):
                what = "for both responses" if len(targets) > 1 else ""
                raise invalid(
                    f"principles.{spec.name}",
                    f"{spec.label} is required: rate it {what}".strip(),
                    code="required",
                )

    def annotation_fields(self, labels: Labels) -> dict[str, Any]:
        return {"justification": labels["justification"]}

    def write(
        self,
        *,
        annotation: Annotation,
        labels: Labels,
        parts: Parts,
        replace: bool,
        left_candidate_id: int | None = None,
    ) -> None:
        if replace:
            left_candidate_id = (
                PreferenceLabel.objects.filter(annotation=annotation)
                .values_list("left_candidate_id", flat=True)
                .first()
            )
            PreferenceLabel.objects.filter(annotation=annotation).delete()
            PrincipleRating.objects.filter(annotation=annotation).delete()
        pref, *principles = self._rows(labels, parts, left_candidate_id)
        pref.annotation = annotation
        pref.save()
        for row in principles:
            row.annotation = annotation
        PrincipleRating.objects.bulk_create(principles)

    def label_rows(
        self, *, labels: Labels, parts: Parts, left_candidate_id: int | None = None
    ) -> list[Model]:
        """The preference row, then one row per principle rating."""
        pref, *principles = self._rows(labels, parts, left_candidate_id)
        return [pref, *principles]

    @staticmethod
    def _rows(
        labels: Labels, parts: Parts, left_candidate_id: int | None
    ) -> tuple[PreferenceLabel, *tuple[PrincipleRating, ...]]:
        pref = PreferenceLabel(
            candidate_a_id=parts[labels["candidate_a"]].id,
            candidate_b_id=parts[labels["candidate_b"]].id,
            strength=labels["strength"],
            left_candidate_id=left_candidate_id,
        )
        principles = [
            PrincipleRating(
                principle=p["principle"],
                candidate_id=parts[p["candidate"]].id if p["candidate"] is not None else None,
                value=p["value"],
            )
            for p in labels["principles"]
        ]
        return (pref, *principles)

    def read(self, annotation: Annotation) -> Labels:
        prefs = list(annotation.preference_labels.select_related("candidate_a", "candidate_b"))
        out: Labels = {"pairs": [
            {"candidate_a": p.candidate_a.index, "candidate_b": p.candidate_b.index,
             "strength": p.strength, "margin": p.margin}
            for p in prefs
        ]}  # fmt: skip
        if len(prefs) == 1:
            out.update(candidate_a=prefs[0].candidate_a.index,
                       candidate_b=prefs[0].candidate_b.index, strength=prefs[0].strength)  # fmt: skip
        out["principles"] = [
            {
                "principle": r.principle,
                "candidate": r.candidate.index if r.candidate else None,
                "value": r.value,
            }
            for r in annotation.principle_ratings.select_related("candidate")
        ]
        out["justification"] = annotation.justification
        return out

    # --- the labeling form ------------------------------------------------------------------

    def parse_form(
        self, *, post: QueryDict, left_index: int | None, right_index: int | None
    ) -> dict[str, Any]:
        """The screen's strength (-3 = left much better) becomes candidate-relative by naming
        the left candidate `candidate_a` and the right one `candidate_b`, so the sign carries
        over unchanged."""
        principles = []
        side_index = {"left": left_index, "right": right_index, "pair": None}
        for key in post:
            m = PRINCIPLE_KEY.match(key)
            if m and post.get(key) not in (None, ""):
                principles.append(
                    {"principle": m.group(1), "candidate": side_index[m.group(2)],
                     "value": post[key]}
                )  # fmt: skip
        return {
            "candidate_a": left_index,
            "candidate_b": right_index,
            "strength": post.get("strength"),
            "principles": principles,
            "justification": post.get("justification", ""),
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
        cands = {c.index: c for c in item.candidates.all()}
        if left_index is None or right_index is None:
            left_index, right_index = (sorted(cands) + [None, None])[:2]
        # Turn the stored candidate-relative label back to screen sides (edits, adjudication).
        flipped = labels.get("candidate_a") == right_index
        strength = labels.get("strength")
        if strength is not None and flipped:
            strength = -strength
        per_response = schema["principle_mode"] == "per_response"
        lo, hi = schema["principle_scale"] if per_response else (-3, 3)
        provenance = labels.get("provenance") or {}
        # The review form names candidates (#1, #2) as the review table does.
        ln = left_index + 1 if left_index is not None else 1
        rn = right_index + 1 if right_index is not None else 2

        def cand(index: int | None, side: str) -> Part | None:
            c = cands.get(index) if index is not None else None
            if c is None:
                return None
            return Part(index=c.index, number=c.index + 1, html=rich_text(c.text), side=side)

        required = bool(schema.get("justification_required"))
        return {
            "item_hints": [],
            "context_turns": context_turns(item),
            "left": cand(left_index, "left"),
            "right": cand(right_index, "right"),
            "strengths": [
                Choice(
                    value=v,
                    label=STRENGTH_LABELS[v],
                    key=str(v + 4),
                    checked=v == strength,
                    help=identity_strength(v, ln, rn),
                )
                for v in range(-3, 4)
            ],  # fmt: skip
            "strength_source": provenance.get("strength"),
            "identity": {"left": f"#{ln}", "right": f"#{rn}"},
            "principles": principle_rows(
                schema,
                labels,
                {left_index: "left", right_index: "right"},
                flipped,
                (lo, hi),
                provenance,
            ),
            "principles_required": sum(1 for p in principle_specs(schema) if p.required),
            "per_response": per_response,
            "principle_scale": (lo, hi),
            "justification": labels.get("justification", ""),
            "justification_required": required,
            "justification_min": int(schema.get("justification_min_length") or 0)
            if required
            else 0,
        }

    # --- review ---------------------------------------------------------------------------

    def review_layout(self, *, item: Item, schema: Schema) -> ReviewLayout:
        columns = [Column("pref", "Preference")]
        columns += [Column(p.name, p.label, p.help) for p in principle_specs(schema)]
        return ReviewLayout(columns, ["Justification"], extra_below=True)

    def review_cells(
        self,
        *,
        labels: Labels,
        layout: ReviewLayout,
        item: Item,
        annotation: Annotation | None = None,
    ) -> ReviewCells:
        principles = [c.key for c in layout.columns[1:]]
        numbers = {c.index: c.index + 1 for c in item.candidates.all()}
        a, b, strength = (
            labels.get("candidate_a"),
            labels.get("candidate_b"),
            labels.get("strength"),
        )
        if strength is None or a is None or b is None:
            return ReviewCells([Cell("—")] + [Cell("") for _ in principles])
        better, worse = (a, b) if strength < 0 else (b, a)
        if strength == 0:
            text = f"#{numbers.get(a, a + 1)} = #{numbers.get(b, b + 1)}"
        else:
            sign = "≫" if abs(strength) == 3 else ">"
            text = f"#{numbers.get(better, better + 1)} {sign} #{numbers.get(worse, worse + 1)}"
        cells = [Cell(f"{text} ({abs(strength)})", "pref")]
        by_name: dict[str, list[str]] = {}
        for p in labels.get("principles", []):
            c = p.get("candidate")
            prefix = f"#{numbers.get(c, c + 1)}: " if c is not None else ""
            by_name.setdefault(p["principle"], []).append(f"{prefix}{p['value']}")
        cells += [Cell(" · ".join(by_name.get(name, [])) or "") for name in principles]
        screen = ""
        justification = Cell(labels.get("justification", ""))
        left = left_index_of(annotation, item)
        if left is not None:
            right = next((i for i in (a, b) if i != left), None)
            screen = f"saw #{left + 1} on the left"
            if right is not None:
                # Their "left"/"right" in the justification mean these candidates.
                justification.tag = f"left = #{left + 1} · right = #{right + 1}"
        return ReviewCells(cells, [justification], screen=screen)

    def review_context(self, *, item: Item) -> dict[str, Any]:
        """The candidates by identity (#1, #2) with a short excerpt, for the review page."""
        return {
            "candidates": [
                {"number": c.index + 1, "excerpt": excerpt(c.text)} for c in item.candidates.all()
            ]
        }

    def review_targets(self, layout: ReviewLayout) -> list[str]:
        return ["item"] + [""] * (len(layout.columns) - 1)

    def review_signature(self, *, schema: Schema, annotation: Annotation) -> Any:
        prefs = list(annotation.preference_labels.all())
        if not prefs:
            return None
        p = prefs[0]
        # Preference direction, normalised to a fixed candidate order.
        sign = (p.strength > 0) - (p.strength < 0)
        if p.candidate_a_id > p.candidate_b_id:
            sign = -sign
        return sign

    # --- agreement ------------------------------------------------------------------------

    def agreement_fields(self, *, project: Project) -> list[FieldSpec]:
        schema = project.label_schema or {}
        principles: list[str] = principle_names(schema)
        seen = set(
            PrincipleRating.objects.filter(annotation__item__project=project)
            .values_list("principle", flat=True)
            .distinct()
        )
        principles += sorted(seen - set(principles))
        label_of = {spec.name: spec.label for spec in principle_specs(schema)}
        lo, hi = (schema.get("principle_scale") or [1, 5])[:2]
        per_pair = schema.get("principle_mode") == "per_pair"
        scale = tuple(float(v) for v in (range(-3, 4) if per_pair else range(int(lo), int(hi) + 1)))
        out = [
            FieldSpec("preference_direction", "Preference direction", "nominal", (-1.0, 0.0, 1.0)),
            FieldSpec("preference_strength", "Preference strength (−3..+3)", "ordinal",
                      tuple(float(v) for v in range(-3, 4)), kappa_weights="quadratic"),
        ]  # fmt: skip
        out += [
            FieldSpec(f"principle:{p}", f"Principle: {label_of.get(p) or principle_label(p)}",
                      "ordinal", scale,
                      kappa_weights="quadratic")
            for p in principles
        ]  # fmt: skip
        return out

    def gold_field(self, key: str) -> bool:
        return key == "preference_direction"
