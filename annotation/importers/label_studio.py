"""`label_studio`: a Label Studio JSON export (a JSON array of tasks, or JSONL), each task
`{"id", "data", "annotations": [{"completed_by", "result": [...]}]}`, read through the
project's labeling config (option `label_config`, the XML; mapped by
`annotation.importers.label_studio_config`).

- Items: one per task; external id = `meta.stepwise.external_id` (a Stepwise export) or the
  task id. Data keys the config does not show are kept in `metadata.label_studio.data`.
- Annotators: each Label Studio annotator becomes the imported annotator
  `label-studio:<email>` (or `label-studio:<user id>` when the export has only the id), so
  agreement and exports see them like anyone; a Stepwise export's `stepwise_annotator`
  wins. Cancelled (skipped) annotations and ones with an empty result are not imported
  (counted in the item's metadata); predictions and drafts are not imported.
- Labels: Pairwise → a preference between the two candidates (left better = −1, right =
  +1, or the `strength` choice −3..+3); ratings / numeric choices → principle ratings;
  ParagraphLabels and perRegion choices/ratings → one code per turn and field (a region must
  cover exactly one turn); TextArea → the justification.

Problems name the record (position in the array, or line) and the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from annotation.errors import ApplicationError
from annotation.importers.base import (
    Importer,
    ImportIssue,
    ParsedAnnotation,
    ParsedCandidate,
    ParsedItem,
    ParsedPreference,
    ParsedPrincipleRating,
    ParsedTurnLabel,
    ParseEvent,
    RecordError,
    parse_jsonl_records,
    read_json_document,
    req_object,
    type_name,
)
from annotation.importers.label_studio_config import LsControl, LsMapping, label_config_map

PREFIX = "label-studio:"
MAX_NAME = 150
MAX_CODE = 64  # TurnLabel.value


def annotator_name(ann: dict[str, Any], p: str) -> str:
    own = ann.get("stepwise_annotator")
    if isinstance(own, str) and own.strip():
        name = own.strip()
    else:
        who = ann.get("completed_by")
        if isinstance(who, dict):
            who = who.get("email") or who.get("id")
        if isinstance(who, bool) or not isinstance(who, str | int) or not str(who).strip():
            raise RecordError(f"{p}.completed_by", "must be a user id or {email}")
        name = str(who).strip()
    name = name if name.startswith(PREFIX) else PREFIX + name
    if len(name) > MAX_NAME:
        raise RecordError(f"{p}.completed_by", f"gives a name longer than {MAX_NAME} characters")
    return name


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        raise RecordError(f"data.{key}", "is required by the labeling config")
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise RecordError(f"data.{key}", f"must be a string, got {type_name(value)}")
    return str(value)


def _turns(data: dict[str, Any], obj: Any) -> list[tuple[str, str]]:
    value = data.get(obj.key)
    if not isinstance(value, list) or not value:
        raise RecordError(f"data.{obj.key}", "must be a non-empty list of turns")
    out = []
    for i, t in enumerate(value):
        t = req_object(t, f"data.{obj.key}[{i}]")
        speaker, text = t.get(obj.name_key), t.get(obj.text_key)
        if not isinstance(speaker, str) or not speaker.strip() or len(speaker) > 64:
            raise RecordError(f"data.{obj.key}[{i}].{obj.name_key}", "must be a speaker name "
                              "of 1 to 64 characters")  # fmt: skip
        if not isinstance(text, str):
            raise RecordError(f"data.{obj.key}[{i}].{obj.text_key}", "must be a string")
        out.append((speaker, text))
    return out


def _one(value: dict[str, Any], key: str, q: str) -> Any:
    got = value.get(key)
    if isinstance(got, list):
        if len(got) != 1:
            raise RecordError(f"{q}.value.{key}", f"must hold one value, got {len(got)}")
        got = got[0]
    if got is None:
        raise RecordError(f"{q}.value.{key}", "is required")
    return got


def _int(value: Any, q: str, lo: int, hi: int) -> int:
    try:
        out = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        out = None
    if out is None or not lo <= out <= hi:
        raise RecordError(q, f"must be an integer from {lo} to {hi}, got {value!r}")
    return out


def _turn_of(value: dict[str, Any], regions: dict[Any, dict[str, Any]], r: dict[str, Any],
             q: str, n: int) -> int:  # fmt: skip
    if "start" not in value and r.get("id") in regions:
        value = regions[r["id"]]
    start, end = value.get("start"), value.get("end", value.get("start"))
    a = _int(start, f"{q}.value.start", 0, n - 1)
    if _int(end, f"{q}.value.end", 0, n - 1) != a:
        raise RecordError(f"{q}.value", f"a region must cover one turn; it spans {start}..{end}")
    return a


def parse_annotation(raw: Any, p: str, mapping: LsMapping, n_turns: int) -> ParsedAnnotation | None:
    """One LS annotation; None for a cancelled or empty one."""
    ann = req_object(raw, p)
    if ann.get("was_cancelled") is True:
        return None
    results = ann.get("result") or []
    if not isinstance(results, list):
        raise RecordError(f"{p}.result", f"must be a list, got {type_name(results)}")
    if not results:
        return None
    out = ParsedAnnotation(annotator=annotator_name(ann, p))
    regions = {r.get("id"): r.get("value") or {} for r in results
               if isinstance(r, dict) and r.get("type") == "paragraphlabels"}  # fmt: skip
    sides: dict[tuple[int, int], int] = {}
    strengths: dict[tuple[int, int], int] = {}
    codes: dict[tuple[int, str], str] = {}
    for j, r in enumerate(results):
        q = f"{p}.result[{j}]"
        r = req_object(r, q)
        ctl: LsControl | None = mapping.controls.get(str(r.get("from_name")))
        if ctl is None:
            raise RecordError(f"{q}.from_name", f"{r.get('from_name')!r} is not a control tag of "
                              "the labeling config")  # fmt: skip
        if r.get("type") != ctl.result_type:
            raise RecordError(f"{q}.type", f"{ctl.name} is a <{ctl.tag}>, the result says "
                              f"{r.get('type')!r}")  # fmt: skip
        value = req_object(r.get("value"), f"{q}.value")
        if ctl.role == "pairwise":
            side = value.get("selected")
            if side not in ("left", "right", "none"):
                raise RecordError(f"{q}.value.selected", "must be left, right or none")
            if side != "none":
                sides[ctl.pair] = -1 if side == "left" else 1  # type: ignore[index]
        elif ctl.role == "strength":
            strengths[ctl.pair] = _int(_one(value, "choices", q), f"{q}.value.choices", -3, 3)  # type: ignore[index]
        elif ctl.role in ("principle", "pair_principle"):
            key = "rating" if ctl.tag == "Rating" else "choices"
            if ctl.tag == "Rating":
                lo, hi = 0, ctl.max_rating
            else:
                lo, hi = min(map(int, ctl.values)), max(map(int, ctl.values))
            v = _int(_one(value, key, q), f"{q}.value.{key}", lo, hi)
            out.principle_ratings.append(ParsedPrincipleRating(ctl.principle, ctl.candidate, v))
        elif ctl.role == "justification":
            text = value.get("text")
            parts = text if isinstance(text, list) else [text]
            if not all(isinstance(t, str) for t in parts):
                raise RecordError(f"{q}.value.text", "must be a string or a list of strings")
            out.justification = "\n".join(parts)
        else:  # turn_label
            turn = _turn_of(value, regions, r, q, n_turns)
            key = {"ParagraphLabels": "paragraphlabels", "Choices": "choices"}.get(
                ctl.tag, "rating"
            )
            got = value.get(key)
            for code in got if isinstance(got, list) else [got]:
                code = str(code) if code is not None else ""
                if not code or len(code) > MAX_CODE:
                    raise RecordError(f"{q}.value.{key}", f"must be a code of 1 to {MAX_CODE} "
                                      "characters")  # fmt: skip
                if codes.get((turn, ctl.name), code) != code:
                    raise RecordError(q, f"turn {turn} has two {ctl.name} codes in one "
                                      "annotation")  # fmt: skip
                codes[(turn, ctl.name)] = code
    for pair in sorted(set(sides) | set(strengths)):
        strength = strengths.get(pair, sides.get(pair, 0))
        if pair in sides and strength * sides[pair] < 0:
            raise RecordError(p, f"strength {strength} disagrees with the pairwise choice")
        out.preferences.append(ParsedPreference(a=pair[0], b=pair[1], strength=strength))
    out.turn_labels = [ParsedTurnLabel(t, f, v) for (t, f), v in sorted(codes.items())]
    return out


def _check_candidates(ann: ParsedAnnotation, n: int, p: str) -> None:
    used = [i for pr in ann.preferences for i in (pr.a, pr.b)]
    used += [r.candidate for r in ann.principle_ratings if r.candidate is not None]
    if any(i >= n for i in used):
        raise RecordError(p, f"labels answer{max(used) + 1}; this task has {n} candidates")


def parse_task(obj: Any, line: int | None, mapping: LsMapping) -> ParsedItem:
    task = req_object(obj, "record")
    data = req_object(task.get("data"), "data")
    meta: dict[str, Any] = task["meta"] if isinstance(task.get("meta"), dict) else {}
    own: dict[str, Any] = meta["stepwise"] if isinstance(meta.get("stepwise"), dict) else {}
    ext = own.get("external_id", task.get("id"))
    if isinstance(ext, bool) or not isinstance(ext, str | int) or not str(ext).strip():
        raise RecordError("id", "is required (the Label Studio task id)")
    item = ParsedItem(line=line, external_id=str(ext)[:255])
    used = set()
    if mapping.kind == "preference":
        if mapping.prompt:
            item.prompt = _text(data, mapping.prompt.key)
            used.add(mapping.prompt.key)
        if mapping.context:
            item.turns = _turns(data, mapping.context)
            used.add(mapping.context.key)
        # Items may have fewer candidates than the config shows (answer3 absent or empty):
        # the present ones must come first, and there must be two.
        present = [o for o in mapping.candidates if data.get(o.key) not in (None, "")]
        if mapping.candidates[: max(2, len(present))] != present:
            missing = next(o for o in mapping.candidates if data.get(o.key) in (None, ""))
            raise RecordError(f"data.{missing.key}", "is required by the labeling config")
        used.update(o.key for o in mapping.candidates)
        for obj_ in present:
            item.candidates.append(ParsedCandidate(text=_text(data, obj_.key)))
            used.add(obj_.key)
    else:
        item.turns = _turns(data, mapping.dialogue)
        used.add(mapping.dialogue.key)  # type: ignore[union-attr]
    extra = {k: v for k, v in data.items() if k not in used}
    ls_meta: dict[str, Any] = {"id": task.get("id")}
    if extra:
        ls_meta["data"] = extra
    rest = {k: v for k, v in meta.items() if k != "stepwise"}
    if rest:
        ls_meta["meta"] = rest
    anns = task.get("annotations") or []
    if not isinstance(anns, list):
        raise RecordError("annotations", f"must be a list, got {type_name(anns)}")
    seen: dict[str, int] = {}
    dropped = 0
    for i, raw in enumerate(anns):
        parsed = parse_annotation(raw, f"annotations[{i}]", mapping, len(item.turns))
        if parsed is not None:
            _check_candidates(parsed, len(item.candidates), f"annotations[{i}]")
        if parsed is None:
            dropped += 1
            continue
        if parsed.annotator in seen:
            raise RecordError(f"annotations[{i}]", f"{parsed.annotator} already annotated this "
                              f"task (annotations[{seen[parsed.annotator]}]); Stepwise keeps one "
                              "annotation per annotator and item")  # fmt: skip
        seen[parsed.annotator] = i
        item.annotations.append(parsed)
    if dropped:
        ls_meta["cancelled_or_empty_annotations"] = dropped
    item.metadata = {"label_studio": ls_meta}
    return item


class LabelStudioImporter(Importer):
    name = "label_studio"
    label = "Label Studio JSON export (with its labeling config)"
    project_kinds = ("preference", "dialogue_coding")
    extensions = (".json", ".jsonl")
    options_help = {
        "label_config": "the Label Studio project's labeling config (XML), required: "
        "Settings → Labeling Interface → Code"
    }

    def options_check(self, *, options: dict[str, Any], project_kind: str | None) -> None:
        label_config_map(options.get("label_config"), project_kind=project_kind)

    def parse(
        self, stream: BinaryIO, *, options: dict[str, Any], max_line_bytes: int
    ) -> Iterator[ParseEvent]:
        try:
            mapping = label_config_map(
                options.get("label_config"), project_kind=options.get("project_kind")
            )
        except ApplicationError as exc:
            yield ImportIssue(None, exc.field or "", exc.message)
            return
        head = stream.read(1)
        while head in (b" ", b"\n", b"\r", b"\t", b"\xef", b"\xbb", b"\xbf"):
            head = stream.read(1)
        stream.seek(0)
        if head != b"[":
            yield from parse_jsonl_records(
                stream, max_line_bytes=max_line_bytes,
                parse_record=lambda obj, line: parse_task(obj, line, mapping),
            )  # fmt: skip
            return
        doc = read_json_document(stream, max_bytes=max_line_bytes * 10_000)
        if isinstance(doc, ImportIssue):
            yield doc
            return
        for n, obj in enumerate(doc, start=1):
            try:
                yield parse_task(obj, n, mapping)
            except RecordError as exc:
                yield ImportIssue(n, exc.field, exc.message, "record")
