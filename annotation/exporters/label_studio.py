"""`label_studio`: every item with every annotator's labels in Label Studio's JSON export
shape (`[{"id", "data", "meta", "annotations": [{"result": [...]}]}]`), plus the labeling
config (`label_config.xml`) that shows them, so a team can take a project back to Label
Studio (Import → the JSON file; Settings → Labeling Interface → the XML).

Written as one JSON array (what Label Studio's import accepts) unless `file_format=jsonl`.
Unlike the training formats this is a full dump: every item (labeled or not), one LS
annotation per Stepwise annotation of the sources asked for (adjudications and gold answers
carry `ground_truth: true`), whatever the `labels` option says.

The config, and so the results (the importer `annotation.importers.label_studio` reads them
back):

- preference: `<Text name="prompt">`, `<Paragraphs name="context">` when items have turns,
  `<Text name="answerK">` per candidate (every task has every answerK, as Label Studio
  requires: empty for an item with fewer candidates); per judged pair a `<Pairwise>` (`comparison`, or
  `comparison_<a>_<b>` beyond the first two, 1-based) giving the side, and a `<Choices>`
  (`strength`, `strength_<a>_<b>`) with the −3..+3 strength; per-response principles as
  `<Rating name="<principle>_answerK">` (scale 1..n) or `<Choices>` for other scales;
  per-pair principles as `<Choices name="<principle>" toName="prompt">` (−3..+3); the
  justification as `<TextArea name="justification">`.
- dialogue_coding: `<Paragraphs name="dialogue">` (author, text), one `<ParagraphLabels>` per
  field whose regions each cover one whole turn, `<TextArea name="justification">`.

Annotators: `completed_by` is `{"email": ...}` when the name is an e-mail address (Label
Studio matches it to a member) or was imported from Label Studio (`label-studio:<email>`);
`stepwise_annotator` always carries the name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import quoteattr

from django.db.models import Count

from annotation.exporters.base import ExportContext, Exporter, Row
from annotation.exporters.source import AnnotationData, ItemData
from annotation.kinds.preference_schema import principle_names
from annotation.models import Annotation, Candidate, ProjectKind

LS_PREFIX = "label-studio:"
GROUND_TRUTH = frozenset({Annotation.Source.ADJUDICATION, Annotation.Source.GOLD})


def pair_names(a: int, b: int) -> tuple[str, str]:
    """(Pairwise name, strength Choices name) of candidates a < b (0-based)."""
    if (a, b) == (0, 1):
        return "comparison", "strength"
    return f"comparison_{a + 1}_{b + 1}", f"strength_{a + 1}_{b + 1}"


def answer_name(index: int) -> str:
    return f"answer{index + 1}"


def completed_by(name: str) -> dict[str, str] | None:
    email = name[len(LS_PREFIX) :] if name.startswith(LS_PREFIX) else name
    return {"email": email} if "@" in email else None


def _pairwise(a: int, b: int, strength: int) -> list[dict[str, Any]]:
    lo, hi, s = (a, b, strength) if a < b else (b, a, -strength)
    pw, st = pair_names(lo, hi)
    side = "left" if s < 0 else ("right" if s > 0 else "none")
    return [
        {"from_name": pw, "to_name": pw, "type": "pairwise", "value": {"selected": side}},
        {"from_name": st, "to_name": "prompt", "type": "choices",
         "value": {"choices": [str(s)]}},
    ]  # fmt: skip


def _preference_results(ann: AnnotationData, scale: tuple[int, int]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for a, b, strength, _margin, _left in ann.preferences:
        out += _pairwise(a, b, strength)
    for principle, cand, value in ann.principles:
        if cand is None:
            out.append({"from_name": principle, "to_name": "prompt", "type": "choices",
                        "value": {"choices": [str(value)]}})  # fmt: skip
        elif scale[0] == 1:
            to = answer_name(cand)
            out.append({"from_name": f"{principle}_{to}", "to_name": to, "type": "rating",
                        "value": {"rating": value}})  # fmt: skip
        else:
            to = answer_name(cand)
            out.append({"from_name": f"{principle}_{to}", "to_name": to, "type": "choices",
                        "value": {"choices": [str(value)]}})  # fmt: skip
    return out


def _dialogue_results(ann: AnnotationData, item: ItemData) -> list[dict[str, Any]]:
    out = []
    for turn, fld, value in ann.turn_labels:
        text = item.turns[turn][1] if turn < len(item.turns) else ""
        out.append(
            {
                "id": f"t{turn}-{fld}",
                "from_name": fld,
                "to_name": "dialogue",
                "type": "paragraphlabels",
                "value": {
                    "start": str(turn), "end": str(turn), "startOffset": 0,
                    "endOffset": len(text), "text": text, "paragraphlabels": [value],
                },
            }
        )  # fmt: skip
    return out


class LabelStudioExporter(Exporter):
    name = "label_studio"
    label = "Label Studio JSON (tasks with annotations) and its labeling config"
    project_kinds = ("preference", "dialogue_coding")
    task_categories = ("text-classification",)
    tags = ("label-studio",)
    # Every item is its own record: two identical items stay two tasks.
    dedup_ignore = ()
    default_file_format = "json"
    file_formats = ("json", "jsonl")
    annotation_times = True  # each annotation's created_at, whatever the `labels` option
    # Every annotation goes out as it is: no aggregation, filtering or split.
    web_options = ("sources", "include_consensus", "file_format")

    def __init__(self) -> None:
        self.max_candidates = 2
        self._width: int | None = None
        self.pairs: set[tuple[int, int]] = set()
        self.pair_principles: set[str] = set()
        self.response_principles: set[str] = set()
        self.fields: dict[str, list[str]] = {}
        self.has_context = False

    def _max_candidates(self, ctx: ExportContext) -> int:
        """The most candidates any item has: Label Studio wants every key its config names in
        every task, so items with fewer get empty answers (read back as absent)."""
        top = (
            Candidate.objects.filter(item__project=ctx.project)
            .values("item_id")
            .annotate(n=Count("id"))
            .order_by("-n")
            .values_list("n", flat=True)[:1]
        )
        return max([2, *top])

    def records(self, ctx: ExportContext, items: list[ItemData]) -> Iterator[Row]:
        kind = ctx.project.kind
        if kind == ProjectKind.PREFERENCE and self._width is None:
            self._width = self.max_candidates = self._max_candidates(ctx)
        scale = tuple((ctx.project.label_schema.get("principle_scale") or [1, 5])[:2])
        for item in items:
            anns = [(a, False) for a in ctx.raters(item)]
            anns += [(a, True) for a in item.annotations if a.source in GROUND_TRUTH]
            annotations = []
            for ann, truth in anns:
                ctx.annotators_used[ann.annotator_id] += 1
                name = ctx.name(ann.annotator_id)
                if kind == ProjectKind.PREFERENCE:
                    result = _preference_results(ann, scale)
                    self._seen_preference(ann)
                else:
                    result = _dialogue_results(ann, item)
                    for _, fld, value in ann.turn_labels:
                        codes = self.fields.setdefault(fld, [])
                        if value not in codes:
                            codes.append(value)
                if ann.justification:
                    result.append({"from_name": "justification", "to_name": _main(kind),
                                   "type": "textarea", "value": {"text": [ann.justification]}})  # fmt: skip
                record: dict[str, Any] = {
                    "id": ann.id,
                    "result": result,
                    "was_cancelled": False,
                    "ground_truth": truth,
                    "created_at": ann.created_at.isoformat() if ann.created_at else None,
                    "lead_time": ann.time_spent_ms / 1000 if ann.time_spent_ms else None,
                    "stepwise_annotator": name,
                    "stepwise_source": ann.source,
                }
                who = completed_by(name)
                if who:
                    record["completed_by"] = who
                annotations.append(record)
            yield Row(
                {
                    "id": item.id,
                    "data": self._data(kind, item),
                    "meta": {
                        "stepwise": {"external_id": item.external_id, "project": ctx.project.slug}
                    },
                    "annotations": annotations,
                    "predictions": [],
                },  # fmt: skip
                item.group_key,
                "labeled" if annotations else "unlabeled",
            )

    def _seen_preference(self, ann: AnnotationData) -> None:
        for a, b, *_ in ann.preferences:
            self.pairs.add((min(a, b), max(a, b)))
        for principle, cand, _ in ann.principles:
            (self.pair_principles if cand is None else self.response_principles).add(principle)

    def _data(self, kind: str, item: ItemData) -> dict[str, Any]:
        dialogue = [{"author": s, "text": t} for s, t in item.turns]
        if kind == ProjectKind.DIALOGUE_CODING:
            return {"dialogue": dialogue}
        data: dict[str, Any] = {"prompt": item.prompt}
        if dialogue:
            self.has_context = True
            data["context"] = dialogue
        for i in range(max(self._width or 0, len(item.candidates))):
            data[answer_name(i)] = item.candidates[i] if i < len(item.candidates) else ""
        self.max_candidates = max(self.max_candidates, len(item.candidates))
        return data

    def label_config(self, ctx: ExportContext) -> str:
        """The labeling config for what was exported (built after the items streamed)."""
        schema = ctx.project.label_schema or {}
        if ctx.project.kind == ProjectKind.DIALOGUE_CODING:
            fields = {f["name"]: list(f.get("choices", [])) for f in schema.get("fields", [])}
            for name, codes in self.fields.items():
                fields.setdefault(name, [])
                fields[name] += [c for c in codes if c not in fields[name]]
            lines = ['  <Paragraphs name="dialogue" value="$dialogue" layout="dialogue" '
                     'nameKey="author" textKey="text"/>']  # fmt: skip
            for name, codes in fields.items():
                lines.append(f'  <ParagraphLabels name={quoteattr(name)} toName="dialogue">')
                lines += [f"    <Label value={quoteattr(c)}/>" for c in codes]
                lines.append("  </ParagraphLabels>")
            lines.append('  <TextArea name="justification" toName="dialogue"/>')
            return "<View>\n" + "\n".join(lines) + "\n</View>\n"
        lo, hi = (schema.get("principle_scale") or [1, 5])[:2]
        per_response = set(principle_names(schema)) | self.response_principles
        if schema.get("principle_mode") == "per_pair":
            per_response = self.response_principles
        lines = ['  <Text name="prompt" value="$prompt"/>']
        if self.has_context:
            lines.append('  <Paragraphs name="context" value="$context" layout="dialogue" '
                         'nameKey="author" textKey="text"/>')  # fmt: skip
        for i in range(self.max_candidates):
            lines.append(f'  <Text name="{answer_name(i)}" value="${answer_name(i)}"/>')
        strengths = "".join(f'<Choice value="{v}"/>' for v in range(-3, 4))
        for a, b in sorted(self.pairs | {(0, 1)}):
            pw, st = pair_names(a, b)
            lines.append(f'  <Pairwise name="{pw}" toName="{answer_name(a)},{answer_name(b)}"/>')
            lines.append(f'  <Choices name="{st}" toName="prompt">{strengths}</Choices>')
        for principle in sorted(per_response):
            for i in range(self.max_candidates):
                to = answer_name(i)
                name = quoteattr(f"{principle}_{to}")
                if lo == 1:
                    lines.append(f'  <Rating name={name} toName="{to}" maxRating="{hi}"/>')
                else:
                    values = "".join(f'<Choice value="{v}"/>' for v in range(lo, hi + 1))
                    lines.append(f'  <Choices name={name} toName="{to}">{values}</Choices>')
        pair = set(self.pair_principles)
        if schema.get("principle_mode") == "per_pair":
            pair |= set(principle_names(schema))
        for principle in sorted(pair):
            lines.append(f'  <Choices name={quoteattr(principle)} toName="prompt">'
                         f"{strengths}</Choices>")  # fmt: skip
        lines.append('  <TextArea name="justification" toName="prompt"/>')
        return "<View>\n" + "\n".join(lines) + "\n</View>\n"

    def extra_files(self, ctx: ExportContext) -> dict[str, str]:
        return {"label_config.xml": self.label_config(ctx)}

    def manifest_extra(self, ctx: ExportContext) -> dict[str, Any]:
        return {
            "label_config": "label_config.xml",
            "annotations": "every annotation of the sources asked for, one per annotator; "
            "adjudications and gold answers with ground_truth: true",
        }

    def arrow_schema(self, ctx: ExportContext) -> Any:
        raise NotImplementedError("label_studio writes JSON")


def _main(kind: str) -> str:
    return "dialogue" if kind == ProjectKind.DIALOGUE_CODING else "prompt"
