"""Any OpenAI-compatible completions server (vLLM, SGLang, TGI, llama.cpp server, Ollama).

Uses `/v1/completions` with `n` and `logprobs`; requests run in a thread pool capped at
`concurrency`. HTTP 429, 5xx, timeouts and refused connections are retried with exponential
backoff and then raised as `BackendUnavailable`, which the chunk task retries later; other
HTTP errors are `BackendError` and fail the job.
"""

from __future__ import annotations

import json
import math
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings

from labeling_jobs.backends.base import (
    BackendError,
    BackendUnavailable,
    Completion,
    ModelBackend,
    SamplingParams,
)

TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAIBackend(ModelBackend):
    name = "openai"

    def __init__(
        self,
        model_name: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        concurrency: int | None = None,
        max_retries: int = 5,
        backoff_seconds: float = 0.5,
        timeout_seconds: float = 120.0,
        top_logprobs: int = 20,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(model_name)
        self.base_url = (
            base_url or settings.STEPWISE_OPENAI_BASE_URL or "http://127.0.0.1:8001/v1"
        ).rstrip("/")
        self.api_key = api_key if api_key is not None else settings.STEPWISE_OPENAI_API_KEY
        self.concurrency = concurrency or settings.STEPWISE_OPENAI_CONCURRENCY
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.top_logprobs = top_logprobs
        self._sleep = sleep or time.sleep
        self.requests_retried = 0

    # --- HTTP ----------------------------------------------------------------------
    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if not self.base_url.startswith(("http://", "https://")):
            raise BackendError(f"base URL must be http(s): {self.base_url}")
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.max_retries + 1):
            req = urllib.request.Request(  # noqa: S310 - scheme checked above
                self.base_url + path, data=data, headers=headers, method="POST"
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_seconds) as resp:  # noqa: S310
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                if exc.code not in TRANSIENT_STATUS:
                    detail = exc.read()[:300].decode(errors="replace")
                    raise BackendError(f"{self.base_url}{path}: HTTP {exc.code}: {detail}") from exc
                last = f"HTTP {exc.code}"
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
            except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
                last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
                retry_after = None
            if attempt == self.max_retries:
                break
            self.requests_retried += 1
            delay = self.backoff_seconds * (2**attempt) * (1 + random.random() / 4)  # noqa: S311
            if retry_after and retry_after.replace(".", "", 1).isdigit():
                delay = max(delay, float(retry_after))
            self._sleep(min(delay, 60.0))
        raise BackendUnavailable(
            f"{self.base_url}{path}: {last} after {self.max_retries + 1} attempts"
        )

    def _map(self, fn: Callable[[Any], Any], args: Sequence[Any]) -> list[Any]:
        if len(args) <= 1 or self.concurrency <= 1:
            return [fn(a) for a in args]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(args))) as pool:
            return list(pool.map(fn, args))

    # --- interface -------------------------------------------------------------------
    def chat_prompt(self, messages: Sequence[dict[str, str]], assistant_prefix: str = "") -> str:
        # The completions endpoint takes raw text; ChatML is what most open chat models use.
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return text + "<|im_start|>assistant\n" + assistant_prefix

    def _complete(self, prompt: str, *, n: int, max_tokens: int, temperature: float,
                  top_p: float, seed: int | None, logprobs: int | None = None) -> dict[str, Any]:  # fmt: skip
        body: dict[str, Any] = {
            "model": self.model_name,
            "prompt": prompt,
            "n": n,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": top_p,
        }
        if seed is not None:
            body["seed"] = seed
        if logprobs is not None:
            body["logprobs"] = logprobs
        reply = self._post("/completions", body)
        if not isinstance(reply.get("choices"), list):
            raise BackendError(f"reply without choices: {str(reply)[:200]}")
        usage = reply.get("usage") or {}
        self.tokens_generated += int(usage.get("completion_tokens") or 0)
        return reply

    @staticmethod
    def _completion(choice: dict[str, Any], n_tokens: int) -> Completion:
        finish = choice.get("finish_reason") or "stop"
        return Completion(
            text=choice.get("text") or "",
            finish_reason="length" if finish == "length" else "stop",
            n_tokens=n_tokens,
        )

    def _choices(self, reply: dict[str, Any], n: int) -> list[Completion]:
        choices = sorted(reply["choices"], key=lambda c: c.get("index", 0))
        total = int((reply.get("usage") or {}).get("completion_tokens") or 0)
        return [self._completion(c, total // max(1, len(choices))) for c in choices[:n]]

    def sample(
        self, prompts: Sequence[str], *, n: int, params: SamplingParams
    ) -> list[list[Completion]]:
        def one(pair: tuple[int, str]) -> list[Completion]:
            i, prompt = pair
            seed = None if params.seed is None else params.seed + i
            reply = self._complete(prompt, n=n, max_tokens=params.max_new_tokens,
                                   temperature=params.temperature, top_p=params.top_p, seed=seed)  # fmt: skip
            return self._choices(reply, n)

        return self._map(one, list(enumerate(prompts)))

    def greedy(self, prompts: Sequence[str], *, max_new_tokens: int) -> list[Completion]:
        def one(prompt: str) -> Completion:
            reply = self._complete(prompt, n=1, max_tokens=max_new_tokens, temperature=0.0,
                                   top_p=1.0, seed=None)  # fmt: skip
            return self._choices(reply, 1)[0]

        return self._map(one, list(prompts))

    def next_token_logprobs(
        self, prompts: Sequence[str], candidates: Sequence[str]
    ) -> list[dict[str, float]]:
        """From the top-k log-probabilities of the first generated position. Tokens that
        match a candidate (same text up to leading whitespace, or a prefix of it) are summed;
        a candidate outside the top k gets the smallest returned value, an upper bound."""

        def one(prompt: str) -> dict[str, float]:
            reply = self._complete(prompt, n=1, max_tokens=1, temperature=0.0, top_p=1.0,
                                   seed=None, logprobs=self.top_logprobs)  # fmt: skip
            lp = (reply["choices"][0].get("logprobs") or {}).get("top_logprobs") or []
            if not lp or not isinstance(lp[0], dict) or not lp[0]:
                raise BackendError("the server returned no top_logprobs; is logprobs supported?")
            top: dict[str, float] = lp[0]
            floor = min(top.values())
            out: dict[str, float] = {}
            for cand in candidates:
                want = cand.strip()
                hits = [v for t, v in top.items() if t.strip() and want.startswith(t.strip())]
                if hits:
                    m = max(hits)
                    out[cand] = m + math.log(sum(math.exp(v - m) for v in hits))
                else:
                    out[cand] = floor
            return out

        return self._map(one, list(prompts))

    def prm_step_scores(self, traces: Sequence[Any], **kwargs: Any) -> list[list[float | None]]:
        """Refused: a completions server returns text and token log-probabilities, not the
        per-step outputs of a reward head."""
        raise BackendError(
            f"{self.base_url}: an OpenAI-compatible server cannot serve a PRM (no reward head "
            "outputs per step); run prm_score with the transformers backend"
        )
