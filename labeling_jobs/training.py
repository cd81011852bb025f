"""`prm_train`: the project trains its own process reward model from its labels.

1. Export the project's final step labels as `trl_stepwise` (the same exporter as the
   Exports page: aggregated final labels, truncated after the first error, deduplicated,
   split into train/test by group key, so one problem never lands on both sides).
2. Fine-tune a token-classification PRM from a base causal LM with TRL's `PRMTrainer`
   (two classes read at each step separator). Progress (step, loss) goes to the job's
   `detail` as it trains; cancelling the job stops training at the next step.
3. Score the held-out split with the trained model through the same code as `prm_score`
   (step accuracy, ProcessBench F1 of the first-error verdicts).
4. Save the model, its `stepwise_model.json` and a model card under the models directory
   (written to a hidden folder, renamed when complete): it is in the model list at once.

CPU defaults are bounded (a few hundred traces, one epoch, sequences truncated, only the top
layers trained); a CUDA worker trains everything with larger defaults.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.utils import timezone

from annotation.errors import ApplicationError
from annotation.models import Item, Project
from labeling_jobs.evaluation import processbench_score
from labeling_jobs.model_settings import ModelFormat, ModelSettings, models_dir, settings_write
from labeling_jobs.progress import labeling_job_detail_update, labeling_job_is_cancelled
from labeling_jobs.training_card import model_card

logger = logging.getLogger(__name__)

CPU_DEFAULTS: dict[str, Any] = {
    "max_traces": 300, "max_eval_traces": 200, "epochs": 1, "max_length": 384,
    "batch_size": 8, "learning_rate": 2e-4, "train_layers": 4, "test_size": 0.2,
    "seed": 0, "threshold": 0.5, "step_separator": "\n", "bf16": True,
}  # fmt: skip
CUDA_DEFAULTS: dict[str, Any] = {
    **CPU_DEFAULTS, "max_traces": 20_000, "max_eval_traces": 2_000, "epochs": 2,
    "max_length": 1024, "batch_size": 16, "learning_rate": 2e-5, "train_layers": 0,
}  # fmt: skip
INT_PARAMS = {"max_traces": 1, "max_eval_traces": 1, "epochs": 1, "max_length": 32,
              "batch_size": 1, "train_layers": 0, "seed": 0}  # fmt: skip


def train_defaults(device: str) -> dict[str, Any]:
    return dict(CUDA_DEFAULTS if device == "cuda" else CPU_DEFAULTS)


def train_params_check(params: dict[str, Any]) -> None:
    """ApplicationError naming `params.<name>` for a bad training parameter."""
    for key, low in INT_PARAMS.items():
        v = params.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < low):
            raise ApplicationError(f"must be an integer of at least {low}", field=f"params.{key}")
    for key, lo, hi in (
        ("learning_rate", 0.0, 1.0),
        ("test_size", 0.0, 0.9),
        ("threshold", 0.0, 1.0),
    ):
        v = params.get(key)
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi
        ):
            raise ApplicationError(f"must be a number from {lo} to {hi}", field=f"params.{key}")
    sep = params.get("step_separator")
    if sep is not None and (not isinstance(sep, str) or not sep):
        raise ApplicationError("must be a non-empty string", field="params.step_separator")


def export_step_labels(
    *, project: Project, item_ids: list[int], params: dict[str, Any], work: Path
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """(train rows, held-out rows, export manifest) from the `trl_stepwise` exporter."""
    from annotation.exporters.pipeline import export_write

    out = work / "export"
    manifest = export_write(
        project=project, fmt="trl_stepwise", out_dir=out,
        options={"labels": "final", "test_size": float(params["test_size"]),
                 "seed": int(params["seed"]), "dedup": True},
    )  # fmt: skip
    in_scope = set(Item.objects.filter(id__in=item_ids).values_list("external_id", flat=True))
    rows: dict[str, list[dict[str, Any]]] = {"train": [], "test": []}
    for f in manifest["files"]:
        with open(out / f["path"], encoding="utf-8") as fh:
            for line in fh:
                row = json.loads(line)
                if row["id"] in in_scope and f["split"] in rows:
                    rows[f["split"]].append(row)
    rng = random.Random(int(params["seed"]))  # noqa: S311 - a reproducible sample
    train, test = rows["train"], rows["test"]
    if len(train) > params["max_traces"]:
        train = rng.sample(train, int(params["max_traces"]))
    if len(test) > params["max_eval_traces"]:
        test = rng.sample(test, int(params["max_eval_traces"]))
    return train, test, manifest


def _freeze_lower_layers(model: Any, train_layers: int) -> tuple[int, int]:
    """Train only the top `train_layers` transformer layers, the final norm and the head
    (0 = train everything). Returns (trainable, total) parameter counts."""
    import re

    n_layers = model.config.num_hidden_layers
    if train_layers and train_layers < n_layers:
        first = n_layers - train_layers
        for name, p in model.named_parameters():
            m = re.search(r"\.layers\.(\d+)\.", name)
            if m:
                p.requires_grad = int(m.group(1)) >= first
            else:
                p.requires_grad = not name.endswith("embed_tokens.weight")
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total


def _progress_callback(job_id: int, started: float) -> Any:
    from transformers import TrainerCallback

    class JobProgress(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            loss = (logs or {}).get("loss")
            history = [h["loss"] for h in state.log_history if "loss" in h]
            labeling_job_detail_update(job_id=job_id, detail={
                "phase": "training", "step": state.global_step, "max_steps": state.max_steps,
                "epoch": round(float(state.epoch or 0), 3), "loss": loss,
                "loss_history": history[-200:], "elapsed_s": round(time.monotonic() - started, 1),
            })  # fmt: skip

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if labeling_job_is_cancelled(job_id=job_id):
                control.should_training_stop = True

    return JobProgress()


def _first_false(labels: list[bool]) -> int:
    return next((i for i, lab in enumerate(labels) if not lab), -1)


def calibrate_threshold(
    scores: list[list[float | None]], rows: list[dict[str, Any]], default: float
) -> float:
    """The threshold that maximises ProcessBench F1 of first-error verdicts on these rows
    (the paper's rule for scalar PRMs, applied to the training split, never the held-out
    one); `default` when no threshold does better."""
    from labeling_jobs.prm import first_below

    labels = [_first_false(r["labels"]) for r in rows]
    candidates = sorted({round(s, 4) for per in scores for s in per if s is not None})
    best, best_f1 = default, -1.0
    for t in [default, *[c + 1e-4 for c in candidates]]:
        f1 = processbench_score([first_below(per, t) for per in scores], labels).f1
        if f1 == f1 and f1 > best_f1:  # NaN-safe
            best, best_f1 = t, f1
    return round(best, 4)


def evaluate_prm(
    model: ModelSettings, rows: list[dict[str, Any]], threshold: float, loaded: Any = None
) -> dict[str, Any]:
    """Step accuracy and ProcessBench F1 of first-error verdicts on exported rows. A row's
    reference first error is its first False label (-1 when all are True: the exporter
    truncates after the first error, so a verdict on the row's steps is one on the trace)."""
    from labeling_jobs.prm import _LOADED, prm_step_scores

    if loaded is not None:
        _LOADED[(model.name, model.format)] = loaded
    scores = prm_step_scores(model, [(r["prompt"], r["completions"]) for r in rows])
    return score_rows(scores, rows, threshold)


def score_rows(
    scores: list[list[float | None]], rows: list[dict[str, Any]], threshold: float
) -> dict[str, Any]:
    from labeling_jobs.prm import first_below

    correct = total = 0
    preds, labels = [], []
    for row, per_step in zip(rows, scores, strict=True):
        for s, lab in zip(per_step, row["labels"], strict=True):
            if s is not None:
                total += 1
                correct += int((s >= threshold) == bool(lab))
        preds.append(first_below(per_step, threshold))
        labels.append(_first_false(row["labels"]))
    pb = processbench_score(preds, labels).as_json() if rows else {}
    return {"traces": len(rows), "steps": total, "threshold": threshold,
            "step_accuracy": correct / total if total else None, **pb}  # fmt: skip


def prm_train_run(
    *, job_id: int, project: Project, item_ids: list[int], base_model: str, params: dict[str, Any]
) -> dict[str, Any]:
    """Export, train, evaluate, save; returns the model's settings and metrics. Raises
    ApplicationError for data that cannot train a PRM, RuntimeError when the job was cancelled."""
    import torch
    import trl
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar
    from transformers import AutoModelForTokenClassification, AutoTokenizer, PrinterCallback
    from trl.experimental.prm import PRMConfig, PRMTrainer

    from labeling_jobs.backends.transformers_backend import resolve_model_path

    disable_progress_bar()
    started = time.monotonic()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    p = {**train_defaults(device), **params}
    name = f"prm-{project.slug}-job{job_id}"
    base = models_dir()
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=base))
    try:
        labeling_job_detail_update(job_id=job_id, detail={"phase": "exporting labels"})
        train, test, manifest = export_step_labels(
            project=project, item_ids=item_ids, params=p, work=work
        )
        if len(train) < 2:
            raise ApplicationError(
                f"only {len(train)} labelled trace(s) in the training split; label "
                "more items (final step labels) or lower test_size",
                field="params",
            )
        path, local_only = resolve_model_path(base_model)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForTokenClassification.from_pretrained(
            path, local_files_only=local_only, num_labels=2,
            id2label={0: "incorrect", 1: "correct"}, label2id={"incorrect": 0, "correct": 1},
        )  # fmt: skip
        model.config.pad_token_id = tokenizer.pad_token_id
        trainable, total = _freeze_lower_layers(model, int(p["train_layers"]))
        use_bf16 = bool(p["bf16"]) and (device == "cpu" or torch.cuda.is_bf16_supported())
        args = PRMConfig(
            output_dir=str(work / "trainer"), per_device_train_batch_size=int(p["batch_size"]),
            num_train_epochs=int(p["epochs"]), learning_rate=float(p["learning_rate"]),
            lr_scheduler_type="linear", warmup_steps=0.05, logging_steps=1, save_strategy="no",
            eval_strategy="no", report_to="none", max_length=int(p["max_length"]),
            step_separator=p["step_separator"], disable_tqdm=True, use_cpu=device == "cpu",
            bf16=use_bf16, gradient_checkpointing=False, seed=int(p["seed"]),
            dataloader_num_workers=0,
        )  # fmt: skip
        labeling_job_detail_update(job_id=job_id, detail={"phase": "tokenizing"})
        cols = ("prompt", "completions", "labels")
        trainer = PRMTrainer(
            model=model, args=args, processing_class=tokenizer,
            train_dataset=Dataset.from_list([{c: r[c] for c in cols} for r in train]),
            callbacks=[_progress_callback(job_id, started)],
        )  # fmt: skip
        # Progress goes to the job page; printed log lines would reach the worker's log.
        trainer.remove_callback(PrinterCallback)
        output = trainer.train()
        if labeling_job_is_cancelled(job_id=job_id):
            raise RuntimeError("training stopped: the job was cancelled")
        train_s = time.monotonic() - started
        labeling_job_detail_update(job_id=job_id, detail={"phase": "evaluating on held-out split"})
        model.eval()
        if device == "cpu":
            # Score (and save) in the dtype inference uses: bf16 where AMX multiplies it.
            from labeling_jobs.hardware import cpu_dtype_name

            model.to(getattr(torch, cpu_dtype_name()))
        # Training truncates to max_length for speed; scoring reads the whole trace.
        context = int(getattr(model.config, "max_position_embeddings", 0) or 4096)
        settings_obj = ModelSettings(
            name=name, format=ModelFormat.PRM_TOKEN_CLASSIFICATION, path=str(base / name),
            step_separator=p["step_separator"], positive_label=1, max_length=min(context, 8192),
            can_critique=False, source="trained", project=project.slug, base_model=base_model,
            created_at=timezone.now().isoformat(timespec="seconds"),
            description=f"PRM trained by job {job_id} on {len(train)} traces of {project.slug}",
        )  # fmt: skip
        from labeling_jobs.prm import _LOADED, prm_step_scores

        _LOADED[(settings_obj.name, settings_obj.format)] = (model, tokenizer)
        calib = train[: min(100, int(p["max_eval_traces"]))]
        threshold = float(p["threshold"])
        if p.get("calibrate", True):
            calib_scores = prm_step_scores(
                settings_obj, [(r["prompt"], r["completions"]) for r in calib]
            )
            threshold = calibrate_threshold(calib_scores, calib, threshold)
        settings_obj = replace(settings_obj, threshold=threshold)
        _LOADED.pop((settings_obj.name, settings_obj.format), None)
        metrics = evaluate_prm(settings_obj, test, threshold, loaded=(model, tokenizer))
        _LOADED.pop((settings_obj.name, settings_obj.format), None)
        history = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        counts = {"train_traces": len(train), "heldout_traces": len(test),
                  "train_steps": int(output.global_step), "trainable_params": trainable,
                  "total_params": total}  # fmt: skip
        result = {
            "model": name, "metrics": metrics, "counts": counts,
            "train_loss_first": history[0] if history else None,
            "train_loss_last": history[-1] if history else None,
            "train_seconds": round(train_s, 1), "device": device,
            "dtype": "bf16 autocast" if use_bf16 else "fp32",
            "params": {k: p[k] for k in sorted(CPU_DEFAULTS)},
            "versions": {"trl": trl.__version__, "torch": torch.__version__},
        }  # fmt: skip
        labeling_job_detail_update(job_id=job_id, detail={"phase": "saving", **result})
        staged = work / "model"
        model.save_pretrained(staged)
        tokenizer.save_pretrained(staged)
        settings_write(staged, ModelSettings(**{**settings_obj.as_json(), "metrics": metrics}))
        (staged / "heldout.json").write_text(json.dumps(sorted(r["id"] for r in test)) + "\n")
        (staged / "README.md").write_text(
            model_card(settings=settings_obj, result=result, manifest=manifest, base_model=base_model),
            encoding="utf-8",
        )  # fmt: skip
        target = base / name
        shutil.rmtree(target, ignore_errors=True)
        staged.rename(target)
        result["total_seconds"] = round(time.monotonic() - started, 1)
        labeling_job_detail_update(job_id=job_id, detail={"phase": "done", **result})
        logger.info("prm_train job %s saved %s: %s", job_id, target, metrics)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)
