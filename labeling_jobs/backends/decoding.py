"""A generation loop for local models that keeps decoding cheap on a CPU.

`transformers`' `generate` grows a `DynamicCache` by concatenation at every step (each layer's
keys and values are copied once per new token) and keeps decoding rows that have already
ended. Here the cache is allocated once for the whole run and written in place
(`BufferLayer`), rows that stopped are dropped from the batch as they finish, the attention
mask is a ready 4-D boolean (no mask building per step), and the prompts of a batch are
prefilled once, their cache then shared by the n samples of each prompt.

The loop returns token ids; the backend decodes them. Sampling follows `generate`'s
temperature and nucleus (top-p) filtering, seeded through a `torch.Generator`.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer

# Drop finished rows from the batch once this share of the rows still running has stopped.
COMPACT_SHARE = 0.25


class BufferLayer(DynamicLayer):
    """One layer's keys and values in buffers allocated once (`capacity` positions); an
    update copies the new positions in place and returns views up to the current length."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.length = 0
        self.kbuf: torch.Tensor | None = None
        self.vbuf: torch.Tensor | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        b, h, _, dk = key_states.shape
        self.kbuf = key_states.new_empty((b, h, self.capacity, dk))
        self.vbuf = value_states.new_empty((b, h, self.capacity, value_states.shape[-1]))
        self.is_initialized = True

    def _views(self) -> None:
        if self.kbuf is None or self.vbuf is None:
            return
        self.keys = self.kbuf[:, :, : self.length]
        self.values = self.vbuf[:, :, : self.length]

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        if self.kbuf is None or self.vbuf is None:
            raise RuntimeError("cache buffers were not allocated")
        n = key_states.shape[-2]
        if self.length + n > self.capacity:
            raise RuntimeError(f"cache capacity {self.capacity} exceeded")
        self.kbuf[:, :, self.length : self.length + n].copy_(key_states)
        self.vbuf[:, :, self.length : self.length + n].copy_(value_states)
        self.length += n
        self._views()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.length + query_length, 0

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.kbuf is not None and self.vbuf is not None:
            self.kbuf = self.kbuf.repeat_interleave(repeats, dim=0)
            self.vbuf = self.vbuf.repeat_interleave(repeats, dim=0)
            self._views()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.kbuf is not None and self.vbuf is not None:
            self.kbuf = self.kbuf.index_select(0, indices)
            self.vbuf = self.vbuf.index_select(0, indices)
            self._views()


def cache_kwarg(model: Any) -> str:
    """transformers 5.x renamed `past_key_values` to `cache`; older versions only know the
    former."""
    import inspect

    params = inspect.signature(type(model).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def buffer_cache(model: Any, capacity: int) -> Cache:
    n_layers = model.config.get_text_config().num_hidden_layers
    return Cache(layers=[BufferLayer(capacity) for _ in range(n_layers)])


def attention_mask_for(model: Any, valid: torch.Tensor, query_length: int = 1) -> torch.Tensor:
    """A mask for one new position per row over `valid` (rows x keys): a 4-D boolean for
    SDPA and eager attention (used as is), else the 2-D mask for the model to expand."""
    impl = getattr(model.config, "_attn_implementation", "sdpa")
    if impl == "sdpa" and query_length == 1:
        return valid[:, None, None, :]
    if impl == "eager" and query_length == 1:
        mask = torch.zeros(valid.shape, dtype=model.dtype, device=valid.device)
        mask.masked_fill_(~valid, torch.finfo(model.dtype).min)
        return mask[:, None, None, :]
    return valid.long()


def choose_tokens(
    logits: torch.Tensor, *, temperature: float | None, top_p: float, generator: torch.Generator
) -> torch.Tensor:
    """Greedy (temperature None or 0) or sampled next tokens for a batch of logits."""
    if not temperature:
        return logits.argmax(dim=-1)
    scores = logits.float() / temperature
    if top_p < 1.0:
        sorted_scores, order = scores.sort(dim=-1, descending=True)
        cum = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        # Keep the smallest set whose mass reaches top_p (always the most likely token).
        drop = cum - sorted_scores.softmax(dim=-1) >= top_p
        sorted_scores = sorted_scores.masked_fill(drop, float("-inf"))
        scores = torch.full_like(scores, float("-inf")).scatter(-1, order, sorted_scores)
    probs = scores.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def generate_ids(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    n: int,
    max_new_tokens: int,
    eos_ids: list[int],
    pad_id: int,
    temperature: float | None = None,
    top_p: float = 1.0,
    seed: int | None = None,
) -> torch.Tensor:
    """Continuations of left-padded prompts: (rows x n) x max_new_tokens token ids, row
    i*n+j the j-th sample of prompt i; positions after a row's end-of-sequence are padding."""
    device = input_ids.device
    generator = torch.Generator(device=device)
    if seed is not None:
        generator.manual_seed(seed)
    b, p = input_ids.shape
    cache = buffer_cache(model, p + max_new_tokens)
    ckw = cache_kwarg(model)
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    out = model(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
        use_cache=True, logits_to_keep=1, **{ckw: cache},
    )  # fmt: skip
    logits = out.logits[:, -1, :]
    valid = torch.zeros((b, p + max_new_tokens), dtype=torch.bool, device=device)
    valid[:, :p] = attention_mask.bool()
    next_pos = positions[:, -1] + 1
    if n > 1:
        cache.batch_repeat_interleave(n)
        logits = logits.repeat_interleave(n, dim=0)
        valid = valid.repeat_interleave(n, dim=0)
        next_pos = next_pos.repeat_interleave(n, dim=0)
    rows = torch.arange(b * n, device=device)  # original row of each running row
    generated = torch.full((b * n, max_new_tokens), pad_id, dtype=torch.long, device=device)
    eos = torch.tensor(sorted(set(eos_ids)) or [-1], device=device)
    stopped = torch.zeros(b * n, dtype=torch.bool, device=device)
    for step in range(max_new_tokens):
        tokens = choose_tokens(logits, temperature=temperature, top_p=top_p, generator=generator)
        generated[rows, step] = tokens
        stopped |= torch.isin(tokens, eos)
        n_stopped = int(stopped.sum())
        if n_stopped == len(rows) or step == max_new_tokens - 1:
            break
        if n_stopped and n_stopped >= COMPACT_SHARE * len(rows):
            keep = (~stopped).nonzero().squeeze(-1)
            cache.batch_select_indices(keep)
            rows, tokens, valid = rows[keep], tokens[keep], valid[keep]
            next_pos, stopped = next_pos[keep], stopped[keep]
        valid[:, p + step] = True
        out = model(
            input_ids=tokens[:, None],
            attention_mask=attention_mask_for(model, valid[:, : p + step + 1]),
            position_ids=next_pos[:, None],
            use_cache=True,
            **{ckw: cache},
        )
        logits = out.logits[:, -1, :]
        next_pos = next_pos + 1
    return generated
