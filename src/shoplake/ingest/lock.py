"""One writer per lake: an advisory lock on the lake folder.

Two ``run``s (or a ``run`` and a ``watch``) on the same lake would otherwise
both read "file X is new" and both ingest it: delta-rs retries blind appends
on conflict without telling us, so Delta conflict detection does not catch
this. The lock is an ``flock`` on the lake directory itself (no lock file to
clean up); the kernel releases it when the holder dies, even by SIGKILL.
A lake on an object store has no kernel to ask: there the lock is a lease
object written with conditional puts, renewed by a heartbeat and taken over
once it lapses (``ingest/lease.py``). Both wait the same way for ``--wait``.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shoplake.errors import ShoplakeError
from shoplake.pipeline.faults import fault
from shoplake.stores import display, is_object_store


class LakeBusy(ShoplakeError):
    """Another process is updating the lake."""


def _local(lake: str) -> Path | None:
    if lake.startswith("file://"):
        return Path(lake.removeprefix("file://"))
    return None if "://" in lake else Path(lake)


def _busy(lake: str, holder: str | None = None) -> LakeBusy:
    by = f" ({holder})" if holder else ""
    return LakeBusy(
        f"another shoplake process{by} is updating the lake {display(lake)}; wait for it to "
        "finish (or stop it), or pass --wait SECONDS to queue behind it"
    )


@contextmanager
def lake_lock(lake: str, wait_s: float = 0.0, ttl_s: float = 30.0) -> Iterator[None]:
    """Hold the lake's one-writer lock for the block; wait up to ``wait_s`` for another
    holder, then raise :class:`LakeBusy`. ``ttl_s``: how long an object-store lease
    outlives a holder that stopped renewing it."""
    if is_object_store(lake):
        with _leased(lake, wait_s, ttl_s):
            yield
        return
    folder = _local(lake)
    if folder is None:  # another fsspec store (memory://...): no lock to take
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _busy(lake) from None
                time.sleep(0.1)
        fault("holding_lock")
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextmanager
def _leased(lake: str, wait_s: float, ttl_s: float) -> Iterator[None]:
    from shoplake.ingest.lease import POLL_S, Lease

    lease = Lease(lake, ttl_s)
    deadline = time.monotonic() + wait_s
    seen: dict[str, float] = {}
    while (holder := lease.try_acquire(seen)) is not None:
        if time.monotonic() >= deadline:
            raise _busy(lake, holder)
        time.sleep(POLL_S)
    lease.start()
    try:
        fault("holding_lock")
        yield
    finally:
        lease.release()
