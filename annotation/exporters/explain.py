"""Export options and left-out rows in words, for people: the Exports page and the dataset card.

`OPTION_HELP` has one line per option the web form offers (the REST API takes every option
of `annotation.exporters.base.DEFAULT_OPTIONS`); `dropped_explained` turns a manifest's
`counts.dropped` ({"tie": 1}) into sentences that say what was left out, why, and which
option would keep it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class OptionHelp:
    label: str
    help: str
    # (value, what it means) for options with a fixed set of values.
    choices: tuple[tuple[str, str], ...] = ()


OPTION_HELP: dict[str, OptionHelp] = {
    "labels": OptionHelp(
        "Labels",
        "Final labels give one label per unit with its source and confidence; per annotator "
        "gives every annotator's labels as separate rows.",
        (
            ("final", "Final labels (adjudicated > Dawid–Skene > majority)"),
            ("per_annotator", "Per annotator (one row per annotator)"),
        ),
    ),
    "sources": OptionHelp(
        "Whose labels",
        "Which annotations count as votes: people labeling in Stepwise, labels imported with "
        "the data, or both.",
        (
            ("annotators", "Annotators and imported labels"),
            ("human", "Only people labeling in Stepwise"),
            ("imported", "Only labels imported with the data"),
        ),
    ),
    "min_confidence": OptionHelp(
        "Minimum confidence",
        "Final labels whose confidence (agreeing share of votes, or the Dawid–Skene "
        "posterior) is below this are left out; 0 keeps every label.",
    ),
    "min_agreement": OptionHelp(
        "Minimum item agreement",
        "Items whose annotators agree on less than this share of pairs are left out; empty "
        "keeps every item.",
    ),
    "include_consensus": OptionHelp(
        "Include consensus labels",
        "Also use labels that a model consensus job accepted without a human (they are "
        "marked as consensus in the rows).",
    ),
    "test_size": OptionHelp(
        "Test share (split by group)",
        "Share of groups (a problem, a question) written to a test split; a group is wholly "
        "in one split, so the test set shares no problem with training. 0: one train split.",
    ),
    "seed": OptionHelp(
        "Seed", "Fixes which groups go to the test split and which rows balancing keeps."
    ),
    "dedup": OptionHelp(
        "Remove duplicates", "Leave out a row identical to an earlier one (ids and sources aside)."
    ),
    "balance": OptionHelp(
        "Balance classes",
        "Keep as many rows of the larger class (e.g. traces with an error) as of the smaller "
        "one, dropping a seeded share of the larger.",
    ),
    "file_format": OptionHelp(
        "File format",
        "JSON Lines (one record a line), one JSON array, or Parquet (columnar, compressed).",
        (("jsonl", "JSON Lines"), ("json", "JSON"), ("parquet", "Parquet")),
    ),
    "ties": OptionHelp(
        "Ties",
        "A pair rated “about the same” gives no preference pair: leave it out, or write it "
        "to its own “ties” file.",
        (("drop", "Leave ties out"), ("separate", "Write ties to a separate file")),
    ),
    "pairs": OptionHelp(
        "Pairs",
        "With more than two candidates: every ranked pair, or the best candidate against each "
        "of the others.",
        (("all", "Every ranked pair"), ("best_vs_rest", "Best against the rest")),
    ),
    "neutral": OptionHelp(
        "Neutral steps (rated 0)",
        "How a step rated 0 (neither helpful nor wrong) is written: as correct, as "
        "incorrect, or left out of the trace's steps.",
        (
            ("true", "Count as correct"),
            ("false", "Count as incorrect"),
            ("drop", "Leave the step out"),
        ),
    ),
    "mc_values": OptionHelp(
        "Monte Carlo values",
        "Add each step's Monte Carlo estimate (share of rollouts reaching the right answer) "
        "where a model job computed one.",
    ),
    "truncate_after_first_error": OptionHelp(
        "End at the first error",
        "End each trace at its first wrong step (later steps have no labels under "
        "first-error labeling).",
    ),
}


def _option_words(name: str, value: Any) -> str:
    return f"{OPTION_HELP[name].label.lower()} {value}" if name in OPTION_HELP else str(value)


def dropped_explained(dropped: Mapping[str, int], options: Mapping[str, Any]) -> list[str]:
    """One sentence per reason rows or items were left out, with the count, the reason and
    how to include them; unknown reasons are named as they are."""
    out = []
    for reason, n in sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0])):
        if not n:
            continue
        text = _DROPPED.get(reason)
        if text is None:
            out.append(f"{n:,} left out: {reason.replace('_', ' ')}.")
            continue
        out.append(text(n, options))
    return out


def _s(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


_DROPPED: dict[str, Any] = {
    "tie": lambda n, o: (
        f"{_s(n, 'tie', 'ties')}: a pair rated “about the same” gives no preference pair. "
        "To export ties, set Ties to “Write ties to a separate file”."
    ),
    "duplicate": lambda n, o: (
        f"{_s(n, 'duplicate row', 'duplicate rows')}: identical to an earlier row. "
        "Turn off Remove duplicates to keep them."
    ),
    "balance": lambda n, o: (
        f"{_s(n, 'row', 'rows')} of the larger class left out to balance the classes. "
        "Turn off Balance classes to keep them."
    ),
    "min_confidence": lambda n, o: (
        f"{_s(n, 'label', 'labels')} below the minimum confidence "
        f"({o.get('min_confidence')}). Lower Minimum confidence to include them."
    ),
    "min_agreement": lambda n, o: (
        f"{_s(n, 'item', 'items')} whose annotators agree less than the minimum item "
        f"agreement ({o.get('min_agreement')}). Lower or clear it to include them."
    ),
    "no_labels": lambda n, o: (
        f"{_s(n, 'item', 'items')} without labels from the chosen sources "
        f"({o.get('sources', 'annotators')}): nothing to export for them yet."
    ),
    "finish_reason": lambda n, o: (
        f"{_s(n, 'trace', 'traces')} that the labeler ended as "
        f"{' or '.join(str(x).replace('_', ' ') for x in o.get('exclude_finish_reasons', [])) or 'excluded'}"
        " (option exclude_finish_reasons, REST only)."
    ),
}
