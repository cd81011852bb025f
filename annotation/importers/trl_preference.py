"""`trl_preference`: TRL preference JSONL, one {prompt, chosen, rejected} pair per line.

Accepted forms (TRL `dataset_formats.md`):

- standard, explicit prompt: strings `prompt`, `chosen`, `rejected`;
- standard, implicit prompt: strings `chosen` and `rejected` only; the prompt is '' and the
  completions are kept whole (they hold the prompt text too);
- conversational, explicit prompt: `prompt` is a list of {role, content} messages and
  `chosen`/`rejected` are lists of the assistant message(s);
- conversational, implicit prompt: `chosen`/`rejected` are whole conversations; the
  messages they share from the start become the prompt, as TRL's `extract_prompt` does.

Each line becomes a preference item with candidates [chosen, rejected] and an imported
annotation (annotator option `annotator`, default `trl-import`) preferring the chosen one.
Prompt messages become the item's turns, and its prompt text is the last user message.
The external id is the line's `id`, else the first 16 hex digits of the sha1 of the
record's canonical JSON (so the same line always gets the same id).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from typing import Any, BinaryIO

from annotation.importers.base import (
    Importer,
    ImportIssue,
    ParsedAnnotation,
    ParsedCandidate,
    ParsedItem,
    ParsedPreference,
    ParseEvent,
    RecordError,
    parse_jsonl_records,
    req_object,
    type_name,
)

DEFAULT_ANNOTATOR = "trl-import"
_KNOWN = {"id", "prompt", "chosen", "rejected", "margin"}
# Turn.speaker is a CharField(max_length=64); Item.external_id one of 255.
MAX_ROLE_LENGTH = 64
MAX_ID_LENGTH = 255

Message = tuple[str, str]


def _text(obj: dict[str, Any], key: str, path: str) -> str:
    if obj.get(key) is None:
        raise RecordError(path, "is required")
    value = obj[key]
    if not isinstance(value, str):
        raise RecordError(path, f"must be a string, got {type_name(value)}")
    return value


def _messages(value: list[Any], name: str) -> list[Message]:
    if not value:
        raise RecordError(name, "must not be an empty list")
    out = []
    for i, raw in enumerate(value):
        msg = req_object(raw, f"{name}[{i}]")
        role = _text(msg, "role", f"{name}[{i}].role").strip()
        if not role:
            raise RecordError(f"{name}[{i}].role", "must not be empty")
        if len(role) > MAX_ROLE_LENGTH:
            raise RecordError(f"{name}[{i}].role", f"is longer than {MAX_ROLE_LENGTH} characters")
        out.append((role, _text(msg, "content", f"{name}[{i}].content")))
    return out


def _candidate(messages: list[Message], name: str) -> ParsedCandidate:
    text = "\n\n".join(content for _, content in messages)
    if not text.strip():
        raise RecordError(name, "has no content")
    cand = ParsedCandidate(text=text)
    if [role for role, _ in messages] != ["assistant"]:
        # Keep what joining the contents loses, so an export can rebuild the messages.
        cand.metadata = {"messages": [{"role": r, "content": c} for r, c in messages]}
    return cand


def _external_id(rec: dict[str, Any]) -> str:
    if rec.get("id") is None:
        canonical = json.dumps(rec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha1(canonical.encode(), usedforsecurity=False).hexdigest()[:16]
    value = rec["id"]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RecordError("id", f"must be a string or an integer, got {type_name(value)}")
    value = str(value)
    if not value.strip():
        raise RecordError("id", "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise RecordError("id", f"is longer than {MAX_ID_LENGTH} characters")
    return value


def _margin(rec: dict[str, Any]) -> float | None:
    value = rec.get("margin")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError("margin", f"must be a number, got {type_name(value)}")
    if not math.isfinite(value):
        raise RecordError("margin", "must be a finite number")
    return float(value)


def _shape(value: Any, name: str) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if value is None:
        raise RecordError(name, "is required")
    raise RecordError(name, f"must be a string or a list of messages, got {type_name(value)}")


def parse_trl_record(obj: Any, line: int | None, *, annotator: str) -> ParsedItem:
    """One TRL preference record as an item; raises RecordError naming the field."""
    rec = req_object(obj, "record")
    if "chosen" not in rec and "completion" in rec:
        raise RecordError(
            "chosen",
            "is required: this looks like unpaired (KTO) data with completion/label; "
            "trl_preference takes chosen/rejected pairs",
        )
    shape = _shape(rec.get("chosen"), "chosen")
    if _shape(rec.get("rejected"), "rejected") != shape:
        raise RecordError("rejected", f"must be a {shape} like chosen")
    prompt = rec.get("prompt")
    turns: list[Message] = []
    implicit = prompt is None
    if shape == "string":
        if prompt is not None and not isinstance(prompt, str):
            raise RecordError("prompt", f"must be a string like chosen, got {type_name(prompt)}")
        prompt_text = prompt or ""
        chosen = _candidate([("assistant", rec["chosen"])], "chosen")
        rejected = _candidate([("assistant", rec["rejected"])], "rejected")
        fmt = "standard"
    else:
        chosen_msgs = _messages(rec["chosen"], "chosen")
        rejected_msgs = _messages(rec["rejected"], "rejected")
        if prompt is None:
            shared = 0
            for a, b in zip(chosen_msgs, rejected_msgs, strict=False):
                if a != b:
                    break
                shared += 1
            if shared in (len(chosen_msgs), len(rejected_msgs)):
                name = "chosen" if shared == len(chosen_msgs) else "rejected"
                raise RecordError(
                    name, "has no message after those chosen and rejected share (the prompt)"
                )
            turns = chosen_msgs[:shared]
            chosen_msgs, rejected_msgs = chosen_msgs[shared:], rejected_msgs[shared:]
        elif isinstance(prompt, list):
            turns = _messages(prompt, "prompt")
        else:
            raise RecordError(
                "prompt", f"must be a list of messages like chosen, got {type_name(prompt)}"
            )
        prompt_text = next((c for r, c in reversed(turns) if r == "user"), "")
        chosen = _candidate(chosen_msgs, "chosen")
        rejected = _candidate(rejected_msgs, "rejected")
        fmt = "conversational"
    item = ParsedItem(
        line=line,
        external_id=_external_id(rec),
        prompt=prompt_text,
        metadata={"trl_format": fmt, "implicit_prompt": implicit},
        turns=turns,
        candidates=[chosen, rejected],
    )
    extra = {k: v for k, v in rec.items() if k not in _KNOWN}
    if extra:
        item.metadata["extra"] = extra
    item.annotations.append(
        ParsedAnnotation(
            annotator=annotator,
            preferences=[ParsedPreference(a=0, b=1, strength=-1, margin=_margin(rec))],
        )
    )
    return item


class TrlPreferenceImporter(Importer):
    name = "trl_preference"
    label = "TRL preference JSONL"
    project_kinds = ("preference",)
    extensions = (".jsonl",)
    options_help = {"annotator": f"name of the imported annotator (default {DEFAULT_ANNOTATOR})"}

    def parse(
        self, stream: BinaryIO, *, options: dict[str, Any], max_line_bytes: int
    ) -> Iterator[ParseEvent]:
        annotator = options.get("annotator", DEFAULT_ANNOTATOR)
        if not isinstance(annotator, str) or not annotator.strip() or len(annotator) > 150:
            yield ImportIssue(
                None, "annotator", "must be a non-empty name of at most 150 characters"
            )
            return
        yield from parse_jsonl_records(
            stream,
            max_line_bytes=max_line_bytes,
            parse_record=lambda obj, line: parse_trl_record(obj, line, annotator=annotator.strip()),
        )
