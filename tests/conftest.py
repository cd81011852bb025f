from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotation.models import Project, Role, User
from annotation.services.projects import membership_set, project_create

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# CI clones the project beside shared/; a developer's checkout is /work/main beside /work/shared.
# A worktree under /work/wt/<name> finds it two levels further up.
for candidate in (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data",
    Path(__file__).resolve().parents[2] / "shared" / "data",
    Path(__file__).resolve().parents[3] / "shared" / "data",
):
    if candidate.is_dir():
        SHARED_DATA = candidate.resolve()
        break


def shared_file(name: str) -> Path:
    """A file from ../shared/data, or skip the test saying which file is absent."""
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"real data file ../shared/data/{name} is absent; skipping the real-file test")
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import os

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
