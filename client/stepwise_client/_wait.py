"""Polling a background run until it finishes, optionally with a tqdm progress bar."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from stepwise_client.errors import WaitTimeout

T = TypeVar("T")


def wait_for(
    run: T,
    refresh: Callable[[T], T],
    *,
    what: str,
    progress_of: Callable[[T], tuple[int, int | None]],
    timeout: float | None,
    poll_interval: float,
    progress: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Refresh `run` until `run.done`; a bar shows `progress_of(run)` = (done, total).

    Polls quickly at first (0.2 s), then every `poll_interval` seconds. Raises WaitTimeout
    after `timeout` seconds (None: wait as long as it takes).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    interval = min(0.2, poll_interval)
    bar: Any = None
    if progress:
        from tqdm.auto import tqdm

        done, total = progress_of(run)
        bar = tqdm(desc=what, total=total, initial=done, unit="item", dynamic_ncols=True)
    try:
        while True:
            if bar is not None:
                done, total = progress_of(run)
                if total and bar.total != total:
                    bar.total = total
                bar.n = done
                bar.set_postfix_str(getattr(run, "status", ""), refresh=False)
                bar.refresh()
            if getattr(run, "done", False):
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"{what} still {getattr(run, 'status', '?')} after {timeout} s", run=run
                )
            pause = interval if deadline is None else min(interval, deadline - time.monotonic())
            sleep(max(0.0, pause))
            interval = min(poll_interval, interval * 2)
            run = refresh(run)
    finally:
        if bar is not None:
            bar.close()
