"""One writer per lake: an advisory lock on the lake folder.

Two ``run``s (or a ``run`` and a ``watch``) on the same lake would otherwise
both read "file X is new" and both ingest it: delta-rs retries blind appends
on conflict without telling us, so Delta conflict detection does not catch
this. The lock is an ``flock`` on the lake directory itself (no lock file to
clean up); the kernel releases it when the holder dies, even by SIGKILL.
Object-store lakes have no such lock: run one writer per lake there.
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


class LakeBusy(ShoplakeError):
    """Another process is updating the lake."""


def _local(lake: str) -> Path | None:
    if lake.startswith("file://"):
        return Path(lake.removeprefix("file://"))
    return None if "://" in lake else Path(lake)


@contextmanager
def lake_lock(lake: str, wait_s: float = 0.0) -> Iterator[None]:
    folder = _local(lake)
    if folder is None:
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
                    raise LakeBusy(
                        f"another shoplake process is updating the lake {lake}; wait for it to "
                        "finish (or stop it), or pass --wait SECONDS to queue behind it"
                    ) from None
                time.sleep(0.1)
        fault("holding_lock")
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
