"""The lake lock on an object store: a lease object written with conditional puts.

``<lake>/_lock.json`` holds its owner and an expiry. Taking the lock is a put that
succeeds only if no such object exists (S3 ``If-None-Match: *``, Azure
``If-None-Match: *``, GCS ``ifGenerationMatch=0``), so of two processes on two
machines exactly one wins. The holder renews the expiry every ``ttl/3`` seconds
with a put that succeeds only if the object is still the one it wrote
(``If-Match: <etag>``). A holder that dies stops renewing: once the expiry has
passed — or, whatever the clocks say, once a waiter has seen the same ETag for a
whole ``ttl`` — a waiter replaces the stale lease with its own, again with
``If-Match``, so two waiters cannot both take it over.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

import orjson

from shoplake.sources.objects import Conflict, object_fs

LOCK_NAME = "_lock.json"
DEFAULT_TTL_S = 30.0
POLL_S = 0.5


class Lease:
    """One process's hold on a lake on an object store (see the module docstring)."""

    def __init__(self, lake: str, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.fs, root = object_fs(lake)
        self.key = f"{root}/{LOCK_NAME}" if root else LOCK_NAME
        self.ttl_s = ttl_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.etag: str | None = None
        self.lost = False
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def _body(self) -> bytes:
        return orjson.dumps(
            {"owner": self.owner, "expires_at": time.time() + self.ttl_s, "ttl_s": self.ttl_s}
        )

    def try_acquire(self, seen: dict[str, float]) -> str | None:
        """Take the lease, or return who holds it. ``seen`` maps an ETag to when this
        process first saw it (the clock-independent way to tell a lease has lapsed)."""
        try:
            self.etag = self.fs.put_if_absent(self.key, self._body())
            return None
        except Conflict:
            pass
        current = self.fs.read_tagged(self.key)
        if current is None:
            return "a process that just released it"  # released meanwhile: try again
        body, etag = current
        try:
            held = orjson.loads(body)
            expires_at, holder = float(held["expires_at"]), str(held["owner"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            expires_at, holder = 0.0, "an unreadable lock"
        first_seen = seen.setdefault(etag, time.monotonic())
        if time.time() < expires_at and time.monotonic() - first_seen < self.ttl_s:
            return holder
        try:  # lapsed: replace it, unless another waiter did first
            self.etag = self.fs.put_if_match(self.key, self._body(), etag)
            return None
        except Conflict:
            return holder

    def start(self) -> None:
        self._beat = threading.Thread(target=self._heartbeat, name="lake-lease", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            assert self.etag is not None
            try:
                self.etag = self.fs.put_if_match(self.key, self._body(), self.etag)
            except Conflict:
                self.lost = True  # someone took it over: we stalled for longer than the ttl
                return
            except Exception:  # a transient store error: the next beat tries again
                continue

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        if self.lost or self.etag is None:
            return
        current = self.fs.read_tagged(self.key)
        if current is not None and current[1] == self.etag:
            self.fs.rm(self.key)
