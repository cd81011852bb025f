"""The model card (README.md) written next to a PRM trained by `prm_train`."""

from __future__ import annotations

import json
from typing import Any

from labeling_jobs.model_settings import ModelSettings


def _pct(v: Any) -> str:
    return "—" if v is None else f"{v:.1f}"


def model_card(
    *, settings: ModelSettings, result: dict[str, Any], manifest: dict[str, Any], base_model: str
) -> str:
    m = result["metrics"]
    c = result["counts"]
    acc = m.get("step_accuracy")
    opts = manifest.get("options", {})
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: token-classification",
        "tags: [process-reward-model, prm, trl, stepwise]",
        f"base_model: {json.dumps(base_model)}",
        "---",
        f"# {settings.name}",
        "",
        f"A process reward model trained by Stepwise labeling job from the final step labels "
        f"of project `{settings.project}`, with TRL's PRMTrainer (token classification: the "
        f"label of a step is read at the last token of `step + {settings.step_separator!r}`).",
        "",
        "## Data snapshot",
        f"- Exported {manifest.get('created_at', '')} (code {manifest.get('code_version', '')}) "
        f"as `trl_stepwise`: {manifest['counts']['total']} records from "
        f"{manifest['counts']['items_read']} items; splits {manifest['counts']['splits']}.",
        f"- Split: group-aware (one problem never on both sides), test_size "
        f"{opts.get('test_size')}, seed {opts.get('seed')}; held-out external ids in "
        "`heldout.json`.",
        f"- Used: {c['train_traces']} training traces, {c['heldout_traces']} held-out traces.",
        "",
        "## Labels used",
        f"- Final labels (`labels={opts.get('labels')}`): sources {manifest.get('label_sources')}, "
        f"aggregation {manifest.get('aggregation')}, final-label sources "
        f"{manifest.get('final_label_sources')}.",
        "- Mapping: +1 → correct, −1 → incorrect, neutral (0) → "
        f"{opts.get('neutral')}; each trace is cut after its first error "
        f"(`truncate_after_first_error={opts.get('truncate_after_first_error')}`).",
        f"- Step labels exported: {manifest['counts'].get('labels')}.",
        "",
        "## Metrics on the held-out split",
        f"- Step accuracy: {_pct(100 * acc if acc is not None else None)}% over {m.get('steps')} "
        f"steps of {m.get('traces')} traces (a step is predicted correct when P(correct) ≥ "
        f"{result['params']['threshold']}).",
        f"- ProcessBench first-error verdicts: F1 {_pct(m.get('f1'))}, accuracy on erroneous "
        f"traces {_pct(m.get('acc_error'))}, on correct traces {_pct(m.get('acc_correct'))} "
        f"({m.get('n_error')} erroneous, {m.get('n_correct')} correct).",
        f"- Training loss: first {result.get('train_loss_first')}, last "
        f"{result.get('train_loss_last')}.",
        "",
        "## Parameters",
        f"- Base model: `{base_model}`; device {result['device']}, {result['dtype']}; "
        f"{c['trainable_params']:,} of {c['total_params']:,} parameters trained; "
        f"{c['train_steps']} optimiser steps in {result['train_seconds']} s.",
        f"- {json.dumps(result['params'], sort_keys=True)}",
        f"- Versions: {json.dumps(result['versions'], sort_keys=True)}",
        "",
        "## Use",
        "Pick it in a `prm_score` job (it is in the project's model list), or load it with "
        "`AutoModelForTokenClassification` and read P(label 1) at each step separator.",
        "",
    ]
    return "\n".join(lines)
