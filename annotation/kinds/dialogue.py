"""Dialogue coding: each turn of a conversation gets a code per field of the label schema
(e.g. the therapist's behaviour, the client's talk type), for the fields of the turn's role.

Normal form: {"turns": [{"index", "field", "value"}]}, sorted by turn index then field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from annotation.kinds.base import (
    Cell,
    Choice,
    Column,
    FieldRow,
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
    check_labels,
    check_name,
    hints,
    humanize,
    invalid,
)
from annotation.models import ProjectKind, Turn, TurnLabel
from annotation.web.rendering import rich_text

if TYPE_CHECKING:
    from django.http import QueryDict

    from annotation.aggregation import FinalLabel
    from annotation.models import Annotation, Item, Project

_TURN_KEY = re.compile(r"^code-(\d+)-(.+)$")


class DialogueCoding(LabelKind):
    kind = ProjectKind.DIALOGUE_CODING
    part_name = "turns"
    missing_parts_message = "a dialogue needs at least one turn"
    shown_parts = ("turns",)
    templates = KindTemplates(form="web/kinds/dialogue.html", keymap="web/kinds/dialogue_keys.html")
    content_note = True
    schema_help = (
        '"fields": 1 to 20 fields, each with a "name" (stored), the speaker "role" whose turns it '
        'codes, 1 to 9 "choices" (stored codes), and optional display names: "label" for the '
        'field and "choice_labels" {code: name}. Codes in use cannot be removed; rename them '
        "with display names instead."
    )
    default_schema: ClassVar[Schema] = {
        "fields": [
            {
                "name": "main_therapist_behaviour",
                "role": "therapist",
                "choices": ["reflection", "question", "therapist_input", "other"],
            },
            {
                "name": "client_talk_type",
                "role": "client",
                "choices": ["change", "neutral", "sustain"],
            },
        ]
    }

    # The demo project of this kind (annotation.services.demo), data in annotation/demo.
    demo: ClassVar[dict[str, Any]] = {
        "slug": "demo-counseling-coding",
        "name": "Demo: counseling turn coding",
        "overlap": 2,
        "file": "counseling_dialogues.jsonl",
        "dataset": "Demo counseling dialogues",
        "instructions": (
            "Code each turn. Therapist turns: reflection, question, therapist input, other. "
            "Client turns: change talk, neutral, sustain talk (as in AnnoMI)."
        ),
    }

    def schema_check(self, schema: Schema) -> None:
        fields = schema["fields"]
        if not isinstance(fields, list) or not fields or len(fields) > 20:
            raise invalid("label_schema.fields", "must be a list of 1 to 20 fields")
        names = set()
        for i, f in enumerate(fields):
            where = f"label_schema.fields[{i}]"
            if not isinstance(f, dict) or not f.get("name") or not f.get("role"):
                raise invalid(where, "needs a name and a role")
            check_name(f["name"], f"{where}.name")
            check_name(f["role"], f"{where}.role")
            choices = f.get("choices")
            if not isinstance(choices, list) or not choices or len(choices) > 9:
                raise invalid(f"{where}.choices", "1 to 9 choices")
            for k, c in enumerate(choices):
                check_name(c, f"{where}.choices[{k}]")
            if len(set(choices)) != len(choices):
                raise invalid(f"{where}.choices", "each choice once")
            if f["name"] in names:
                raise invalid(f"{where}.name", f"duplicate {f['name']!r}")
            names.add(f["name"])
            label = f.get("label")
            if label is not None and (not isinstance(label, str) or len(label) > 200):
                raise invalid(f"{where}.label", "must be a text of at most 200 characters")
            check_labels(f.get("choice_labels"), f"{where}.choice_labels", keys=set(choices))

    def schema_orphans(self, *, project: Project, old: Schema, new: Schema) -> list[SchemaOrphan]:
        kept = {f["name"]: set(f["choices"]) for f in new["fields"]}
        out = []
        for f in old.get("fields", []):
            name = f["name"]
            gone = set(f.get("choices", [])) - kept.get(name, set())
            if not gone:
                continue
            labels = TurnLabel.objects.filter(
                annotation__item__project=project, field=name, value__in=gone
            )
            used = sorted(set(labels.values_list("value", flat=True).distinct()))
            if not used:
                continue
            n = labels.values("annotation_id").distinct().count()
            shown = ", ".join(repr(u) for u in used)
            what = f"field {name!r} ({shown})" if name not in kept else f"{name}: {shown}"
            out.append(SchemaOrphan(what, n))
        return out

    # --- labels ---------------------------------------------------------------------------

    def parts(self, *, item_id: int) -> Parts:
        rows = Turn.objects.filter(item_id=item_id).values_list("index", "id", "speaker")
        return {i: ItemPart(pk, speaker) for i, pk, speaker in rows}

    def validate(
        self, *, schema: Schema, parts: Parts, payload: Mapping[str, Any], gold: bool = False
    ) -> Labels:
        fields = {f["name"]: f for f in schema.get("fields", [])}
        out: dict[tuple[int, str], dict[str, Any]] = {}
        for i, raw in enumerate(payload.get("turns") or []):
            if not isinstance(raw, dict):
                raise invalid(f"turns[{i}]", "must be an object")
            idx = as_int(raw.get("index"), f"turns[{i}].index")
            if idx not in parts:
                raise invalid(f"turns[{i}].index", f"no turn {idx} in this dialogue")
            name = str(raw.get("field") or "")
            spec = fields.get(name)
            if spec is None:
                raise invalid(f"turns[{i}].field", f"unknown field {name!r}")
            speaker = parts[idx].speaker
            if spec["role"] != speaker:
                raise invalid(
                    f"turns[{i}].field",
                    f"{name} codes {spec['role']} turns; turn {idx} is {speaker}",
                )
            value = str(raw.get("value") or "")
            if value not in spec["choices"]:
                raise invalid(f"turns[{i}].value", f"must be one of {', '.join(spec['choices'])}")
            out[(idx, name)] = {"index": idx, "field": name, "value": value}
        if not out:
            raise invalid("turns", "code at least one turn")
        return {"turns": sorted(out.values(), key=lambda t: (t["index"], t["field"]))}

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
            TurnLabel, annotation=annotation, labels=labels, parts=parts, replace=replace
        )

    def label_rows(
        self, *, labels: Labels, parts: Parts, left_candidate_id: int | None = None
    ) -> list[TurnLabel]:
        return [
            TurnLabel(turn_id=parts[t["index"]].id, field=t["field"], value=t["value"])
            for t in labels["turns"]
        ]

    def read(self, annotation: Annotation) -> Labels:
        return {
            "turns": [
                {"index": tl.turn.index, "field": tl.field, "value": tl.value}
                for tl in annotation.turn_labels.select_related("turn").order_by(
                    "turn__index", "field"
                )
            ]
        }

    # --- the labeling form ------------------------------------------------------------------

    def parse_form(
        self, *, post: QueryDict, left_index: int | None, right_index: int | None
    ) -> dict[str, Any]:
        turns = []
        for key in post:
            m = _TURN_KEY.match(key)
            if m and post.get(key):
                turns.append({"index": int(m.group(1)), "field": m.group(2), "value": post[key]})
        return {"turns": turns}

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
        given = {(t["index"], t["field"]): t["value"] for t in labels.get("turns", [])}
        provenance = labels.get("provenance") or {}
        by_role: dict[str, list[dict[str, Any]]] = {}
        for f in schema["fields"]:
            by_role.setdefault(f["role"], []).append(f)
        turns = []
        for turn in item.turns.all():
            fields = [
                FieldRow(
                    name=f["name"],
                    label=_field_label(f),
                    input_name=f"code-{turn.index}-{f['name']}",
                    choices=[
                        Choice(
                            value=c,
                            label=_choice_label(f, c),
                            key=str(k) if n == 0 else "",
                            checked=given.get((turn.index, f["name"])) == c,
                        )
                        for k, c in enumerate(f["choices"], start=1)
                    ],
                    source=provenance.get(f"turn:{turn.index}:{f['name']}"),
                )
                for n, f in enumerate(by_role.get(turn.speaker, []))
            ]
            turns.append(
                Part(
                    index=turn.index,
                    number=turn.index + 1,
                    html=rich_text(turn.text),
                    speaker=turn.speaker,
                    fields=fields,
                    hints=hints(suggestions, f"turn:{turn.index}"),
                )
            )
        return {
            "item_hints": hints(suggestions, "item"),
            "turns": turns,
            "codable": sum(1 for t in turns if t.fields),
            "legend": [
                {"role": humanize(role), "fields": [
                    {"label": _field_label(f),
                     "choices": [(k, _choice_label(f, c)) for k, c in enumerate(f["choices"], start=1)]}
                    for f in fields
                ]}
                for role, fields in by_role.items()
            ],
        }  # fmt: skip

    # --- review: the final label's starting point -------------------------------------------

    def prefill_votes(
        self, *, labels: Labels, item: Item, specs: Mapping[str, FieldSpec]
    ) -> dict[tuple[str, Any], float]:
        votes: dict[tuple[str, Any], float] = {}
        for t in labels.get("turns", []):
            spec = specs.get(f"turn:{t['field']}")
            if spec is not None and spec.codes and t["value"] in spec.codes:
                votes[(spec.key, (t["index"], t["field"]))] = float(spec.codes.index(t["value"]))
        return votes

    def prefill_labels(
        self,
        *,
        finals: Mapping[tuple[str, Any], FinalLabel],
        item: Item,
        schema: Schema,
        specs: Mapping[str, FieldSpec],
    ) -> Labels:
        turns, provenance = [], {}
        for (key, (index, name)), final in sorted(finals.items(), key=lambda kv: kv[0][1]):
            codes = specs[key].codes or ()
            k = int(final.value)
            if 0 <= k < len(codes):
                turns.append({"index": index, "field": name, "value": codes[k]})
                provenance[f"turn:{index}:{name}"] = final
        return {"turns": turns, "provenance": provenance} if turns else {}

    # --- review ---------------------------------------------------------------------------

    def review_layout(self, *, item: Item, schema: Schema) -> ReviewLayout:
        fields = schema.get("fields", [])
        keys = [(t.index, f["name"]) for t in item.turns.all() for f in fields
                if f["role"] == t.speaker]  # fmt: skip
        return ReviewLayout([Column(k, str(k[0] + 1), f"Turn {k[0] + 1}: {k[1]}") for k in keys])

    def review_cells(
        self,
        *,
        labels: Labels,
        layout: ReviewLayout,
        item: Item,
        annotation: Annotation | None = None,
    ) -> ReviewCells:
        given = {(t["index"], t["field"]): t["value"] for t in labels.get("turns", [])}
        return ReviewCells(
            [
                Cell(given.get(c.key, "").replace("_", " "), "code" if c.key in given else "r-none")
                for c in layout.columns
            ]
        )

    def review_targets(self, layout: ReviewLayout) -> list[str]:
        return [f"turn:{c.key[0]}" for c in layout.columns]

    def review_signature(self, *, schema: Schema, annotation: Annotation) -> Any:
        return tuple(
            sorted((tl.turn_id, tl.field, tl.value) for tl in annotation.turn_labels.all())
        )

    # --- agreement ------------------------------------------------------------------------

    def agreement_fields(self, *, project: Project) -> list[FieldSpec]:
        """Every field of the schema, then fields and codes found only in the labels (an
        imported file may carry more), so nothing labeled is left out."""
        schema = project.label_schema or {}
        names: list[str] = [f["name"] for f in schema.get("fields", []) if f.get("name")]
        seen = set(
            TurnLabel.objects.filter(annotation__item__project=project)
            .values_list("field", flat=True)
            .distinct()
        )
        names += sorted(seen - set(names))
        out = []
        choices = {f["name"]: f.get("choices", []) for f in schema.get("fields", [])}
        labels = {f["name"]: f.get("label") for f in schema.get("fields", []) if f.get("name")}
        for name in names:
            codes = list(choices.get(name, []))
            extra = (
                TurnLabel.objects.filter(annotation__item__project=project, field=name)
                .exclude(value__in=codes)
                .values_list("value", flat=True)
                .distinct()
            )
            codes += sorted(set(extra))
            out.append(
                FieldSpec(
                    f"turn:{name}",
                    labels.get(name) or humanize(name),
                    "nominal",
                    tuple(float(i) for i in range(len(codes))),
                    codes=tuple(codes),
                )
            )
        return out

    def gold_field(self, key: str) -> bool:
        return key.startswith("turn:")


def _field_label(field: dict[str, Any]) -> str:
    """A field's display name: the schema's `label`, else its name made readable."""
    return str(field.get("label") or humanize(field["name"]))


def _choice_label(field: dict[str, Any], code: str) -> str:
    return str((field.get("choice_labels") or {}).get(code) or humanize(code))
