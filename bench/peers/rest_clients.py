"""The client side of the peer benchmark: one HTTP client class for both servers, and how
each step of the work maps onto each API (see bench/peers/label_studio.py for the table)."""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

PAIRWISE_CONFIG = """<View>
  <Text name="prompt" value="$prompt"/>
  <Pairwise name="comparison" toName="answer1,answer2"/>
  <Text name="answer1" value="$answer1"/>
  <Text name="answer2" value="$answer2"/>
</View>"""


class ServerError(RuntimeError):
    """A 5xx answer: counted, and the cycle is tried again."""


# --- the shared client code ----------------------------------------------------------------


class Api:
    """One user's HTTP client: keep-alive, token auth, every call timed."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Token {token}"}, timeout=900
        )

    def call(self, method: str, path: str, **kwargs: Any) -> tuple[httpx.Response, float]:
        started = time.perf_counter()
        response = self.http.request(method, path, **kwargs)
        return response, (time.perf_counter() - started) * 1000

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response, _ = self.call(method, path, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def download(self, path: str, dest: Path, params: dict[str, str] | None = None) -> int:
        with self.http.stream("GET", path, params=params) as response:
            if response.status_code >= 400:
                response.read()
                raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:500]}")
            with open(dest, "wb") as fh:
                for chunk in response.iter_bytes(1 << 20):
                    fh.write(chunk)
        return dest.stat().st_size

    def close(self) -> None:
        self.http.close()


def check(r: httpx.Response, what: str, expected: int = 200) -> None:
    if r.status_code >= 500:
        raise ServerError(f"{what} {r.status_code}: {r.text[:200]}")
    if r.status_code != expected:
        raise RuntimeError(f"{what} {r.status_code}: {r.text[:300]}")


# --- the peers: each step on each API --------------------------------------------------------


class LabelStudio:
    name = "Label Studio"

    def __init__(self, base_url: str, tokens: list[str]) -> None:
        self.admin = Api(base_url, tokens[0])
        self.annotators = [Api(base_url, t) for t in tokens[1:]]
        self.project_id = 0

    def create_project(self) -> None:
        p = self.admin.ok(
            "POST", "/api/projects", json={"title": "peer bench", "label_config": PAIRWISE_CONFIG}
        )
        self.project_id = p["id"]

    def import_file(self, ls_path: Path, sw_path: Path, n: int) -> dict[str, Any]:
        with open(ls_path, "rb") as fh:
            out = self.admin.ok(
                "POST",
                f"/api/projects/{self.project_id}/import",
                files={"file": ("tasks.json", fh, "application/json")},
            )
        # Community edition imports synchronously: the tasks exist when the response comes.
        count = self.admin.ok("GET", f"/api/projects/{self.project_id}/")["task_number"]
        if count != n:
            raise RuntimeError(f"import: {count} tasks of {n}: {out}")
        return {"tasks": count}

    def next(self, api: Api) -> tuple[Any, float]:
        r, ms = api.call("GET", f"/api/projects/{self.project_id}/next/")
        if r.status_code == 404:
            return None, ms
        check(r, "next")
        return r.json(), ms

    def submit(self, api: Api, task: Any, rng: random.Random) -> float:
        result = [{
            "from_name": "comparison", "to_name": "comparison", "type": "pairwise",
            "value": {"selected": rng.choice(("left", "right"))},
        }]  # fmt: skip
        r, ms = api.call(
            "POST",
            f"/api/tasks/{task['id']}/annotations/",
            json={"result": result, "lead_time": 12.5},
        )
        check(r, "submit", 201)
        return ms

    def export(self, dest: Path) -> None:
        self.admin.download(
            f"/api/projects/{self.project_id}/export",
            dest,
            params={"exportType": "JSON", "download_all_tasks": "true"},
        )


class Stepwise:
    name = "Stepwise"
    slug = "peer-bench"

    def __init__(self, base_url: str, tokens: list[str], usernames: list[str]) -> None:
        self.admin = Api(base_url, tokens[0])
        self.annotators = [Api(base_url, t) for t in tokens[1:]]
        self.usernames = usernames
        self.base = f"/api/v1/projects/{self.slug}"

    def create_project(self) -> None:
        self.admin.ok(
            "POST",
            "/api/v1/projects/",
            json={
                "name": "peer bench", "slug": self.slug, "kind": "preference",
                "label_schema": {"principles": [], "justification_required": False},
            },
        )  # fmt: skip
        for username in self.usernames[1:]:
            self.admin.ok(
                "POST", f"{self.base}/members/", json={"username": username, "role": "annotator"}
            )

    def import_file(self, ls_path: Path, sw_path: Path, n: int) -> dict[str, Any]:
        started = time.perf_counter()
        with open(sw_path, "rb") as fh:
            run = self.admin.ok(
                "POST",
                f"{self.base}/imports/",
                files={"file": ("items.jsonl", fh, "application/x-ndjson")},
                data={"format": "native", "dataset": "pairs"},
            )
        upload_s = time.perf_counter() - started
        while run["status"] in ("queued", "running"):
            time.sleep(0.01)
            run = self.admin.ok("GET", f"{self.base}/imports/{run['id']}/")
        if run["status"] != "succeeded" or run["items_created"] != n:
            raise RuntimeError(f"import run: {run}")
        # The upload request alone, and the run as the worker timed it.
        return {"tasks": run["items_created"], "upload_s": round(upload_s, 3),
                "run": [run["started_at"], run["finished_at"]]}  # fmt: skip

    def next(self, api: Api) -> tuple[Any, float]:
        r, ms = api.call("POST", f"{self.base}/assignments/next/", json={})
        if r.status_code == 204:
            return None, ms
        check(r, "next")
        return r.json(), ms

    def submit(self, api: Api, assignment: Any, rng: random.Random) -> float:
        labels = {"candidate_a": 0, "candidate_b": 1, "strength": rng.choice((-1, 1))}
        r, ms = api.call(
            "POST",
            f"{self.base}/assignments/{assignment['id']}/submit/",
            json={"labels": labels, "client_token": uuid.uuid4().hex, "active_ms": 12_500},
        )
        check(r, "submit", 201)
        return ms

    def export(self, dest: Path) -> None:
        run = self.admin.ok("POST", f"{self.base}/exports/", json={"format": "label_studio"})
        while run["status"] in ("queued", "running"):
            time.sleep(0.01)
            run = self.admin.ok("GET", f"{self.base}/exports/{run['id']}/")
        if run["status"] != "succeeded":
            raise RuntimeError(f"export run: {run}")
        data = [f for f in run["files"] if f["name"].endswith((".json", ".jsonl"))]
        self.admin.download(data[0]["url"], dest)
