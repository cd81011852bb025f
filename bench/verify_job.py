"""A step-judge job on the demo model as the jobs page starts it (mode from the model's
settings: verify), over ProcessBench GSM8K traces, run in this process through the same
service as the worker: wall time, items scored, ProcessBench F1.

    python bench/verify_job.py          # 10 traces
    python bench/verify_job.py --full   # 50 traces (goal: under 2 minutes, every item scored)

Uses a SQLite database under a temporary folder. The last line printed is one JSON object.
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
    n = 50 if args.full else 10
    tmp = Path(tempfile.mkdtemp(prefix="stepwise-verify-bench-"))
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.embedded"
    os.environ.setdefault("STEPWISE_MODEL_CACHE_DIR", str(ROOT / "var" / "models"))
    import django

    django.setup()
    import torch
    from django.core.management import call_command

    from annotation.models import Suggestion, User
    from annotation.services.imports import dataset_import
    from annotation.services.projects import project_create
    from labeling_jobs.backends import backend_get
    from labeling_jobs.selectors import evaluation_report
    from labeling_jobs.services import labeling_job_create, labeling_job_run_inline

    call_command("migrate", verbosity=0, interactive=False)
    user = User.objects.create(username="bench")
    project = project_create(name="PB", slug="pb", kind="step_labels", created_by=user)
    records = json.loads((DATA / "processbench_gsm8k.json").read_text())
    import random

    picked = random.Random(0).sample(records, n)  # noqa: S311 - a reproducible sample
    result = dataset_import(project=project, dataset_name="pb", fmt="processbench",
                            stream=__import__("io").BytesIO(json.dumps(picked).encode()), options={})  # fmt: skip
    assert result.ok, result.errors
    start = time.perf_counter()
    backend_get("transformers", "demo")  # the worker keeps the model loaded between jobs
    load_s = time.perf_counter() - start
    load0 = os.getloadavg()[0]
    job = labeling_job_create(project=project, kind="step_judge", enqueue=False)
    start = time.perf_counter()
    job = labeling_job_run_inline(job=job)
    seconds = time.perf_counter() - start
    assert job.status == "succeeded", job.error
    verdicts = Suggestion.objects.filter(job_id=job.id, target="item").exclude(label="").count()
    report = evaluation_report(project=project, against="processbench-experts")["methods"]
    out = {
        "machine": f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "load_average": [round(load0, 1), round(os.getloadavg()[0], 1)],
        "traces": n, "steps": sum(len(r["steps"]) for r in picked), "mode": job.params["mode"],
        "model_load_seconds": round(load_s, 1), "job_seconds": round(seconds, 1),
        "seconds_per_trace": round(seconds / n, 2), "items_with_verdict": verdicts,
        "f1": report["verify"]["f1"],
    }  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
