"""Export throughput, project backup/restore and agreement speed on PostgreSQL (issues 5, 12, 13).

Creates synthetic traces (5 steps each, one imported annotator rating every step) through
`dataset_import` with native JSONL, exports them as `trl_stepwise` to JSONL and to Parquet
(each export in a fresh process, so its peak RSS is its own), and times agreement over items
labelled by 3 annotators (the pure statistics, and the full report read from the database).

    python bench/export.py           # 20,000 traces (100,000 step labels); 10,000 × 3 agreement
    python bench/export.py --full    # 200,000 traces (1,000,000 step labels); 100,000 × 3

Goals: over 50,000 records/s with peak RSS under 300 MB; agreement over 100,000 items × 3
annotators under 2 s. Backup and restore run on the agreement project (10,000 / 100,000 items,
3 annotators each): throughput in rows/s and peak RSS, which should not grow with size.
Database: BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/stepwise_bench_export), dropped and recreated per run.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import _django  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/stepwise_bench_export"
WORDS = [f"w{i}" for i in range(400)]


def _db_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def write_traces(path: Path, n: int, annotators: int, seed: int = 0) -> int:
    """n traces of 5 steps; each annotator rates every step (first-error style)."""
    rng = random.Random(seed)
    labels = 0
    with open(path, "w") as fh:
        for i in range(n):
            steps = [_text(rng, rng.randint(15, 40)) for _ in range(5)]
            truth = rng.randint(-1, 4)
            anns = []
            for a in range(annotators):
                fe = truth if rng.random() < 0.8 else rng.randint(-1, 4)
                ratings = [1 if fe == -1 or s < fe else (-1 if s == fe else None) for s in range(5)]
                if annotators == 1:
                    ratings = [r if r is not None else -1 for r in ratings]
                labels += sum(r is not None for r in ratings)
                anns.append({"annotator": f"bench-rater-{a}", "step_ratings": ratings,
                             "first_error_index": fe})  # fmt: skip
            rec = {"external_id": f"t{i}", "group_key": f"g{i // 4}", "prompt": _text(rng, 30),
                   "steps": steps, "annotations": anns}  # fmt: skip
            fh.write(json.dumps(rec) + "\n")
    return labels


def child_prepare() -> dict:
    import psycopg

    base, name = _db_url().rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    _django.setup(_db_url(), migrate=True)
    return {"prepared": True}


def child_import(slug: str, n: int, annotators: int) -> dict:
    _django.setup(_db_url())
    from annotation.models import ProjectKind
    from annotation.services.imports import dataset_import
    from annotation.services.projects import project_create
    from annotation.services.users import user_imported_get_or_create

    owner = user_imported_get_or_create(username="bench-owner")
    project = project_create(name=slug, slug=slug, kind=ProjectKind.STEP_LABELS, created_by=owner)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "traces.jsonl"
        labels = write_traces(path, n, annotators)
        start = time.perf_counter()
        with open(path, "rb") as fh:
            result = dataset_import(project=project, dataset_name="bench", fmt="native", stream=fh)
        elapsed = time.perf_counter() - start
    assert result.ok, result.errors[:3]
    # What autovacuum does within a minute of a bulk load: without statistics the planner
    # reads each export chunk through the stream index (all of the project's entries per
    # chunk) instead of the primary key — 3x the server time on 200,000 items.
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    return {"items": result.items_created, "step_labels": labels, "import_s": round(elapsed, 2)}


def child_export(slug: str, file_format: str) -> dict:
    _django.setup(_db_url())
    from annotation.exporters.pipeline import export_write
    from annotation.models import Project

    project = Project.objects.get(slug=slug)
    with tempfile.TemporaryDirectory() as tmp, _django.PgCpu(_db_url()) as pg:
        start, cpu = time.perf_counter(), time.process_time()
        manifest = export_write(
            project=project,
            fmt="trl_stepwise",
            options={"file_format": file_format, "test_size": 0.05},
            out_dir=Path(tmp) / "out",
        )
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        size = sum(f["bytes"] for f in manifest["files"])
    records = manifest["counts"]["total"]
    return {
        "format": file_format,
        "records": records,
        "seconds": round(elapsed, 2),
        "records_per_s": round(records / elapsed),
        # Python (this process, both threads) and PostgreSQL CPU: they overlap (the reader
        # thread fetches the next chunk while this one is written), so on an idle 2-core
        # machine the wall time approaches the larger of the two.
        "python_cpu_s": round(cpu, 2),
        "postgres_cpu_s": round(pg.seconds, 2),
        "records_per_python_cpu_s": round(records / cpu),
        "bytes": size,
        "peak_rss_mb": round(_django.peak_rss_mb(), 1),
    }


def child_backup(slug: str, path: str) -> dict:
    _django.setup(_db_url())
    from annotation.models import Project
    from annotation.services.backups import project_backup_write

    project = Project.objects.get(slug=slug)
    with _django.PgCpu(_db_url()) as pg, open(path, "wb") as fh:
        start, cpu = time.perf_counter(), time.process_time()
        size = project_backup_write(project=project, out=fh)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    rows = _backup_rows(path)
    return {
        "items": project.items.count(),
        "rows": rows,
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rows / elapsed),
        "python_cpu_s": round(cpu, 2),
        "postgres_cpu_s": round(pg.seconds, 2),
        "bytes": size,
        "peak_rss_mb": round(_django.peak_rss_mb(), 1),
    }


def _backup_rows(path: str) -> int:
    """Rows in a backup, from its end marker (the last line)."""
    import gzip

    last = b""
    with gzip.open(path, "rb") as fh:
        for line in fh:
            last = line
    return sum(json.loads(last)["counts"].values())


def child_restore(path: str, slug: str) -> dict:
    _django.setup(_db_url())
    from annotation.models import Project
    from annotation.services.backups import project_restore

    Project.objects.filter(slug=slug).delete()
    with _django.PgCpu(_db_url()) as pg, open(path, "rb") as fh:
        start, cpu = time.perf_counter(), time.process_time()
        project = project_restore(stream=fh, slug=slug)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    rows = _backup_rows(path)
    return {
        "items": project.items.count(),
        "rows": rows,
        "seconds": round(elapsed, 2),
        "rows_per_s": round(rows / elapsed),
        "python_cpu_s": round(cpu, 2),
        "postgres_cpu_s": round(pg.seconds, 2),
        "peak_rss_mb": round(_django.peak_rss_mb(), 1),
    }


def child_agreement(slug: str, n: int) -> dict:
    import numpy as np

    _django.setup(_db_url())
    from annotation import agreement as ag
    from annotation.models import Project
    from annotation.selectors.agreement import agreement_field_get, field_report

    # The pure statistics over n items × 3 annotators (nominal, 3 classes).
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, n)
    data = np.where(rng.random((3, n)) < 0.8, truth, rng.integers(0, 3, (3, n))).astype(float)
    raters, units = np.nonzero(~np.isnan(data))
    start = time.perf_counter()
    r = ag.LongRatings.build(units, raters, data[raters, units])
    ag.field_agreement(r, level="nominal", value_domain=[0, 1, 2])
    pure = time.perf_counter() - start
    # The same from the database: first-error index of every item, all statistics.
    project = Project.objects.get(slug=slug)
    spec = agreement_field_get(project=project, key="first_error_index")
    start = time.perf_counter()
    report = field_report(project=project, spec=spec, with_trend=False, with_models=False)
    db = time.perf_counter() - start
    return {
        "items": n,
        "annotators": 3,
        "pure_s": round(pure, 3),
        "db_first_error_s": round(db, 3),
        "alpha": report["alpha"],
        "peak_rss_mb": round(_django.peak_rss_mb(), 1),
    }


def _run(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        sys.stderr.write(out.stdout + out.stderr)
        raise SystemExit(f"child {args} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        fn = {"prepare": child_prepare, "import": child_import, "export": child_export,
              "agreement": child_agreement, "backup": child_backup,
              "restore": child_restore}[kind]  # fmt: skip
        conv = [int(x) if x.isdigit() else x for x in rest]
        print(json.dumps(fn(*conv)))
        return
    traces = 200_000 if args.full else 20_000
    agree_items = 100_000 if args.full else 10_000
    _run("prepare")
    imported = _run("import", "bench-steps", str(traces), "1")
    agree_import = _run("import", "bench-agree", str(agree_items), "3")
    jsonl = _run("export", "bench-steps", "jsonl")
    parquet = _run("export", "bench-steps", "parquet")
    agreement = _run("agreement", "bench-agree", str(agree_items))
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench-agree.jsonl.gz")
        backup = _run("backup", "bench-agree", path)
        restore = _run("restore", path, "bench-agree-restored")
    assert restore["items"] == backup["items"] == agree_items
    result = {
        "bench": "export",
        "full": args.full,
        "traces": imported["items"],
        "step_labels": imported["step_labels"],
        "import_s": imported["import_s"],
        "agreement_import_s": agree_import["import_s"],
        "export_jsonl": jsonl,
        "export_parquet": parquet,
        "agreement": agreement,
        "backup": backup,
        "restore": restore,
        "goals": {
            "records_per_s>50000": min(jsonl["records_per_s"], parquet["records_per_s"]) > 50_000,
            "peak_rss_mb<300": max(jsonl["peak_rss_mb"], parquet["peak_rss_mb"]) < 300,
            "agreement_s<2": agreement["pure_s"] < 2 and agreement["db_first_error_s"] < 2,
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
