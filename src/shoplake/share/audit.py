"""The audit log: every request to the server, allowed or denied, in ``_system.audit``.

One row per request: when, who (the token's name; ``anonymous`` without a valid token),
the action (``list_catalogs``, ``get_table``, ``query``, ``credentials``, ...), the tables it
named or touched, whether it was allowed, the HTTP status and a short detail. For a query,
its text in full (up to :data:`QUERY_CAP` characters, the most the server accepts), its
length and its SHA-256: padding cannot push a ``WHERE`` out of sight, and a longer text
still leaves its length and hash. Never the token, never a query's result. Rows are
buffered and appended in small batches (a Delta commit per request would make thousands
of commits under load); ``flush`` writes at once, and the server flushes on shutdown.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import narwhals as nw
import polars as pl

from shoplake.engines.base import Engine
from shoplake.names import utcnow

_log = logging.getLogger(__name__)
AUDIT = "_system.audit"
FLUSH_EVERY_S = 1.0
FLUSH_ROWS = 500
QUERY_CAP = 100_000
"""Characters of a query's text kept; the SQL endpoint refuses longer queries."""
DETAIL_CAP = 1_000
_SCHEMA = {
    "at": pl.Datetime("us"),
    "principal": pl.String,
    "action": pl.String,
    "tables": pl.List(pl.String),
    "allowed": pl.Boolean,
    "status": pl.Int32,
    "detail": pl.String,
    "client": pl.String,
    "query": pl.String,
    "query_chars": pl.Int64,
    "query_sha256": pl.String,
}


@dataclass(frozen=True)
class AuditEvent:
    principal: str
    action: str
    tables: Sequence[str]
    allowed: bool
    status: int
    detail: str = ""
    client: str = ""
    at: datetime = field(default_factory=utcnow)
    query: str | None = None
    """The SQL a ``query`` request sent (None for other actions)."""


def _sha256(text: str | None) -> str | None:
    if text is None:
        return None
    # surrogatepass: JSON may carry a lone surrogate, and the hash is of what was sent.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _text(text: str | None, cap: int) -> str | None:
    """``text`` cut at ``cap``, as valid UTF-8 (a lone surrogate written escaped)."""
    if text is None:
        return None
    return text[:cap].encode("utf-8", "backslashreplace").decode("utf-8")


class AuditLog:
    """Buffers audit events and appends them to ``_system.audit`` from one thread."""

    def __init__(self, engine: Engine, every_s: float = FLUSH_EVERY_S) -> None:
        self.engine = engine
        self._pending: list[AuditEvent] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._every = every_s
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="audit", daemon=True)
        self._thread.start()

    def record(self, event: AuditEvent) -> None:
        with self._lock:
            self._pending.append(event)
            full = len(self._pending) >= FLUSH_ROWS
        if full and self._thread is None:
            self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.flush()
            except Exception:
                # The rows went back to the buffer: the next round tries again.
                _log.exception("the audit log could not be written")

    def flush(self) -> int:
        """Append what is buffered; returns how many rows were written."""
        with self._write_lock:
            with self._lock:
                events, self._pending = self._pending, []
            if not events:
                return 0
            frame = pl.DataFrame(
                {
                    "at": [e.at for e in events],
                    "principal": [_text(e.principal, DETAIL_CAP) for e in events],
                    "action": [e.action for e in events],
                    "tables": [list(e.tables) for e in events],
                    "allowed": [e.allowed for e in events],
                    "status": [e.status for e in events],
                    "detail": [_text(e.detail, DETAIL_CAP) for e in events],
                    "client": [_text(e.client, DETAIL_CAP) for e in events],
                    "query": [_text(e.query, QUERY_CAP) for e in events],
                    "query_chars": [None if e.query is None else len(e.query) for e in events],
                    "query_sha256": [_sha256(e.query) for e in events],
                },
                schema=_SCHEMA,  # type: ignore[arg-type]
            )
            try:
                self.engine.append(AUDIT, nw.from_native(frame, eager_only=True))
            except Exception:
                with self._lock:
                    self._pending[:0] = events
                raise
            return len(events)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()
