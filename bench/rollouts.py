"""Monte-Carlo rollout throughput and first-error-search savings with the demo model.

1. Generated tokens/s for MC rollouts from real ProcessBench GSM8K step prefixes, done
   (a) naively, one `generate` call per rollout, and (b) by the transformers backend
   (batched with left padding, prefix run once and its KV cache shared by the n samples).
2. Rollouts spent per trace by per-step MC vs first-error (binary) search on ProcessBench
   GSM8K traces. The expert labels stand in for the MC values (a prefix is alive iff it ends
   before the first error), so this counts rollouts without generating them; the count
   depends only on where the values turn to 0.
3. A CPU roofline: FLOPs per token (2 x parameters) against the measured matmul FLOP/s.

    python bench/rollouts.py          # small: 4 prefixes x 4 rollouts x 32 tokens (< 2 min)
    python bench/rollouts.py --full   # 16 prefixes x 8 rollouts x 64 tokens, 50 traces

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
DATA = ROOT.parent / "shared" / "data" / "processbench_gsm8k.json"


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.embedded")
    os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    import django

    django.setup()


def matmul_flops(seconds: float = 3.0, size: int = 1024) -> float:
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    n_prefix, n_roll, n_tok, n_traces = (16, 8, 64, 50) if args.full else (4, 4, 32, 50)
    setup_django()
    import torch

    from labeling_jobs.backends import SamplingParams, backend_get

    records = json.loads(DATA.read_text())
    t0 = time.perf_counter()
    backend = backend_get("transformers", "demo")
    load_s = time.perf_counter() - t0
    model, tok = backend.model, backend.tokenizer
    prompts = prefixes(records, n_prefix, backend)
    prompt_tokens = [len(tok(p, add_special_tokens=False)["input_ids"]) for p in prompts]

    # (a) naive: one generate call per rollout
    torch.manual_seed(0)
    naive_tokens, start = 0, time.perf_counter()
    with torch.inference_mode():
        for p in prompts:
            enc = tok([p], return_tensors="pt", add_special_tokens=False)
            for _ in range(n_roll):
                out = model.generate(**enc, do_sample=True, temperature=0.7, top_k=0, max_new_tokens=n_tok,
                                     pad_token_id=tok.pad_token_id)  # fmt: skip
                naive_tokens += backend._completions(out[:, enc["input_ids"].shape[1] :])[
                    0
                ].n_tokens
    naive_s = time.perf_counter() - start

    # (b) the backend: batched, shared prefix
    before = backend.tokens_generated
    start = time.perf_counter()
    results = backend.sample(
        prompts, n=n_roll, params=SamplingParams(max_new_tokens=n_tok, temperature=0.7, seed=0)
    )
    batched_s = time.perf_counter() - start
    batched_tokens = backend.tokens_generated - before
    assert sum(len(r) for r in results) == n_prefix * n_roll

    n_params = sum(p.numel() for p in model.parameters())
    # 2 FLOPs per weight per token. The input embedding is a lookup (no FLOPs), but with tied
    # embeddings the same matrix is the lm_head matmul, so 2 x parameters is right as is.
    flops_per_token = 2 * n_params
    if not getattr(model.config, "tie_word_embeddings", False):
        flops_per_token -= 2 * model.get_input_embeddings().weight.numel()
    peak = matmul_flops()
    batched_flops = (sum(prompt_tokens) + batched_tokens) * flops_per_token / batched_s
    naive_flops = (sum(prompt_tokens) * n_roll + naive_tokens) * flops_per_token / naive_s

    # The file lists the wrong-final-answer traces first: a seeded random sample is representative.
    import random

    savings = rollout_savings(random.Random(0).sample(records, n_traces), 8)
    out = {
        "machine": f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "model": backend.model_name,
        "load_seconds": round(load_s, 2),
        "sizes": {
            "prefixes": n_prefix,
            "rollouts": n_roll,
            "max_new_tokens": n_tok,
            "mean_prompt_tokens": round(sum(prompt_tokens) / len(prompt_tokens), 1),
        },  # fmt: skip
        "naive": {
            "tokens": naive_tokens,
            "seconds": round(naive_s, 2),
            "tokens_per_s": round(naive_tokens / naive_s, 2),
        },
        "batched": {
            "tokens": batched_tokens,
            "seconds": round(batched_s, 2),
            "tokens_per_s": round(batched_tokens / batched_s, 2),
        },  # fmt: skip
        "speedup": round((batched_tokens / batched_s) / (naive_tokens / naive_s), 2),
        "roofline": {
            "params": n_params,
            "flops_per_token": flops_per_token,
            "matmul_gflops": round(peak / 1e9, 1),
            "roofline_tokens_per_s": round(peak / flops_per_token, 1),
            "batched_gflops_incl_prefill": round(batched_flops / 1e9, 2),
            "batched_over_roofline": round(batched_flops / peak, 3),
            "naive_gflops_incl_prefill": round(naive_flops / 1e9, 2),
            "naive_over_roofline": round(naive_flops / peak, 3),
        },
        "first_error_search": savings,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
