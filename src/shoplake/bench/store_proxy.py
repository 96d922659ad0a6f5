"""An HTTP proxy in front of an object store's endpoint that counts requests by kind and can
inject faults: the bench's request counts, and the tests' flaky network.

It works where the store is reached over plain HTTP — an emulator (Azurite, moto,
MinIO) or an ``http://`` endpoint — by pointing ``AWS_ENDPOINT_URL`` /
``AZURITE_BLOB_STORAGE_URL`` at it; an HTTPS cloud endpoint cannot be looked into.
Each request is forwarded on its own upstream connection with ``Connection: close``,
so requests are told apart without parsing responses. Signatures still match: S3
and Azure sign the path and headers, which pass unchanged.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

KINDS = ("list", "read", "write", "commit", "delete")


@dataclass(frozen=True)
class Faults:
    """Shares of requests answered with a 503, dropped before reaching the store, or cut
    after the store handled them (the client never learns the outcome)."""

    unavailable: float = 0.0
    dropped: float = 0.0
    cut: float = 0.0
    seed: int = 7


def classify(method: str, target: str) -> str:
    """``list``, ``read``, ``write``, ``commit`` (a Delta log entry) or ``delete``."""
    path, _, query = target.partition("?")
    if method == "DELETE":
        return "delete"
    if method in ("GET", "HEAD"):
        listing = "list-type=" in query or "comp=list" in query or "delimiter=" in query
        return "list" if listing else "read"
    if "/_delta_log/" in path and path.endswith(".json") and "_commit_" not in path:
        return "commit"
    return "write"


class StoreProxy:
    """``with StoreProxy("http://127.0.0.1:9000") as proxy:`` … ``proxy.url``, ``proxy.counts``."""

    def __init__(self, upstream: str, faults: Faults | None = None) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.faults = faults
        self.counts: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._random = random.Random(faults.seed if faults else 0)
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.url = ""

    def __enter__(self) -> StoreProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.url = future.result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the closed transports finish

    def reset(self) -> None:
        self.counts.clear()

    async def _start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def _fault(self) -> str | None:
        if self.faults is None:
            return None
        roll = self._random.random()
        for name, share in (
            ("unavailable", self.faults.unavailable),
            ("dropped", self.faults.dropped),
            ("cut", self.faults.cut),
        ):
            if roll < share:
                self.injected[name] += 1
                return name
            roll -= share
        return None

    async def _handle(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        try:
            head = await client.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            to_client.close()
            return
        lines = head.split(b"\r\n")
        method, target = [*lines[0].decode("latin-1").split(" "), "", ""][:2]
        self.counts[classify(method, target)] += 1
        fault = self._fault()
        if fault == "dropped":
            to_client.close()
            return
        if fault == "unavailable":
            to_client.write(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n"
            )
            to_client.close()  # after the buffered answer is flushed
            return
        kept = [h for h in lines[1:] if h and not h.lower().startswith(b"connection:")]
        rewritten = b"\r\n".join([lines[0], *kept, b"Connection: close", b"", b""])
        try:
            upstream, to_upstream = await asyncio.open_connection(self.host, self.port)
        except OSError:
            to_client.close()
            return
        to_upstream.write(rewritten)
        body = asyncio.create_task(_pipe(client, to_upstream))
        try:
            if fault == "cut":  # the store does the work; the client never hears back
                await upstream.read(1)
                await asyncio.sleep(0.05)
            else:
                await _pipe(upstream, to_client)
        finally:
            body.cancel()
            to_upstream.close()
            to_client.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass

