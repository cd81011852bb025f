"""Scoring many prompts that share a prefix in one forward pass ("tree attention").

A verify job asks, for every step k of a trace, P(Yes) after "problem, steps 1..k, is step k
correct?". Encoding each of those prompts from scratch repeats the problem and the earlier
steps once per step (quadratic in the number of steps). Here a trace is one sequence: the
trunk (problem and all steps, encoded once) followed by every branch (the question about
step k). A 4-D attention mask lets branch k see the trunk up to the end of step k and itself
only, and its position ids continue from there, so each branch computes exactly what its own
prompt would. Traces are batched with left padding; only the hidden states at the scored
positions go through the output head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

TRUNK = -1
PAD = -2


@dataclass(frozen=True)
class Tree:
    """A trunk of token ids and branches (cut, ids): branch j continues trunk[:cut].
    `marks` are trunk positions to read as well (a PRM's step positions)."""

    trunk: list[int]
    branches: list[tuple[int, list[int]]]
    marks: list[int] = field(default_factory=list)

    @property
    def length(self) -> int:
        return len(self.trunk) + sum(len(ids) for _, ids in self.branches)


def tree_batch(
    trees: Sequence[Tree], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[list[int]]]:
    """(input ids, position ids, boolean mask batch x 1 x N x N, per tree the indexes to
    read: its marks, then the last token of each branch), left-padded to the longest tree."""
    n = max(t.length for t in trees)
    b = len(trees)
    ids = torch.full((b, n), pad_id, dtype=torch.long)
    pos = torch.zeros((b, n), dtype=torch.long)
    seg = torch.full((b, n), PAD, dtype=torch.long)  # TRUNK, branch number, or PAD
    tpos = torch.full((b, n), n + 1, dtype=torch.long)  # trunk index of trunk tokens
    limit = torch.zeros((b, n), dtype=torch.long)  # trunk tokens a position may see
    last: list[list[int]] = []
    for row, tree in enumerate(trees):
        at = n - tree.length
        t = len(tree.trunk)
        ids[row, at : at + t] = torch.tensor(tree.trunk, dtype=torch.long)
        pos[row, at : at + t] = torch.arange(t)
        seg[row, at : at + t] = TRUNK
        tpos[row, at : at + t] = torch.arange(t)
        limit[row, at : at + t] = torch.arange(1, t + 1)
        ends = [at + m for m in tree.marks]
        at += t
        for j, (cut, branch) in enumerate(tree.branches):
            m = len(branch)
            ids[row, at : at + m] = torch.tensor(branch, dtype=torch.long)
            pos[row, at : at + m] = torch.arange(cut, cut + m)
            seg[row, at : at + m] = j
            limit[row, at : at + m] = cut
            at += m
            ends.append(at - 1)
        last.append(ends)
    q = torch.arange(n)
    sees_trunk = (seg[:, None, :] == TRUNK) & (tpos[:, None, :] < limit[:, :, None])
    same_branch = (
        (seg[:, :, None] == seg[:, None, :]) & (seg[:, :, None] >= 0) & (q[None, None, :] <= q[None, :, None])
    )  # fmt: skip
    mask = sees_trunk | same_branch | torch.eye(n, dtype=torch.bool)[None]
    return ids, pos, mask[:, None], last


def base_and_head(model: Any) -> tuple[Any, Any]:
    """The model's transformer body and its output head (lm_head, or a PRM's score head)."""
    body = getattr(model, model.base_model_prefix, None)
    if body is None:
        raise ValueError(f"{type(model).__name__} has no base model")
    for name in ("score", "classifier"):
        head = getattr(model, name, None)
        if head is not None:
            return body, head
    head = model.get_output_embeddings()
    if head is None:
        raise ValueError(f"{type(model).__name__} has no output head")
    return body, head


def _mask_for(model: Any, mask: torch.Tensor) -> torch.Tensor:
    if getattr(model.config, "_attn_implementation", "sdpa") == "sdpa":
        return mask
    additive = torch.zeros(mask.shape, dtype=model.dtype, device=mask.device)
    return additive.masked_fill_(~mask, torch.finfo(model.dtype).min)


def head_outputs_at(
    model: Any,
    ids: torch.Tensor,
    positions: torch.Tensor,
    mask: torch.Tensor,
    gather: list[list[int]],
) -> list[torch.Tensor]:
    """Head outputs (float32) at the gathered positions of each row, one tensor per row."""
    body, head = base_and_head(model)
    device = next(model.parameters()).device
    with torch.inference_mode():
        hidden = body(
            input_ids=ids.to(device),
            attention_mask=_mask_for(model, mask.to(device)),
            position_ids=positions.to(device),
            use_cache=False,
        ).last_hidden_state
        rows = torch.tensor([r for r, idx in enumerate(gather) for _ in idx], dtype=torch.long)
        cols = torch.tensor([c for idx in gather for c in idx], dtype=torch.long)
        picked = head(hidden[rows.to(device), cols.to(device)]).float().cpu()
    out, at = [], 0
    for idx in gather:
        out.append(picked[at : at + len(idx)])
        at += len(idx)
    return out


def token_budget_batches(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Indexes grouped longest first so that rows x longest row stays within `budget`
    tokens (a row longer than the budget goes alone)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= budget:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def tree_logprobs(
    model: Any, trees: Sequence[Tree], token_ids: Sequence[int], *, pad_id: int, budget: int
) -> list[list[list[float]]]:
    """log P(next token = each of `token_ids`) at the end of every branch of every tree."""
    results: list[list[list[float]]] = [[] for _ in trees]
    want = torch.tensor(list(token_ids), dtype=torch.long)
    for group in token_budget_batches([t.length for t in trees], budget):
        ids, pos, mask, last = tree_batch([trees[i] for i in group], pad_id)
        for i, logits in zip(group, head_outputs_at(model, ids, pos, mask, last), strict=True):
            logp = torch.log_softmax(logits, dim=-1)[:, want]
            results[i] = logp.tolist()
    return results
