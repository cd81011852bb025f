"""Job throughput with the demo model on real ProcessBench GSM8K traces, per method.

1. MC rollouts: generated tokens/s (a) naively, one `generate` call per rollout, (b) as the
   backend did before (`generate` continuing a prefilled DynamicCache shared by n samples),
   (c) as it does now (`decoding.generate_ids`: a cache allocated once and written in place,
   finished rows dropped, a ready boolean mask), and fraction of the CPU roofline.
2. Step judge, critique: the same items' critiques with `generate` (before) and with
   `generate_ids` (now), all items of the chunk in one batch: tokens/s and traces/s.
3. Step judge, verify: one prompt per step (before) vs one forward pass per trace with the
   per-step questions as branches (`shared_prefix`): traces/s, tokens encoded.
4. prm_score: a token-classification PRM on the demo model's body (an untrained head: the
   speed is the same): traces/s.
5. Rollouts spent per trace by per-step MC vs first-error (binary) search (expert labels
   stand in for the MC values, so this counts rollouts without generating them).
6. A CPU roofline: FLOPs per token (2 x parameters) against the measured matmul FLOP/s.

    python bench/rollouts.py          # small sizes (< 2 min on a quiet 2-core machine)
    python bench/rollouts.py --full   # 16 prefixes x 8 rollouts x 64 tokens; 6 critiques x
                                      # 128 tokens; 50 verify and 50 PRM traces

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = (
    Path(os.environ.get("STEPWISE_SHARED_DATA", ROOT.parent / "shared" / "data"))
    / "processbench_gsm8k.json"
)


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.embedded")
    os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    import django

    django.setup()


def matmul_flops(seconds: float = 3.0, size: int = 1024, dtype: object = None) -> float:
    import torch

    a = torch.randn(size, size, dtype=dtype or torch.float32)
    b = torch.randn(size, size, dtype=dtype or torch.float32)
    for _ in range(3):
        a @ b
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
    return 2 * size**3 * n / (time.perf_counter() - start)


def prefixes(records: list[dict], count: int, backend) -> list[str]:  # noqa: ANN001
    from labeling_jobs.prompts import solver_messages, steps_prefix

    out = []
    for rec in records:
        for i in range(len(rec["steps"]) - 1):
            out.append(
                backend.chat_prompt(solver_messages(rec["problem"]), steps_prefix(rec["steps"], i))
            )
            if len(out) == count:
                return out
    return out


def rollout_savings(records: list[dict], n_rollouts: int) -> dict:
    from labeling_jobs.methods import search_first_error

    per_step, search, found = [], [], 0
    wrong_per_step = wrong_search = 0
    for rec in records:
        n, label = len(rec["steps"]), rec["label"]
        per_step.append(n_rollouts * (n - 1))
        calls = []

        def estimate(i: int, label: int = label, calls: list = calls) -> float:
            calls.append(i)
            return 0.0 if label != -1 and i >= label else 1.0

        final_correct = bool(rec["final_answer_correct"])
        state = search_first_error(n, final_correct, estimate)
        search.append(n_rollouts * len(calls))
        if not final_correct:
            wrong_per_step += per_step[-1]
            wrong_search += search[-1]
        # exact when the values are monotone and the last step agrees with the final answer
        found += int(state.first_error == label)
    return {
        "traces": len(records),
        "per_step_rollouts_per_trace": sum(per_step) / len(records),
        "search_rollouts_per_trace": sum(search) / len(records),
        "search_over_per_step": sum(search) / sum(per_step),
        "search_finds_expert_first_error": found,
        "final_answer_wrong_traces": sum(1 for r in records if not r["final_answer_correct"]),
        "search_over_per_step_on_wrong_final_answer": wrong_search / wrong_per_step
        if wrong_per_step
        else None,
    }


def generate_before(
    backend,
    prompts: list[str],
    *,
    n: int,
    max_new_tokens: int,
    temperature: float | None,
    seed: int = 0,
) -> int:  # noqa: ANN001
    """The backend's sampling before this change: `generate` on a prefilled DynamicCache."""
    import torch
    from transformers import DynamicCache

    from labeling_jobs.backends.decoding import cache_kwarg

    model, tok = backend.model, backend.tokenizer
    torch.manual_seed(seed)
    kw = {
        "max_new_tokens": max_new_tokens,
        "pad_token_id": tok.pad_token_id,
        "eos_token_id": backend.eos_ids or None,
    }
    if temperature:
        kw.update(do_sample=True, temperature=temperature, top_k=0, top_p=1.0)
    else:
        kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    enc = backend._encode(prompts)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    with torch.inference_mode():
        if n > 1:
            cache = DynamicCache(config=model.config)
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            model(
                input_ids=ids[:, :-1],
                attention_mask=mask[:, :-1],
                position_ids=pos[:, :-1],
                use_cache=True,
                logits_to_keep=1,
                **{cache_kwarg(model): cache},
            )
            cache.batch_repeat_interleave(n)
            out = model.generate(
                input_ids=ids.repeat_interleave(n, 0),
                attention_mask=mask.repeat_interleave(n, 0),
                **{cache_kwarg(model): cache},
                **kw,
            )
        else:
            out = model.generate(input_ids=ids, attention_mask=mask, **kw)
    return sum(c.n_tokens for c in backend._completions(out[:, ids.shape[1] :]))


def timed(fn):  # noqa: ANN001, ANN201
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def note(section: str, value: object) -> None:
    """Progress on stderr as each part finishes (a loaded machine makes this slow)."""
    print(f"[{time.strftime('%H:%M:%S')}] {section}: {json.dumps(value)}", file=sys.stderr,
          flush=True)  # fmt: skip


def critique_bench(backend, records: list[dict], n_items: int, n_tok: int) -> dict:  # noqa: ANN001
    from labeling_jobs.prompts import critique_messages

    recs = records[:n_items]
    prompts = [backend.chat_prompt(critique_messages(r["problem"], r["steps"])) for r in recs]
    before_tokens, before_s = timed(
        lambda: generate_before(backend, prompts, n=1, max_new_tokens=n_tok, temperature=None)
    )
    done = backend.tokens_generated
    _, now_s = timed(lambda: backend.greedy(prompts, max_new_tokens=n_tok))
    now_tokens = backend.tokens_generated - done
    return {
        "items": n_items, "max_new_tokens": n_tok,
        "before": {"tokens": before_tokens, "seconds": round(before_s, 2),
                   "tokens_per_s": round(before_tokens / before_s, 2),
                   "traces_per_s": round(n_items / before_s, 4)},
        "now": {"tokens": now_tokens, "seconds": round(now_s, 2),
                "tokens_per_s": round(now_tokens / now_s, 2),
                "traces_per_s": round(n_items / now_s, 4)},
        "speedup_tokens_per_s": round((now_tokens / now_s) / (before_tokens / before_s), 2),
    }  # fmt: skip


def verify_bench(backend, records: list[dict], n_traces: int) -> dict:  # noqa: ANN001
    from labeling_jobs.prompts import verify_messages, verify_pieces

    recs = records[:n_traces]
    head, tail = backend.chat_parts()
    trunks, branches, prompts = [], [], []
    for r in recs:
        pieces, questions = verify_pieces(r["problem"], r["steps"])
        trunks.append([head + pieces[0], *pieces[1:]])
        branches.append([(k + 1, q + tail) for k, q in enumerate(questions)])
        prompts += [backend.chat_prompt(verify_messages(r["problem"], r["steps"], k))
                    for k in range(len(r["steps"]))]  # fmt: skip
    tok = backend.tokenizer
    naive_tokens = sum(len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts)
    shared_tokens = sum(
        len(tok("".join(t), add_special_tokens=False)["input_ids"])
        + sum(len(tok(q, add_special_tokens=False)["input_ids"]) for _, q in b)
        for t, b in zip(trunks, branches, strict=True)
    )
    _, before_s = timed(lambda: backend.next_token_logprobs(prompts, ["Yes", "No"]))
    _, now_s = timed(lambda: backend.branch_logprobs(trunks, branches, ["Yes", "No"]))
    return {
        "traces": n_traces, "steps": len(prompts),
        "before": {"tokens_encoded": naive_tokens, "seconds": round(before_s, 2),
                   "traces_per_s": round(n_traces / before_s, 3)},
        "now": {"tokens_encoded": shared_tokens, "seconds": round(now_s, 2),
                "traces_per_s": round(n_traces / now_s, 3)},
        "speedup": round(before_s / now_s, 2),
    }  # fmt: skip


def prm_bench(backend, records: list[dict], n_traces: int) -> dict:  # noqa: ANN001
    import tempfile

    from transformers import AutoModelForTokenClassification

    from labeling_jobs.backends.transformers_backend import resolve_model_path
    from labeling_jobs.model_settings import ModelFormat, ModelSettings, settings_write
    from labeling_jobs.prm import prm_step_scores

    folder = Path(tempfile.mkdtemp(prefix="bench-prm-"))
    path, _ = resolve_model_path("demo")
    AutoModelForTokenClassification.from_pretrained(path, num_labels=2).save_pretrained(folder)
    backend.tokenizer.save_pretrained(folder)
    model = ModelSettings(name=str(folder), path=str(folder),
                          format=ModelFormat.PRM_TOKEN_CLASSIFICATION)  # fmt: skip
    settings_write(folder, model)
    traces = [(r["problem"], r["steps"]) for r in records[:n_traces]]
    prm_step_scores(model, traces[:1])  # load
    _, seconds = timed(lambda: prm_step_scores(model, traces))
    return {"traces": n_traces, "seconds": round(seconds, 2),
            "traces_per_s": round(n_traces / seconds, 3)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    n_prefix, n_roll, n_tok, n_traces = (16, 8, 64, 50) if args.full else (2, 4, 16, 50)
    n_crit, crit_tok, n_verify = (6, 128, 50) if args.full else (2, 16, 4)
    setup_django()
    import torch

    from labeling_jobs.backends import SamplingParams, backend_get

    load_average = os.getloadavg()[0]
    records = json.loads(DATA.read_text())
    t0 = time.perf_counter()
    backend = backend_get("transformers", "demo")
    load_s = time.perf_counter() - t0
    model, tok = backend.model, backend.tokenizer
    prompts = prefixes(records, n_prefix, backend)
    prompt_tokens = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts]

    # (a) naive: one generate call per rollout (a rate: 4 prefixes are enough)
    torch.manual_seed(0)
    naive_tokens, start = 0, time.perf_counter()
    naive_prompts = prompts[:4]
    with torch.inference_mode():
        for p in naive_prompts:
            enc = tok([p], return_tensors="pt", add_special_tokens=False)
            for _ in range(n_roll):
                out = model.generate(**enc, do_sample=True, temperature=0.7, top_k=0, max_new_tokens=n_tok,
                                     pad_token_id=tok.pad_token_id)  # fmt: skip
                naive_tokens += backend._completions(out[:, enc["input_ids"].shape[1] :])[
                    0
                ].n_tokens
    naive_s = time.perf_counter() - start
    note("mc naive", {"tokens": naive_tokens, "seconds": round(naive_s, 1)})

    # (b) before: generate on a shared prefilled DynamicCache
    before_tokens, before_s = timed(
        lambda: generate_before(backend, prompts, n=n_roll, max_new_tokens=n_tok, temperature=0.7)
    )

    note("mc before", {"tokens": before_tokens, "seconds": round(before_s, 1)})

    # (c) now: the backend
    before = backend.tokens_generated
    start = time.perf_counter()
    results = backend.sample(
        prompts, n=n_roll, params=SamplingParams(max_new_tokens=n_tok, temperature=0.7, seed=0)
    )
    batched_s = time.perf_counter() - start
    batched_tokens = backend.tokens_generated - before
    assert sum(len(r) for r in results) == n_prefix * n_roll
    note("mc now", {"tokens": batched_tokens, "seconds": round(batched_s, 1)})

    n_params = sum(p.numel() for p in model.parameters())
    # 2 FLOPs per weight per token. The input embedding is a lookup (no FLOPs), but with tied
    # embeddings the same matrix is the lm_head matmul, so 2 x parameters is right as is.
    flops_per_token = 2 * n_params
    if not getattr(model.config, "tie_word_embeddings", False):
        flops_per_token -= 2 * model.get_input_embeddings().weight.numel()
    # The roofline of the dtype the model runs in (bf16 matmuls use AMX where present).
    peak = matmul_flops(dtype=model.dtype)
    batched_flops = (sum(prompt_tokens) + batched_tokens) * flops_per_token / batched_s
    before_flops = (sum(prompt_tokens) + before_tokens) * flops_per_token / before_s
    naive_prefill = sum(prompt_tokens[: len(naive_prompts)]) * n_roll
    naive_flops = (naive_prefill + naive_tokens) * flops_per_token / naive_s

    critique = critique_bench(backend, records, n_crit, crit_tok)
    note("critique", critique)
    verify = verify_bench(backend, records, n_verify)
    note("verify", verify)
    prm = prm_bench(backend, records, n_verify)
    note("prm_score", prm)

    # The file lists the wrong-final-answer traces first: a seeded random sample is representative.
    import random

    savings = rollout_savings(random.Random(0).sample(records, n_traces), 8)
    out = {
        "machine": f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "load_average_at_start": round(load_average, 1),
        "load_average_at_end": round(os.getloadavg()[0], 1),
        "model": backend.model_name,
        "load_seconds": round(load_s, 2),
        "sizes": {
            "prefixes": n_prefix,
            "rollouts": n_roll,
            "max_new_tokens": n_tok,
            "mean_prompt_tokens": round(sum(prompt_tokens) / len(prompt_tokens), 1),
        },  # fmt: skip
        "mc_naive": {
            "tokens": naive_tokens,
            "seconds": round(naive_s, 2),
            "tokens_per_s": round(naive_tokens / naive_s, 2),
        },
        "mc_before": {
            "tokens": before_tokens,
            "seconds": round(before_s, 2),
            "tokens_per_s": round(before_tokens / before_s, 2),
            "traces_per_s": round(n_prefix / before_s, 3),
        },
        "mc_now": {
            "tokens": batched_tokens,
            "seconds": round(batched_s, 2),
            "tokens_per_s": round(batched_tokens / batched_s, 2),
            "prefixes_per_s": round(n_prefix / batched_s, 3),
        },  # fmt: skip
        "mc_speedup_over_naive": round((batched_tokens / batched_s) / (naive_tokens / naive_s), 2),
        "mc_speedup_over_before": round(
            (batched_tokens / batched_s) / (before_tokens / before_s), 2
        ),
        "roofline": {
            "params": n_params,
            "flops_per_token": flops_per_token,
            "dtype": str(model.dtype).replace("torch.", ""),
            "matmul_gflops": round(peak / 1e9, 1),
            "roofline_tokens_per_s": round(peak / flops_per_token, 1),
            "mc_now_gflops_incl_prefill": round(batched_flops / 1e9, 2),
            "mc_now_over_roofline": round(batched_flops / peak, 3),
            "mc_before_over_roofline": round(before_flops / peak, 3),
            "naive_over_roofline": round(naive_flops / peak, 3),
        },
        "critique": critique,
        "verify": verify,
        "prm_score": prm,
        "first_error_search": savings,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
