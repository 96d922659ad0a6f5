"""What several benchmarks need: a work folder of their own, a free port, a process's CPU,
and a `shoplake serve` to measure."""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from shoplake.errors import ShoplakeError


def fresh_folder(folder: Path, marker: str, what: str) -> None:
    """Empty ``folder`` for a benchmark, refusing one it did not make (no ``marker``)."""
    if folder.exists():
        if any(folder.iterdir()) and not (folder / marker).exists():
            raise ShoplakeError(f"{folder} exists and is not a {what} folder")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / marker).write_text("")


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_s() -> float:
    """User + system CPU seconds of this process so far, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def tree_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + sys, reaped children included) of a process and everything it
    started: a server, the Spark JVM and its Python workers."""
    if pid is None:
        return 0.0
    total, todo = 0.0, [pid]
    tick = os.sysconf("SC_CLK_TCK")
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()
            total += sum(int(v) for v in fields[11:15]) / tick
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, ValueError):
            continue
        todo += [int(c) for c in children]
    return total


def start_server(
    lake: Path,
    args: Sequence[str] = (),
    *,
    env: dict[str, str] | None = None,
    output: IO[str] | None = None,
    timeout_s: float = 30,
) -> tuple[subprocess.Popen[bytes], str]:
    """A `shoplake serve` process on a free loopback port, once it answers; and its URL."""
    import httpx

    port = free_port()
    command = [sys.executable, "-m", "shoplake.cli", "serve", "--lake", str(lake)]
    command += ["--port", str(port), *args]
    sink = output if output is not None else subprocess.DEVNULL
    server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise ShoplakeError(f"shoplake serve did not start within {timeout_s:g} s")
        time.sleep(0.2)
