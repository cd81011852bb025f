"""Readable text for job pages: scope, statistic names, verdicts, durations."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()

STAT_LABELS = {
    "verdicts": "Verdicts",
    "no_verdict": "No verdict",
    "rollouts": "Rollouts",
    "per_step_rollouts": "Per-step rollouts (for comparison)",
    "truncated": "Rollouts cut at the token limit",
    "unparsed": "Rollouts without an answer",
    "routed": "Routed to humans",
    "agreed": "Judge and MC agree",
    "auto_labeled": "Auto-labeled",
    "consistent": "Consistent pairs",
    "inconsistent": "Inconsistent pairs",
    "turns_coded": "Turns coded",
    "train_traces": "Training traces",
    "heldout_traces": "Held-out traces",
    "train_steps": "Optimiser steps",
    "trainable_params": "Trained parameters",
    "total_params": "Parameters",
}


@register.filter
def stat_label(key: str) -> str:
    if key in STAT_LABELS:
        return STAT_LABELS[key]
    if key.startswith("routed: "):
        return f"Routed: {key[8:]}"
    return key.replace("_", " ").capitalize()


@register.filter
def scope_text(scope: dict[str, Any] | None) -> str:
    scope = scope or {}
    parts = []
    if scope.get("dataset_id"):
        parts.append(f"dataset #{scope['dataset_id']}")
    if scope.get("item_ids"):
        parts.append(f"{len(scope['item_ids'])} chosen items")
    if scope.get("external_ids"):
        parts.append(f"{len(scope['external_ids'])} items by external id")
    if "is_complete" in scope:
        parts.append("complete items" if scope["is_complete"] else "items still open")
    text = ", ".join(parts) or "whole project"
    if scope.get("limit"):
        n = int(scope["limit"])
        text += f", at most {n} item{'s' if n != 1 else ''}"
    return text[0].upper() + text[1:]


@register.filter
def verdict_text(label: str | None) -> str:
    if label is None or label in ("", "none"):
        return "No verdict"
    if label == "-1":
        return "No error found"
    if label.lstrip("-").isdigit():
        return f"First error at step {int(label) + 1}"
    return label


@register.filter
def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(round(float(seconds)))
    if s < 90:
        return f"{s} s"
    if s < 5400:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * float(value):.0f}%"


MODE_TEXT = {
    "verify": "verify mode (the probability that each step is correct)",
    "critique": "critique mode (the model writes a critique naming the first wrong step)",
}


@register.filter
def mode_text(mode: str | None) -> str:
    """A job's `params.mode` in words."""
    if not mode:
        return ""
    return MODE_TEXT.get(str(mode), str(mode).replace("_", " "))


@register.filter
def no_verdict_reason(raw: dict[str, Any] | None) -> str:
    """Why an item answer has no verdict, from its raw output: critiques cut at the token
    limit, or ending without a step number in \\boxed{}."""
    raw = raw or {}
    outputs = raw.get("outputs") or []
    if not outputs:
        return str(raw.get("reason") or "")
    finish = list(raw.get("finish_reasons") or [])
    n = len(outputs)
    cut = sum(1 for f in finish if f == "length")
    unboxed = n - cut
    parts = []
    if cut:
        who = "it was" if n == 1 else f"{cut} {'was' if cut == 1 else 'were'}"
        parts.append(
            f"{who} cut at the token limit before naming a step (raise max_new_tokens, or use "
            "verify mode)"
        )
    if unboxed:
        who = "it" if n == 1 else str(unboxed)
        parts.append(
            f"{who} ended without a step number in \\boxed{{}} (the model did not follow the "
            "answer format)"
        )
    noun = "critique" if n == 1 else f"{n} critiques"
    lead = f"The {noun} gave no verdict" if n == 1 else f"None of the {noun} gave a verdict"
    return f"{lead}: " + "; ".join(parts) + "."
