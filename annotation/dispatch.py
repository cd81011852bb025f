"""Queueing background work without importing task modules.

Services name what to queue ("annotation.import_run", "labeling_jobs.chunk") and the task
modules register, at import, the function that sends it (`sender_register`). So services never
import tasks (tasks import services), and there is no import cycle. Every app's AppConfig
imports its tasks module in `ready()`, so the senders are registered in the web process as well
as in workers.

Sends happen after the surrounding transaction commits, so a worker never sees a row that is
not there yet, and a rolled-back request queues nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction

_senders: dict[str, Callable[[int], Any]] = {}


class UnknownSenderError(LookupError):
    """No task module registered a sender under this name (a bug, never user input)."""


def sender_register(name: str, send: Callable[[int], Any]) -> None:
    """Register `send(object_id)`, which queues the task for one object."""
    _senders[name] = send


def sender_names() -> list[str]:
    return sorted(_senders)


def _sender(name: str) -> Callable[[int], Any]:
    try:
        return _senders[name]
    except KeyError:
        raise UnknownSenderError(
            f"no task module registered a sender for {name!r}; known: {', '.join(sender_names())}"
        ) from None


def enqueue_on_commit(name: str, ids: Iterable[int]) -> None:
    """Queue `name`'s task once per id after the current transaction commits (at once when
    there is none)."""
    send = _sender(name)  # fail now, inside the request, for an unknown name
    todo = list(ids)

    def _send() -> None:
        for object_id in todo:
            send(object_id)

    if todo:
        transaction.on_commit(_send)
