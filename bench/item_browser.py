"""Item browser speed on PostgreSQL (issue 10): list pages, deep keyset pages, every filter
and full-text search over a project of synthetic traces.

Builds the project through `dataset_import` (native JSONL, the COPY path, which also fills
the search column), then gives it the state a real project has — human labels on some items
(complete or in progress), adjudications, gold items, flags, item-level model verdicts,
priorities — with bulk SQL, runs ANALYZE, and times each browser query `--reps` times
(selector level: the SQL plus the page's row queries, as `item_browse` runs them), then the
web page and the REST list through Django's test client. Reports p50/p95 per query in ms.

    python bench/item_browser.py           # 5,000 items (< 2 min)
    python bench/item_browser.py --full    # 100,000 items

Goal: p95 under 100 ms at 100,000 items. Database: BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/stepwise_bench_items), dropped and recreated per run.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import _django  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/stepwise_bench_items"
WORDS = [f"w{i}" for i in range(2000)]
# Words every item has (common), some have (1%), and one item has (rare).
COMMON, SOME, RARE = "solve", "quadratic", "aardvark"


def _db_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def write_items(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(path, "w") as fh:
        for i in range(n):
            prompt = f"{COMMON} {_text(rng, 25)}"
            if i % 100 == 7:
                prompt += f" {SOME} equation"
            if i == n // 2:
                prompt += f" {RARE}"
            steps = [_text(rng, rng.randint(15, 35)) for _ in range(5)]
            rec = {"external_id": f"t{i}", "prompt": prompt, "steps": steps}
            fh.write(json.dumps(rec) + "\n")


def _prepare() -> None:
    import psycopg

    base, name = _db_url().rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def build(n: int) -> dict[str, Any]:
    from django.db import connection

    from annotation.models import ProjectKind, Role
    from annotation.services.imports import dataset_import
    from annotation.services.projects import membership_set, project_create
    from annotation.services.users import user_imported_get_or_create

    owner = user_imported_get_or_create(username="bench-owner")
    owner.kind = "human"
    owner.save()
    project = project_create(name="items", slug="items", kind=ProjectKind.STEP_LABELS,
                             created_by=owner, overlap=2)  # fmt: skip
    membership_set(project=project, user=owner, role=Role.MANAGER)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.jsonl"
        write_items(path, n)
        start = time.perf_counter()
        with open(path, "rb") as fh:
            result = dataset_import(project=project, dataset_name="main", fmt="native", stream=fh)
        import_s = time.perf_counter() - start
        small = Path(tmp) / "small.jsonl"
        write_items(small, max(10, n // 100), seed=1)
        with open(small, "rb") as fh:
            second = dataset_import(project=project, dataset_name="second", fmt="native",
                                    stream=fh)  # fmt: skip
    assert result.ok, result.errors[:3]
    assert second.ok, second.errors[:3]
    pid = project.id
    with connection.cursor() as cur:
        cur.execute("INSERT INTO annotation_user (password, is_superuser, username, first_name,"
                    " last_name, email, is_staff, is_active, date_joined, kind,"
                    " can_create_projects) SELECT '!', false, 'rater' || g, '', '', '', false,"
                    " true, now(), 'human', false FROM generate_series(1, 3) g")  # fmt: skip
        cur.execute("SELECT id FROM annotation_user WHERE username LIKE 'rater%%' ORDER BY id")
        raters = [r[0] for r in cur.fetchall()]
        # 20% of items labeled: every 5th by two raters (complete), some by one (in progress).
        for k, rater in enumerate(raters[:2]):
            cur.execute(
                "INSERT INTO annotation_annotation (item_id, annotator_id, source,"
                " first_error_index, finish_reason, justification, note, revision,"
                " created_at, updated_at) SELECT id, %s, 'human', (id %% 3) * %s - 1, '', '',"
                " '', 1, now(), now() FROM annotation_item WHERE project_id = %s AND id %% 5 = 0",
                [rater, k, pid],
            )  # fmt: skip
        cur.execute("UPDATE annotation_item SET done_count = 2, is_complete = true"
                    " WHERE project_id = %s AND id %% 5 = 0", [pid])  # fmt: skip
        cur.execute(
            "INSERT INTO annotation_annotation (item_id, annotator_id, source, first_error_index,"
            " finish_reason, justification, note, revision, created_at, updated_at)"
            " SELECT id, %s, 'human', 0, '', '', '', 1, now(), now() FROM annotation_item"
            " WHERE project_id = %s AND id %% 5 = 1 AND id %% 2 = 0", [raters[2], pid],
        )  # fmt: skip
        cur.execute("UPDATE annotation_item SET done_count = 1 WHERE project_id = %s"
                    " AND id %% 5 = 1 AND id %% 2 = 0", [pid])  # fmt: skip
        cur.execute(
            "INSERT INTO annotation_annotation (item_id, annotator_id, source, first_error_index,"
            " finish_reason, justification, note, revision, created_at, updated_at)"
            " SELECT id, %s, 'adjudication', 1, '', '', '', 1, now(), now() FROM annotation_item"
            " WHERE project_id = %s AND id %% 50 = 0", [owner.id, pid],
        )  # fmt: skip
        cur.execute("UPDATE annotation_item SET is_gold = true WHERE project_id = %s"
                    " AND id %% 200 = 3", [pid])  # fmt: skip
        cur.execute("UPDATE annotation_item SET priority = (id %% 10) WHERE project_id = %s"
                    " AND id %% 7 = 0", [pid])  # fmt: skip
        cur.execute(
            "INSERT INTO annotation_flag (item_id, user_id, reason, note, created_at)"
            " SELECT id, %s, 'broken', '', now() FROM annotation_item WHERE project_id = %s"
            " AND id %% 100 = 11", [raters[0], pid],
        )  # fmt: skip
        cur.execute(
            "INSERT INTO annotation_suggestion (item_id, target, method, model_name, score,"
            " label, raw, job_id, created_at) SELECT id, 'item', 'verify', 'bench-model',"
            " (id %% 100) / 100.0, ((id %% 6) - 1)::text, '{}', 1, now() FROM annotation_item"
            " WHERE project_id = %s AND id %% 10 < 3", [pid],
        )  # fmt: skip
        cur.execute("ANALYZE")
        cur.execute("SELECT pg_size_pretty(pg_relation_size('item_search_gin'))")
        gin = cur.fetchone()[0]
    return {"items": result.items_created + second.items_created, "import_s": round(import_s, 2),
            "import_items_per_s": round(result.items_created / import_s), "gin_index": gin,
            "annotator_id": raters[2], "second_dataset": second.dataset_id}  # fmt: skip


def _time(fn: Callable[[], Any], reps: int) -> dict[str, float]:
    fn()  # warm the plan cache and the buffers once
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1)}


def measure(info: dict[str, Any], reps: int) -> dict[str, Any]:
    from django.test import Client
    from django.test.utils import setup_test_environment

    from annotation.models import Item, Project, User
    from annotation.selectors.items import ItemQuery, item_browse, item_cursor_parse

    project = Project.objects.get(slug="items")
    ids = list(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    deep_id = ids[int(len(ids) * 0.9)]
    results: dict[str, Any] = {}

    def page(query: ItemQuery, after: tuple[int, int] | None = None) -> Callable[[], Any]:
        return lambda: item_browse(project=project, query=query, after=after)

    cases: dict[str, Callable[[], Any]] = {
        "first_page": page(ItemQuery()),
        "deep_page_90pct": page(ItemQuery(), item_cursor_parse(cursor=str(deep_id), order="id")),
        "priority_first_page": page(ItemQuery(order="-priority")),
        "priority_deep_page": page(ItemQuery(order="-priority"), (0, deep_id)),
        "dataset_second": page(ItemQuery(dataset_id=info["second_dataset"])),
        "labels_min_2": page(ItemQuery(labels_min=2)),
        "priority_min_5": page(ItemQuery(priority_min=5)),
        "annotator": page(ItemQuery(annotator_id=info["annotator_id"])),
        "flags_open": page(ItemQuery(flags="open")),
        "flags_none": page(ItemQuery(flags="none")),
        "suggested_yes": page(ItemQuery(suggested="yes")),
        "suggested_no": page(ItemQuery(suggested="no")),
        "method_verify_verdict_-1": page(ItemQuery(method="verify", verdict="-1")),
        "score_min_0.95": page(ItemQuery(score_min=0.95)),
        "agreement_disagree": page(ItemQuery(agreement="disagree")),
        "agreement_single": page(ItemQuery(agreement="single")),
        "search_common": page(ItemQuery(q=COMMON)),
        "search_some": page(ItemQuery(q=SOME)),
        "search_rare": page(ItemQuery(q=RARE)),
        "search_phrase": page(ItemQuery(q=f'"{SOME} equation"')),
        "search_absent": page(ItemQuery(q="nosuchwordanywhere")),
        "search_and_status": page(ItemQuery(q=SOME, status="complete")),
        "search_step_word_w17": page(ItemQuery(q="w17 w1999")),
    }
    for status in ("unlabeled", "in_progress", "complete", "adjudicated", "gold"):
        cases[f"status_{status}"] = page(ItemQuery(status=status))
    for name, fn in cases.items():
        results[name] = _time(fn, reps) | {"rows": len(fn().rows)}

    setup_test_environment()
    client = Client()
    client.force_login(User.objects.get(username="bench-owner"))
    http = {
        "web_first_page": "/projects/items/items/",
        "web_search_htmx": f"/projects/items/items/?q={SOME}",
        "api_first_page": "/api/v1/projects/items/items/",
        "api_search": f"/api/v1/projects/items/items/?q={SOME}",
    }
    for name, url in http.items():

        def get(url: str = url, htmx: bool = "htmx" in name) -> None:
            extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
            response = client.get(url, **extra)
            assert response.status_code == 200, (url, response.status_code)

        results[name] = _time(get, reps)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="100,000 items (default 5,000)")
    parser.add_argument("--items", type=int, help="number of items (overrides --full)")
    parser.add_argument("--reps", type=int, default=20, help="timed runs per query")
    args = parser.parse_args()
    n = args.items or (100_000 if args.full else 5_000)
    _prepare()
    _django.setup(_db_url(), migrate=True)
    os.environ.setdefault("STEPWISE_API_THROTTLE", "off")
    info = build(n)
    print(f"built {info['items']} items in {info['import_s']} s "
          f"({info['import_items_per_s']} items/s incl. the search column)", flush=True)  # fmt: skip
    results = measure(info, args.reps)
    worst = max(v["p95_ms"] for v in results.values())
    for name, r in results.items():
        print(f"{name:28s} p50 {r['p50_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms"
              + (f"  rows {r['rows']}" if "rows" in r else ""))  # fmt: skip
    load = os.getloadavg()[0]
    print(json.dumps({"bench": "item_browser", "items": info["items"],
                      "import_s": info["import_s"], "gin_index": info["gin_index"],
                      "worst_p95_ms": worst, "goal_p95_ms": 100, "met": worst < 100,
                      "load_avg_1m": round(load, 2), "queries": results}))  # fmt: skip


if __name__ == "__main__":
    main()
