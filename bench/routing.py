"""Uncertainty routing (issue 11 part 3): the cost of re-ranking a project after a scoring
job, and the claim query before and after (it must stay as cheap: same order, same index).

Creates N items with item-level judge, MC and PRM verdicts (bulk, no import pipeline), then
times `item_routing_recompute` (once cold, once again) and the median of 50 claims (each by a
fresh annotator) with routing off and on.

    python bench/routing.py           # 20,000 items
    python bench/routing.py --full    # 100,000 items

Database: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/stepwise_bench_routing),
migrated; the bench project is deleted and recreated per run. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import _django  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/stepwise_bench_routing"


def _claims(project, users, n: int) -> float:  # noqa: ANN001
    from annotation.services.assignments import assignment_claim_next

    times = []
    for user in users[:n]:
        t0 = time.perf_counter()
        assignment_claim_next(project=project, annotator=user)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--items", type=int)
    args = ap.parse_args()
    n = args.items or (100_000 if args.full else 20_000)
    _django.setup(os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB), migrate=True)
    from django.db import connection

    from annotation.models import Dataset, Item, Project, Role, Suggestion, User
    from annotation.services.model_loop import item_routing_recompute
    from annotation.services.projects import membership_set, project_create

    Project.objects.filter(slug="bench-routing").delete()
    manager, _ = User.objects.get_or_create(username="bench-routing-manager")
    project = project_create(name="bench routing", slug="bench-routing", kind="step_labels",
                             created_by=manager)  # fmt: skip
    ds = Dataset.objects.create(project=project, name="d", source_format="native")
    rng = random.Random(0)
    Item.objects.bulk_create(
        (Item(dataset=ds, project=project, external_id=f"x{i}", content_hash=f"h{i}",
              priority=rng.randint(0, 3)) for i in range(n)),
        batch_size=5000,
    )  # fmt: skip
    ids = list(Item.objects.filter(project=project).values_list("id", flat=True))
    rows = []
    for item_id in ids:
        ref = rng.randint(-1, 4)
        other = ref if rng.random() < 0.8 else rng.randint(-1, 4)
        scores = [round(rng.random(), 3) for _ in range(6)]
        rows += [
            Suggestion(item_id=item_id, target="item", method="verify", label=str(ref),
                       model_name="m", job_id=1),
            Suggestion(item_id=item_id, target="item", method="mc", label=str(other),
                       model_name="m", job_id=2),
            Suggestion(item_id=item_id, target="item", method="prm", label=str(ref),
                       model_name="m", job_id=3, raw={"scores": scores, "threshold": 0.5}),
        ]  # fmt: skip
    Suggestion.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    users = []
    for k in range(50):
        u, _ = User.objects.get_or_create(username=f"bench-routing-{k}")
        membership_set(project=project, user=u, role=Role.ANNOTATOR)
        users.append(u)
    claim_off = _claims(project, users[:25], 25)
    project.routing = "uncertainty"
    project.save(update_fields=["routing"])
    t0 = time.perf_counter()
    item_routing_recompute(project=project)  # what the queued task does
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    ranked = item_routing_recompute(project=project)
    again = time.perf_counter() - t0
    claim_on = _claims(project, users[25:], 25)
    result = {
        "items": n, "ranked": ranked, "recompute_first_s": round(first, 2),
        "recompute_again_s": round(again, 2), "items_per_s": round(n / again),
        "claim_median_ms_priority": round(claim_off, 2),
        "claim_median_ms_uncertainty": round(claim_on, 2),
    }  # fmt: skip
    print(f"{n:,} items: recompute {first:.2f} s (first), {again:.2f} s (again); claim median "
          f"{claim_off:.1f} ms by priority, {claim_on:.1f} ms by uncertainty")  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
