"""Fixtures of the client's tests: the app's live server (pytest-django `live_server`), a
user with an API token, a `stepwise_client.Client` for them, and a real Celery worker for the
tests whose imports, jobs and exports run in the background.

The live server answers on its own thread and the worker runs tasks on another, each with its
own database connection; SQLite's shared in-memory test database cannot serve them
concurrently, so those tests (marked `worker`) run on PostgreSQL only, as CI does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

# Installed by `make test` (requirements-dev.txt: -e ./client[datasets]).
from stepwise_client import Client

from tests.client.faulty_proxy import FaultyProxy

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres", "pgsql"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ON_POSTGRES:
        return
    skip = pytest.mark.skip(
        reason="client tests with a Celery worker need PostgreSQL: the live server and the "
        "worker use the database from their own threads (set DATABASE_URL, as CI does)"
    )
    for item in items:
        if "worker" in item.keywords and "tests/client/" in item.nodeid:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path, monkeypatch) -> None:
    """Never read the developer's own token or config file."""
    for name in ("STEPWISE_URL", "STEPWISE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STEPWISE_CONFIG", str(tmp_path / "stepwise-config.toml"))


@pytest.fixture
def token_for(transactional_db) -> Callable[..., str]:
    from rest_framework.authtoken.models import Token

    def make(user) -> str:  # noqa: ANN001
        return Token.objects.get_or_create(user=user)[0].key

    return make


@pytest.fixture
def manager(transactional_db, make_user):
    return make_user("maria")


@pytest.fixture
def connect(live_server, token_for) -> Iterator[Callable[..., Client]]:
    """connect(user, **kw) -> a Client for `user` against the live server."""
    made: list[Client] = []

    def make(user, url: str | None = None, **kw) -> Client:  # noqa: ANN001
        kw.setdefault("retries", 1)
        kw.setdefault("backoff", 0.01)
        kw.setdefault("poll_interval", 0.2)
        client = Client(url or live_server.url, token=token_for(user), **kw)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def sw(connect, manager) -> Client:
    """The manager's client."""
    return connect(manager)


@pytest.fixture
def proxy(live_server) -> Iterator[FaultyProxy]:
    p = FaultyProxy(live_server.url)
    yield p
    p.close()


@pytest.fixture
def worker(transactional_db):
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    with start_worker(
        app, pool="solo", perform_ping_check=False, shutdown_timeout=30,
        queues=["default", "gpu"],
    ) as w:  # fmt: skip
        yield w


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random Llama saved locally (no download), as the labeling-job tests build it."""
    from tests.labeling_jobs.conftest import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("client-tiny-llama")))
