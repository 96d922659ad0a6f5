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
import json
import random
import subprocess
import sys
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
        try:
            upstream, to_upstream = await asyncio.open_connection(self.host, self.port)
        except OSError:
            to_client.close()
            return
        try:
            to_upstream.write(_with_close(lines))
            await _body(client, to_upstream, lines, request=True)
            answer = await upstream.readuntil(b"\r\n\r\n")
            if fault == "cut":  # the store did the work; the client never hears back
                return
            parts = answer.split(b"\r\n")
            to_client.write(_with_close(parts))
            status = parts[0].split(b" ")[1] if len(parts[0].split(b" ")) > 1 else b""
            if method != "HEAD" and status not in (b"204", b"304"):
                await _body(upstream, to_client, parts, request=False)
            await to_client.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            to_upstream.close()
            to_client.close()


def _with_close(lines: list[bytes]) -> bytes:
    """The head with ``Connection: close``: one request per connection, so each is seen."""
    kept = [h for h in lines[1:] if h and not h.lower().startswith(b"connection:")]
    return b"\r\n".join([lines[0], *kept, b"Connection: close", b"", b""])


def _length(lines: list[bytes]) -> int | None:
    for header in lines[1:]:
        name, _, value = header.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return None


async def _body(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lines: list[bytes], request: bool
) -> None:
    """Forward the body a head announces: Content-Length bytes, or (a chunked or unsized
    answer) everything until the sender closes; a request without a length has none."""
    length = _length(lines)
    if length is not None:
        remaining = length
        while remaining > 0:
            chunk = await reader.read(min(remaining, 65536))
            if not chunk:
                raise ConnectionError("closed mid-body")
            writer.write(chunk)
            remaining -= len(chunk)
        await writer.drain()
    elif not request:
        await _pipe(reader, writer)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass



class ProxyProcess:
    """A :class:`StoreProxy` in a process of its own, for a process that talks to the store
    itself: delta-rs may hold the GIL while it waits for an answer, which an in-process
    proxy could then never give. ``counts()`` asks it what it has seen."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> ProxyProcess:
        command = [sys.executable, "-m", "shoplake.bench.store_proxy", self.upstream]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert self._process.stdout is not None
        self.url = self._process.stdout.readline().strip()
        return self

    def _ask(self, command: str) -> str:
        assert self._process is not None and self._process.stdin and self._process.stdout
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        return self._process.stdout.readline().strip()

    def counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in json.loads(self._ask("counts")).items()}

    def reset(self) -> None:
        self._ask("reset")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            self._process.wait(timeout=10)


def _serve(upstream: str) -> None:
    with StoreProxy(upstream) as proxy:
        print(proxy.url, flush=True)
        for line in sys.stdin:
            if line.strip() == "reset":
                proxy.reset()
                print("ok", flush=True)
            else:
                print(json.dumps(dict(proxy.counts)), flush=True)


if __name__ == "__main__":
    _serve(sys.argv[1])
