"""JSON Schema (draft 2020-12) of one record of the `native` JSONL format.

It mirrors `annotation.importers.native.parse_native_record` and is published at
/api/v1/schemas/import/ so that producers can validate files before uploading them. The
parser stays the authority: a few rules depend on other fields (an annotation's
`first_error_index` and `step_ratings` against the number of steps, turn and candidate
indexes against the number of turns and candidates, `a != b` in a preference) and JSON
Schema cannot state them, so they are written in the descriptions instead.

Where the parser reads `value or default`, a falsy value (null, false, 0, "", [] or {}) means
"absent"; the schema accepts exactly those values through `$defs/absent`.
"""

from __future__ import annotations

from typing import Any

from annotation.importers.native import FINISH_REASONS

SCHEMA_ID = "urn:stepwise:schema:native-record:1"

# A required text field: a string with a non-blank character, or a number (kept as its
# string form). Booleans and null are rejected.
_TEXT: dict[str, Any] = {"type": ["string", "number"], "pattern": r"\S"}
_OPT_TEXT: dict[str, Any] = {"type": ["string", "number", "null"]}
_INT: dict[str, Any] = {"type": "integer"}


def _list_or_absent(item_schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "anyOf": [{"type": "array", "items": item_schema}, {"$ref": "#/$defs/absent"}],
    }


NATIVE_RECORD_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "Stepwise native JSONL record",
    "description": (
        "One line of a `native` import file: one item (a reasoning trace, a dialogue or a set "
        "of candidate responses) with optional labels that came with it. A record needs at "
        "least one of `steps`, `turns` or `candidates`."
    ),
    "type": "object",
    "additionalProperties": False,
    "required": ["external_id"],
    "properties": {
        "external_id": {
            **_TEXT,
            "description": "Unique within the dataset; re-importing the same content is a no-op.",
        },
        "group_key": {
            **_OPT_TEXT,
            "description": "Items sharing a key are kept together (e.g. one problem's traces).",
        },
        "prompt": _OPT_TEXT,
        "reference_answer": _OPT_TEXT,
        "final_answer": _OPT_TEXT,
        "final_answer_correct": {"type": ["boolean", "null"]},
        "generator_model": _OPT_TEXT,
        "metadata": {"type": ["object", "null"]},
        "steps": {
            "description": "The reasoning steps, in order (step labelling projects). Imported "
            "with a `split` option (blank_lines, numbered, step_markers, sentences, regex...), "
            "`steps` may instead be one string, and every text is cut into steps; this schema "
            "describes the default import, without a split.",
            "type": ["array", "null"],
            "items": {"type": "string", "pattern": r"\S"},
        },
        "turns": {
            "description": "The dialogue turns, in order (dialogue coding projects).",
            "type": ["array", "null"],
            "items": {"$ref": "#/$defs/turn"},
        },
        "candidates": {
            "description": "Responses to compare (preference projects need at least two).",
            "type": ["array", "null"],
            "items": {"$ref": "#/$defs/candidate"},
        },
        "annotations": _list_or_absent(
            {"$ref": "#/$defs/annotation"},
            "Labels shipped with the item, credited to an imported annotator per name.",
        ),
    },
    "anyOf": [
        {"required": ["steps"], "properties": {"steps": {"type": "array", "minItems": 1}}},
        {"required": ["turns"], "properties": {"turns": {"type": "array", "minItems": 1}}},
        {
            "required": ["candidates"],
            "properties": {"candidates": {"type": "array", "minItems": 1}},
        },
    ],
    "$defs": {
        "absent": {
            "description": "Read as an empty list or object.",
            "enum": [None, False, 0, "", [], {}],
        },
        "turn": {
            "type": "object",
            "required": ["speaker", "text"],
            "properties": {"speaker": _TEXT, "text": _TEXT},
        },
        "candidate": {
            "type": "object",
            "required": ["text"],
            "properties": {
                "text": _TEXT,
                "source_model": _OPT_TEXT,
                "metadata": {"anyOf": [{"type": "object"}, {"$ref": "#/$defs/absent"}]},
            },
        },
        "annotation": {
            "type": "object",
            "required": ["annotator"],
            "properties": {
                "annotator": {
                    **_TEXT,
                    "description": "Name of the imported annotator (a user of kind `imported`).",
                },
                "first_error_index": {
                    "type": ["integer", "null"],
                    "minimum": -1,
                    "description": "-1 = no error, else the 0-based index of the first wrong "
                    "step; must be below the number of steps.",
                },
                "finish_reason": {"enum": [None, *FINISH_REASONS]},
                "justification": _OPT_TEXT,
                "step_ratings": {
                    "type": ["array", "null"],
                    "items": {"enum": [-1, 0, 1, None]},
                    "description": "One rating per step (-1 wrong, 0 neutral, 1 right, null "
                    "unlabeled); exactly as many entries as steps.",
                },
                "turn_labels": _list_or_absent(
                    {
                        "type": "object",
                        "required": ["turn", "field", "value"],
                        "properties": {
                            "turn": {
                                **_INT,
                                "minimum": 0,
                                "description": "Index of the turn; below the number of turns.",
                            },
                            "field": _TEXT,
                            "value": _TEXT,
                        },
                    },
                    "Codes of dialogue turns, one per (turn, field).",
                ),
                "preferences": _list_or_absent(
                    {
                        "type": "object",
                        "required": ["a", "b", "strength"],
                        "properties": {
                            "a": {**_INT, "minimum": 0},
                            "b": {**_INT, "minimum": 0},
                            "strength": {
                                **_INT,
                                "minimum": -3,
                                "maximum": 3,
                                "description": "Negative: candidate a is better; positive: b.",
                            },
                            "margin": {"type": ["number", "null"]},
                        },
                    },
                    "Judgements between two different candidates (indexes below the number "
                    "of candidates).",
                ),
                "principle_ratings": _list_or_absent(
                    {
                        "type": "object",
                        "required": ["principle", "value"],
                        "properties": {
                            "principle": _TEXT,
                            "candidate": {
                                "type": ["integer", "null"],
                                "minimum": 0,
                                "description": "Candidate index, or null for a rating of the pair.",
                            },
                            "value": _INT,
                        },
                    },
                    "Ratings under named principles, per candidate or per pair.",
                ),
            },
        },
    },
}
