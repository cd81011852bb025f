"""COPY in a background thread, so that PostgreSQL stores one batch while Python parses the
next one (the import's two halves then overlap on two cores instead of taking turns).

The thread uses the import's own connection (psycopg connections are thread-safe: a COPY
holds the connection's lock, so a query from the importing thread waits for it), inside the
import's transaction. Foreign keys are checked at the end of each COPY statement
(`SET CONSTRAINTS ALL IMMEDIATE`) rather than all at COMMIT, so that work overlaps too; the
deferred default is restored when the pipeline closes. An error in the thread is raised in
the importing thread at its next `submit` or at `close`, and the transaction rolls back.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection

_DONE = object()
_active = threading.local()


@contextmanager
def copy_pipeline_scope() -> Iterator[None]:
    """Close the pipeline a block opened before the block ends: wait for it on success, drop
    its queue on an exception. Use it inside the transaction (`with atomic(), scope():`), so
    no COPY outlives the transaction."""
    try:
        yield
    except BaseException:
        _close(abort=True)
        raise
    _close(abort=False)


def _close(*, abort: bool) -> None:
    pipeline = getattr(_active, "pipeline", None)
    _active.pipeline = None
    if pipeline is not None:
        pipeline.close(abort=abort)


class CopyPipeline:
    """`submit(table, columns, rows)` queues a COPY, `submit_sql(sql, params)` a statement;
    `close()` waits for all of them."""

    def __init__(self, *, depth: int = 8) -> None:
        connection.ensure_connection()
        self._conn = connection.connection
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._closed = False
        with connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        self._thread = threading.Thread(target=self._run, name="import-copy", daemon=True)
        self._thread.start()
        _active.pipeline = self

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is _DONE:
                return
            if self._error is not None:
                continue  # drain: the import is failing anyway
            table, columns, rows = job
            try:
                if columns is None:  # a statement queued by submit_sql
                    with self._conn.cursor() as cur:
                        # No parameters: the simple protocol, which runs several statements.
                        cur.execute(table, rows or None)
                    continue
                cols = ", ".join(f'"{c}"' for c in columns)
                with (
                    self._conn.cursor() as cur,
                    cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp,
                ):
                    write = cp.write_row
                    for row in rows:
                        write(row)
            except BaseException as exc:  # noqa: BLE001 - handed to the importing thread
                self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            with connection.wrap_database_errors:  # psycopg's errors as Django's
                raise self._error

    def submit(self, table: str, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> None:
        self._raise()
        if rows:
            self._queue.put((table, columns, rows))

    def submit_sql(self, sql: str, params: Sequence[Any]) -> None:
        """Queue one statement to run after the COPYs queued before it (in order, on the
        same connection and transaction): work on rows that are still on their way in."""
        self._raise()
        self._queue.put((sql, None, params))

    def close(self, *, abort: bool = False) -> None:
        """Wait for every queued COPY and raise the first error; with `abort`, skip what is
        still queued (the import is failing). Must run before the transaction ends, so no
        COPY can outlive it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if abort and self._error is None:
            self._error = _Aborted()
        self._queue.put(_DONE)
        self._thread.join()
        if abort:
            return
        self._raise()
        with connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL DEFERRED")


class _Aborted(Exception):
    pass
