"""prm_train on the ProcessBench GSM8K expert labels with the demo model (SmolLM2-135M), then
prm_score on the held-out items: training time and held-out ProcessBench F1.

The project's expert labels are exported as `trl_stepwise` and split by group key (one
problem never on both sides; test_size 0.2), the PRM is trained on the train split with the
job's CPU defaults, and `prm_score` scores only the held-out items (`heldout.json`), so the
reported F1 is on items the model never saw. A verify job on the same held-out items is
the baseline.

    python bench/prm_train.py          # small: 40 training traces, max_length 256 (< 2 min)
    python bench/prm_train.py --full   # the job's CPU defaults (300 traces, one epoch)

Uses a SQLite database under a temporary folder (the job reads and writes through the ORM
only). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("STEPWISE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="stepwise-prm-bench-"))
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.embedded"
    os.environ["STEPWISE_MODELS_DIR"] = str(tmp / "models")
    os.environ.setdefault("STEPWISE_MODEL_CACHE_DIR", str(ROOT / "var" / "models"))
    import django

    django.setup()
    import torch
    from django.core.management import call_command

    from annotation.models import User
    from annotation.services.imports import dataset_import
    from annotation.services.projects import project_create
    from labeling_jobs.selectors import evaluation_report
    from labeling_jobs.services import labeling_job_create, labeling_job_run_inline

    call_command("migrate", verbosity=0, interactive=False)
    user = User.objects.create(username="bench")
    project = project_create(name="PB", slug="pb", kind="step_labels", created_by=user)
    with open(DATA / "processbench_gsm8k.json", "rb") as fh:
        result = dataset_import(project=project, dataset_name="pb", fmt="processbench",
                                stream=fh, options={"answers": str(DATA / "gsm8k_test.jsonl")})  # fmt: skip
    assert result.ok, result.errors
    params = {"test_size": 0.2}
    if not args.full:
        params.update(max_traces=40, max_eval_traces=40, max_length=256)
    load0 = os.getloadavg()[0]
    train = labeling_job_create(project=project, kind="prm_train", params=params, enqueue=False)
    start = time.perf_counter()
    train = labeling_job_run_inline(job=train)
    train_s = time.perf_counter() - start
    assert train.status == "succeeded", train.error
    detail = train.detail
    heldout = json.loads((tmp / "models" / detail["model"] / "heldout.json").read_text())
    out: dict = {
        "machine": f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "load_average_before": round(load0, 1),
        "load_average_after": round(os.getloadavg()[0], 1),
        "items": result.items_created,
        "params": detail["params"],
        "train": {
            "job_seconds": round(train_s, 1), "train_seconds": detail["train_seconds"],
            "counts": detail["counts"], "loss_first": detail["train_loss_first"],
            "loss_last": detail["train_loss_last"], "dtype": detail["dtype"],
        },
        "heldout_metrics_from_job": detail["metrics"],
    }  # fmt: skip
    scope = {"external_ids": heldout}
    for kind, name, extra in (
        ("prm_score", "prm", {}),
        ("step_judge", "verify", {"mode": "verify"}),
    ):
        job = labeling_job_create(
            project=project, kind=kind, scope=scope, params=extra, enqueue=False
        )
        start = time.perf_counter()
        job = labeling_job_run_inline(job=job)
        seconds = time.perf_counter() - start
        report = evaluation_report(project=project, against="processbench-experts")["methods"][name]
        out[name] = {
            "items": job.progress_done, "seconds": round(seconds, 1),
            "heldout_f1": report["f1_covered"], "coverage_of_heldout": report["n_predicted"] / len(heldout),
        }  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
