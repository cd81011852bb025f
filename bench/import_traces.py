"""Import throughput on PostgreSQL through the service the CLI uses (`dataset_import`).

Generates N synthetic reasoning traces (5-8 steps of 100-300 characters) as native JSONL and
imports them; then 10,000 preference items (a 300-character prompt, two 600-character
responses). Each measurement runs in a fresh process so its peak RSS is its own.

    python bench/import_traces.py            # 10,000 traces + 10,000 preference items
    python bench/import_traces.py --full     # also 100,000 traces

Goals (issue 2): 100,000 traces in under 30 s with peak RSS under 500 MB; 10,000 preference
items in under 0.6 s (Label Studio: 1.9 s on this machine). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import _django  # noqa: E402

WORDS = [
    "".join(random.Random(i).choices(string.ascii_lowercase, k=random.Random(i).randint(2, 9)))
    for i in range(500)
]


def _text(rng: random.Random, n: int) -> str:
    out: list[str] = []
    size = 0
    while size < n:
        w = rng.choice(WORDS)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)[:n]


def write_traces(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w") as fh:
        for i in range(n):
            steps = [_text(rng, rng.randint(100, 300)) for _ in range(rng.randint(5, 8))]
            rec = {
                "external_id": f"trace-{i}",
                "prompt": _text(rng, 200),
                "steps": steps,
                "reference_answer": str(rng.randint(0, 999)),
                "final_answer": str(rng.randint(0, 999)),
                "final_answer_correct": rng.random() < 0.5,
                "generator_model": "bench",
            }
            fh.write(json.dumps(rec) + "\n")


def write_preferences(path: Path, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    with open(path, "w") as fh:
        for i in range(n):
            rec = {
                "external_id": f"pref-{i}",
                "prompt": _text(rng, 300),
                "candidates": [{"text": _text(rng, 600)}, {"text": _text(rng, 600)}],
            }
            fh.write(json.dumps(rec) + "\n")


def child(kind: str, path: str) -> dict:
    _django.setup()
    from django.db import connection

    from annotation.models import ProjectKind
    from annotation.services.imports import dataset_import
    from annotation.services.projects import project_create

    with connection.cursor() as cur:
        cur.execute("TRUNCATE annotation_project RESTART IDENTITY CASCADE")
    project_kind = ProjectKind.STEP_LABELS if kind == "traces" else ProjectKind.PREFERENCE
    project = project_create(
        name=f"bench {kind}", slug=f"bench-{kind}", kind=project_kind, created_by=None
    )
    started = time.perf_counter()
    with open(path, "rb") as fh:
        result = dataset_import(project=project, dataset_name="bench", fmt="native", stream=fh)
    elapsed = time.perf_counter() - started
    assert result.ok, result.errors[:3]
    return {
        "items": result.items_created,
        "rows": result.items_created + result.steps_created + result.candidates_created,
        "seconds": round(elapsed, 3),
        "items_per_s": round(result.items_created / elapsed),
        "peak_rss_mb": round(_django.peak_rss_mb(), 1),
        "database": connection.vendor,
    }


def run_child(kind: str, path: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    _django.setup(migrate=True)
    sizes = [10_000, 100_000] if args.full else [10_000]
    out: dict = {"benchmark": "import_traces"}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = Path(tmp) / f"traces-{n}.jsonl"
            write_traces(path, n)
            res = run_child("traces", path)
            res["file_mb"] = round(path.stat().st_size / 1e6, 1)
            out[f"traces_{n}"] = res
            print(f"traces {n}: {res}", file=sys.stderr)
            path.unlink()
        path = Path(tmp) / "prefs.jsonl"
        write_preferences(path, 10_000)
        res = run_child("preferences", path)
        out["preferences_10000"] = res
        print(f"preferences 10000: {res}", file=sys.stderr)
    out["goal_100k_under_30s"] = (
        out.get("traces_100000", {}).get("seconds", 0) < 30 if args.full else None
    )
    out["goal_prefs_under_0_6s"] = out["preferences_10000"]["seconds"] < 0.6
    print(json.dumps(out))


if __name__ == "__main__":
    main()
