"""Process reward models through transformers: every step of a trace scored in one forward
pass, traces batched with left padding.

Two layouts, chosen by the model's settings (`model_settings.ModelFormat`), never by name:

- token classification (TRL's PRMTrainer): `[bos] problem step_1 sep step_2 sep ...`, each
  piece tokenised on its own exactly as `PRMTrainer.tokenize_row` does in training; the
  two-class head is read at the last token of each `step + sep`.
- step tag (Math-Shepherd): `problem Step 1: ... <tag>\\nStep 2: ... <tag>`, tokenised as one
  string; at each tag the causal LM's logits of the positive and negative tokens give P(+).

A step past the model's `max_length` gets no score (None).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

from labeling_jobs.backends.base import BackendError
from labeling_jobs.hardware import cpu_dtype_name
from labeling_jobs.model_settings import ModelFormat, ModelSettings

_STEP_PREFIX = re.compile(r"^\s*Step\s+\d+\s*:", re.IGNORECASE)
_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str], tuple[Any, Any]] = {}

Trace = tuple[str, Sequence[str]]


def load_prm(model: ModelSettings) -> tuple[Any, Any]:
    """(model, tokenizer) of a PRM, loaded once per process."""
    if not model.is_prm:
        raise BackendError(f"{model.name} is not a PRM (its settings say format {model.format})")
    key = (model.name, model.format)
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
        import torch
        from transformers import (
            AutoModelForCausalLM,
            AutoModelForTokenClassification,
            AutoTokenizer,
        )

        from labeling_jobs.backends.transformers_backend import resolve_model_path

        path, local_only = resolve_model_path(model.path or model.name)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if device == "cuda" else getattr(torch, cpu_dtype_name())
        cls = (
            AutoModelForTokenClassification
            if model.format == ModelFormat.PRM_TOKEN_CLASSIFICATION
            else AutoModelForCausalLM
        )
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
            loaded = cls.from_pretrained(path, local_files_only=local_only, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot load PRM {model.name!r}: {exc}") from exc
        loaded.to(device).eval()
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        _LOADED[key] = (loaded, tokenizer)
        return _LOADED[key]


def encode_token_classification(
    tokenizer: Any, problem: str, steps: Sequence[str], separator: str
) -> tuple[list[int], list[int]]:
    """(input ids, index of each step's scored token), as `PRMTrainer.tokenize_row`."""
    ids = tokenizer(problem, add_special_tokens=False)["input_ids"]
    if tokenizer.bos_token_id is not None:
        ids = [tokenizer.bos_token_id, *ids]
    sep = tokenizer.encode(separator, add_special_tokens=False)
    marks = []
    for step in steps:
        ids = ids + tokenizer(step, add_special_tokens=False)["input_ids"] + sep
        marks.append(len(ids) - 1)
    return ids, marks


def step_tag_text(problem: str, steps: Sequence[str], tag: str) -> tuple[str, list[int]]:
    """The Math-Shepherd input string and the character offset where each tag ends (the
    same layout as the `math_shepherd` exporter)."""
    text = problem.replace(tag, "").strip() + " "
    ends = []
    for k, step in enumerate(steps, start=1):
        clean = step.replace(tag, "").strip()
        if not _STEP_PREFIX.match(clean):
            clean = f"Step {k}: {clean}"
        text += ("\n" if k > 1 else "") + f"{clean} {tag}"
        ends.append(len(text))
    return text, ends


def encode_step_tag(
    tokenizer: Any, problem: str, steps: Sequence[str], tag: str
) -> tuple[list[int], list[int]]:
    """(input ids, index of the token that ends each step's tag)."""
    if not getattr(tokenizer, "is_fast", False):
        raise BackendError("step-tag PRMs need a fast tokenizer (for character offsets)")
    text, ends = step_tag_text(problem, steps, tag)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = enc["offset_mapping"]
    marks = []
    for end in ends:
        hit = [i for i, (a, b) in enumerate(offsets) if a < end <= b]
        if not hit:
            raise BackendError(f"the step tag {tag!r} has no token of its own")
        marks.append(hit[-1])
    return list(enc["input_ids"]), marks


def single_token(tokenizer: Any, text: str, what: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise BackendError(f"{what} {text!r} must be one token; it encodes to {len(ids)}")
    return ids[0]


def prm_step_scores(
    model: ModelSettings, traces: Sequence[Trace], *, token_budget: int = 8192
) -> list[list[float | None]]:
    """P(step is correct) for every step of every trace; None past `max_length`."""
    import torch

    from labeling_jobs.backends.shared_prefix import (
        Tree,
        head_outputs_at,
        token_budget_batches,
        tree_batch,
    )

    loaded, tokenizer = load_prm(model)
    tag_model = model.format == ModelFormat.PRM_STEP_TAG
    if tag_model:
        pos_id = single_token(tokenizer, model.positive_token, "positive_token")
        neg_id = single_token(tokenizer, model.negative_token, "negative_token")
    encoded = []
    for problem, steps in traces:
        if tag_model:
            ids, marks = encode_step_tag(tokenizer, problem, steps, model.step_tag)
        else:
            ids, marks = encode_token_classification(
                tokenizer, problem, steps, model.step_separator
            )
        limit = min(model.max_length, len(ids))
        encoded.append((ids[:limit], [m for m in marks if m < limit], len(marks)))
    results: list[list[float | None]] = [[] for _ in traces]
    lengths = [max(1, len(ids)) for ids, _, _ in encoded]
    for group in token_budget_batches(lengths, token_budget):
        trees = [Tree(encoded[i][0] or [tokenizer.pad_token_id], [], marks=encoded[i][1])
                 for i in group]  # fmt: skip
        ids, pos, mask, gather = tree_batch(trees, tokenizer.pad_token_id)
        outs = head_outputs_at(loaded, ids, pos, mask, gather)
        for i, logits in zip(group, outs, strict=True):
            if tag_model:
                probs = torch.softmax(logits[:, [pos_id, neg_id]], dim=-1)[:, 0]
            else:
                probs = torch.softmax(logits, dim=-1)[:, model.positive_label]
            scores: list[float | None] = [float(p) for p in probs]
            results[i] = scores + [None] * (encoded[i][2] - len(scores))
    return results


def first_below(scores: Sequence[float | None], threshold: float) -> int | None:
    """The first step scored under the threshold, -1 when every step passes; None when no
    step fails among the scored ones but some steps have no score."""
    for i, s in enumerate(scores):
        if s is None:
            return None
        if s < threshold:
            return i
    return -1
