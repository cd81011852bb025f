"""The one interface every model backend offers: what the labeling methods need, no more."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass


class BackendError(Exception):
    """A backend cannot serve the request (bad model path, bad reply); not retried."""


class BackendUnavailable(BackendError):  # noqa: N818 - the style guide's name for it
    """A transient failure (HTTP 429/5xx, timeout, connection refused): the task retries it."""


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 1.0
    seed: int | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    # "stop" (end of sequence or a stop string) or "length" (hit max_new_tokens).
    finish_reason: str
    n_tokens: int


class ModelBackend(ABC):
    """Text in, text or log-probabilities out. Prompts are complete strings (chat templates
    are applied by `chat_prompt`), so methods never depend on one backend's message format."""

    name: str = ""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.tokens_generated = 0

    @abstractmethod
    def chat_prompt(self, messages: Sequence[dict[str, str]], assistant_prefix: str = "") -> str:
        """The prompt string for a chat, ending where the assistant's answer starts (plus
        `assistant_prefix`, e.g. the steps of a trace so far)."""

    @abstractmethod
    def sample(
        self, prompts: Sequence[str], *, n: int, params: SamplingParams
    ) -> list[list[Completion]]:
        """n sampled continuations of each prompt, in prompt order."""

    @abstractmethod
    def greedy(self, prompts: Sequence[str], *, max_new_tokens: int) -> list[Completion]:
        """The greedy continuation of each prompt."""

    @abstractmethod
    def next_token_logprobs(
        self, prompts: Sequence[str], candidates: Sequence[str]
    ) -> list[dict[str, float]]:
        """For each prompt, log P(next token = first token of candidate) for each candidate.

        Candidates whose first tokens collide are the caller's problem (see
        `distinct_first_tokens`)."""

    def chat_parts(self) -> tuple[str, str]:
        """The prompt text before and after the content of a single user message, so that
        callers can build prompts from pieces that share a prefix."""
        mark = "\x00STEPWISE-CONTENT\x00"
        head, sep, tail = self.chat_prompt([{"role": "user", "content": mark}]).partition(mark)
        if not sep:
            raise BackendError("the chat template dropped the message content")
        return head, tail

    def branch_logprobs(
        self,
        trunks: Sequence[Sequence[str]],
        branches: Sequence[Sequence[tuple[int, str]]],
        candidates: Sequence[str],
    ) -> list[list[dict[str, float]]]:
        """Next-token log-probabilities of prompts that share prefixes: for trunk t (text
        pieces) and each of its branches (k, suffix), the prompt is pieces[0..k] + suffix.
        Returns one dict per branch, per trunk. This default sends every prompt on its own
        (a server with prefix caching shares the work); local backends encode each trunk
        once."""
        prompts = [
            "".join(pieces[: k + 1]) + suffix
            for pieces, brs in zip(trunks, branches, strict=True)
            for k, suffix in brs
        ]
        flat = self.next_token_logprobs(prompts, candidates) if prompts else []
        out, at = [], 0
        for brs in branches:
            out.append(flat[at : at + len(brs)])
            at += len(brs)
        return out

    def distinct_first_tokens(self, candidates: Sequence[str]) -> bool:
        """Whether the candidates start with different tokens (so their scores differ)."""
        return True


def normalise(logprobs: dict[str, float]) -> dict[str, float]:
    """Probabilities over the candidates only (softmax of their log-probabilities)."""
    import math

    if not logprobs:
        return {}
    top = max(logprobs.values())
    exps = {k: math.exp(v - top) for k, v in logprobs.items()}
    total = sum(exps.values())
    return {k: v / total for k, v in exps.items()}
