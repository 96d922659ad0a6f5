"""Named crash points for tests: ``SHOPLAKE_FAULT=<point>[:kill|pause|raise][,...]``.

The one fault-injection mechanism of every stage (file batches, the stream).
``kill`` ends the process with SIGKILL on the spot (nothing is flushed, no
handler runs), ``pause`` prints ``paused at <point>`` to stderr, writes the
process id to ``SHOPLAKE_FAULT_MARKER`` (when set) and waits to be killed,
``raise`` raises :class:`FaultInjected`. Unset, a crash point costs one
environment lookup.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

FAULT_ENV = "SHOPLAKE_FAULT"
MARKER_ENV = "SHOPLAKE_FAULT_MARKER"
POINTS = (
    "before_bronze_commit",  # files read, bronze rows built, nothing committed
    "after_bronze_commit",  # bronze committed, _system/files not yet reconciled
    "before_archive",  # _system/files reconciled, files still in landing
    "mid_archive",  # the first file of a batch moved, the others not
    "archive_copied",  # object store: a file copied to the archive, not yet deleted
    "holding_lock",  # the lake lock taken, the batch not started
    "after_compact",  # maintenance: the compaction committed, nothing vacuumed yet
    "after_vacuum",  # maintenance: old files deleted, the log not yet checkpointed
    "stream_before_bronze_commit",  # a micro-batch read from the topic, nothing committed
    "stream_after_bronze_commit",  # the micro-batch and its offsets committed, nothing downstream
    "after_commit@<layer.name>",  # that table's flow committed, nothing after it
)


class FaultInjected(RuntimeError):
    """A crash point configured to raise."""


def fault(point: str) -> None:
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    for item in spec.split(","):
        name, _, action = item.strip().partition(":")
        if name != point:
            continue
        action = action or "kill"
        if action == "raise":
            raise FaultInjected(point)
        if action == "pause":
            print(f"paused at {point}", file=sys.stderr, flush=True)
            marker = os.environ.get(MARKER_ENV)
            if marker:
                Path(marker).write_text(str(os.getpid()))
            while True:  # until the test kills us
                time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGKILL)
