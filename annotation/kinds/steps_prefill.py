"""The step kind's two kinds of pre-filled forms: the review's final label started from the
annotators' aggregate, and verify-the-model mode (the newest model pre-label of each step,
confirmed or changed by the annotator, with its provenance stored per step)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from annotation.kinds.base import SUGGESTION_SHORT, FieldSpec, Labels, Prefill, Schema, invalid
from annotation.models import FinishReason, Provenance, Suggestion

if TYPE_CHECKING:
    from annotation.aggregation import FinalLabel
    from annotation.models import Annotation, Item

RATING_TEXT = {-1: "−1", 0: "0", 1: "+1"}
# A step-level suggestion's label as a rating ("+"/"-" of the PRM and the verifier, the hard
# "1"/"0" of MC); others are read from the score at 0.5.
_LABEL_RATING = {"+": 1, "1": 1, "-": -1, "0": -1}
# An annotator who stops (a bad problem, giving up) need not label every step.
_STOPPED = (FinishReason.BAD_PROBLEM, FinishReason.GIVE_UP)


class StepPrefill:
    """Mixed into StepLabels (annotation.kinds.steps): its LabelKind prefill hooks."""

    # --- review: the final label's starting point -------------------------------------------

    def prefill_votes(
        self, *, labels: Labels, item: Item, specs: Mapping[str, FieldSpec]
    ) -> dict[tuple[str, Any], float]:
        votes: dict[tuple[str, Any], float] = {
            ("step_rating", s["index"]): float(s["rating"])
            for s in labels.get("steps", [])
            if s.get("rating") in (-1, 0, 1)
        }
        fe = labels.get("first_error_index")
        if isinstance(fe, int) and not isinstance(fe, bool):
            votes[("first_error_index", "item")] = float(fe)
        return votes

    def prefill_labels(
        self,
        *,
        finals: Mapping[tuple[str, Any], FinalLabel],
        item: Item,
        schema: Schema,
        specs: Mapping[str, FieldSpec],
    ) -> Labels:
        provenance: dict[str, FinalLabel] = {}
        if schema.get("mode") == "first_error":
            fe = finals.get(("first_error_index", "item"))
            if fe is None:
                return {}
            provenance["item"] = fe
            return {"first_error_index": int(fe.value), "provenance": provenance}
        steps = []
        for step in item.steps.all():
            final = finals.get(("step_rating", step.index))
            if final is not None:
                provenance[f"step:{step.index}"] = final
            steps.append(
                {"index": step.index, "rating": int(final.value) if final else None,
                 "cant_judge": False, "comment": ""}
            )  # fmt: skip
        return {"steps": steps, "provenance": provenance} if provenance else {}

    # --- verify-the-model mode ---------------------------------------------------------------

    def prefill(self, *, item_id: int, schema: Schema) -> dict[int, Prefill]:
        """The newest step-level suggestion of each step (the PRM's, the verifier's or MC's,
        whichever job ran last). First-error mode is never pre-filled: its one answer is not
        per step."""
        if schema.get("mode", "rate_every_step") != "rate_every_step":
            return {}
        rows = (
            Suggestion.objects.filter(item_id=item_id, step__isnull=False)
            .order_by("-job_id", "-id")
            .values_list("step__index", "method", "score", "label")
        )
        out: dict[int, Prefill] = {}
        for index, method, score, label in rows:
            if index in out:
                continue
            value = _LABEL_RATING.get(label)
            if value is None and score is not None:
                value = 1 if score >= 0.5 else -1
            if value is None:
                continue
            conf = None if score is None else (score if value == 1 else 1 - score)
            out[index] = Prefill(value=value, confidence=conf, method=method)
        return out

    def prefill_of_annotation(self, annotation: Annotation) -> dict[int, Prefill]:
        rows = annotation.step_labels.filter(model_value__isnull=False).values_list(
            "step__index", "model_value", "model_confidence", "model_method"
        )
        return {i: Prefill(v, c, m) for i, v, c, m in rows if v is not None}

    def prefill_apply(
        self, *, labels: Labels, prefill: Mapping[int, Prefill], require_confirmation: bool
    ) -> Labels:
        stopped = labels.get("finish_reason") in _STOPPED
        unconfirmed = []
        steps = []
        for given in labels["steps"]:
            step = {k: v for k, v in given.items() if k != "confirmed"}
            p = prefill.get(step["index"])
            if p is not None:
                changed = step["rating"] != p.value or step["cant_judge"]
                if changed:
                    step["provenance"] = Provenance.MODEL_CHANGED
                elif given.get("confirmed") or not require_confirmation:
                    step["provenance"] = Provenance.MODEL_CONFIRMED
                elif stopped:
                    # Stopped early: an unconfirmed pre-fill is not the annotator's label.
                    step["rating"], step["provenance"] = None, Provenance.HUMAN
                    p = None
                else:
                    unconfirmed.append(step["index"])
                if p is not None:
                    step.update(model_value=p.value, model_confidence=p.confidence,
                                model_method=p.method)  # fmt: skip
            steps.append(step)
        if unconfirmed and require_confirmation:
            raise invalid(
                "steps",
                "confirm or change the model's label of every pre-filled step (unconfirmed: "
                f"{', '.join(str(i + 1) for i in unconfirmed[:10])})",
                code="unconfirmed",
            )
        return {**labels, "steps": steps}

    def prefill_page(self, *, context: dict[str, Any], prefill: Mapping[int, Prefill]) -> None:
        if not prefill:
            return
        context["prefilled"] = True
        for part in context["steps"]:
            p = prefill.get(part.index)
            if p is None:
                continue
            part.prefill = p
            conf = "" if p.confidence is None else f", {p.confidence:.2f}"
            name = SUGGESTION_SHORT.get(p.method, p.method)
            part.prefill_text = f"Model ({name}{conf}): {RATING_TEXT[p.value]}"
            if part.rating is None and not part.cant_judge:
                part.rating = p.value
