"""What bounds one request to ``shoplake serve``: rows, time, answer bytes, body bytes.

* ``Limits.max_rows``: rows a query answers (more are cut; the answer says so).
* ``Limits.timeout_s``: seconds from the request's arrival to an encoded answer — waiting
  for a query slot, running the query *and* encoding it as JSON or Arrow (a 408 after).
* ``Limits.max_bytes``: bytes of an encoded answer (refused beyond, never cut: a caller
  that does not read the ``truncated`` flag would take a part for the whole).
* :data:`MAX_BODY_BYTES`: bytes of a request body, refused (413) from its
  ``Content-Length`` or while it streams in, before it is held whole.
* :data:`QUERY_SLOTS`: queries running at once; the others wait, their clock running.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from shoplake.errors import ConfigError, ShoplakeError
from shoplake.share.audit import QUERY_CAP
from shoplake.share.sqlcheck import QueryRefused

MIB = 1024 * 1024
MAX_BODY_BYTES = 1 * MIB
"""The largest request body read. A query of :data:`QUERY_CAP` characters sent as JSON
escapes (``\\uXXXX``, 6 bytes each) stays under it."""
QUERY_SLOTS = max(2, os.cpu_count() or 2)
"""Queries running at once: each may hold about 6 × ``max_bytes`` while it runs (its
Arrow rows, up to 4 ×, then its encoded slices and their join), so the server's memory
for answers stays bounded too."""
JSON_ARROW_RATIO = 4
"""An answer's Arrow buffers may reach this many times ``max_bytes`` before JSON is
refused unencoded: JSON is rarely under a quarter of Arrow's size (an 8-byte integer is
at least 2 characters, ``0,``)."""


@dataclass(frozen=True)
class Limits:
    max_rows: int = 10_000
    timeout_s: float = 30.0
    max_bytes: int = 64 * MIB

    def __post_init__(self) -> None:
        if self.max_rows < 1:
            raise ConfigError(f"--max-rows {self.max_rows}: use 1 or more")
        if not self.timeout_s > 0:
            raise ConfigError(f"--timeout {self.timeout_s:g}: use a number of seconds above 0")
        if self.max_bytes < 1024:
            raise ConfigError(f"--max-bytes {self.max_bytes}: use 1024 or more")


class AnswerTooLarge(QueryRefused):
    """The answer would pass ``--max-bytes``: refused (400), not cut."""

    def __init__(
        self, max_bytes: int, hint: str = "ask for fewer rows (max_rows) or columns"
    ) -> None:
        super().__init__(
            f"the answer is larger than {size_text(max_bytes)}, the most this server sends "
            f"(shoplake serve --max-bytes); {hint}, or aggregate"
        )


class BodyTooLarge(ShoplakeError):
    """The request body passes :data:`MAX_BODY_BYTES` (413)."""

    def __init__(self, cap: int = MAX_BODY_BYTES) -> None:
        super().__init__(
            f"the request body is larger than {size_text(cap)}; a query may hold at most "
            f"{QUERY_CAP:,} characters"
        )


def size_text(count: int) -> str:
    return f"{count / MIB:g} MiB" if count >= MIB else f"{count:,} bytes"


@dataclass(frozen=True)
class Deadline:
    """A request's clock: started on arrival, checked by every step that can take long."""

    timeout_s: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return self.timeout_s - (time.monotonic() - self.started)

    def expired(self) -> QueryRefused:
        return QueryRefused(
            f"the query ran longer than {self.timeout_s:g} s (running and encoding its "
            "answer) and was stopped; filter or aggregate more, or ask for fewer rows",
            status=408,
        )

    def check(self) -> None:
        if self.remaining() <= 0:
            raise self.expired()
