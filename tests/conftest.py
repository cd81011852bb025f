from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotation.models import Project, Role, User
from annotation.services.projects import membership_set, project_create


def _shared_data() -> Path:
    """Where the real data is: $STEPWISE_SHARED_DATA when set, else shared/data beside the
    checkout (CI clones the project beside shared/; /work/main sits beside /work/shared), else
    beside a folder further up (a git worktree under /work/wt/<name>)."""
    if os.environ.get("STEPWISE_SHARED_DATA"):
        return Path(os.environ["STEPWISE_SHARED_DATA"]).resolve()
    repo = Path(__file__).resolve().parents[1]
    for parent in repo.parents:
        if (parent / "shared" / "data").is_dir():
            return parent / "shared" / "data"
    return repo.parent / "shared" / "data"


SHARED_DATA = _shared_data()


def shared_file(name: str) -> Path:
    """A file from the shared data folder, or skip the test saying which file is absent."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent; skipping the real-file test")
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres", "pgsql"))
    if not on_postgres:
        skip = pytest.mark.skip(reason="needs PostgreSQL (SKIP LOCKED / COPY); set DATABASE_URL")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    counter = {"n": 0}

    def make(username: str | None = None, **kw) -> User:
        counter["n"] += 1
        name = username or f"user{counter['n']}"
        return User.objects.create_user(username=name, password="pw-" + name, **kw)

    return make


@pytest.fixture
def make_project(db, make_user) -> Callable[..., Project]:
    def make(
        kind: str = "step_labels", slug: str | None = None, manager: User | None = None, **kw
    ) -> Project:
        manager = manager or make_user()
        slug = slug or f"{kind.replace('_', '-')}-{Project.objects.count() + 1}"
        return project_create(name=slug.title(), slug=slug, kind=kind, created_by=manager, **kw)

    return make


@pytest.fixture
def member(make_user) -> Callable[[Project, str], User]:
    def make(project: Project, role: str = Role.ANNOTATOR) -> User:
        user = make_user()
        membership_set(project=project, user=user, role=role)
        return user

    return make


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def is_postgres(db) -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def routing_inline(monkeypatch, django_capture_on_commit_callbacks) -> Callable[[], Any]:
    """Run the routing task in this process when it is queued (as an eager worker would):
    use `with routing_inline(): ...` around a settings change."""
    from annotation import tasks

    monkeypatch.setattr(
        tasks.item_routing_recompute_task,
        "delay",
        lambda pid: tasks.item_routing_recompute_task(pid),
    )

    def run() -> Any:
        return django_capture_on_commit_callbacks(execute=True)

    return run
