"""One demo lake and one real `shoplake serve` process shared by the sharing tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_harness import Served
from typer.testing import CliRunner

from shoplake.cli import app


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _token(lake: Path, name: str, *grants: str) -> str:
    args = ["token", "create", name, "--lake", str(lake)]
    for grant in grants:
        args += ["--grant", grant]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[1]


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("served")
    made = CliRunner().invoke(app, ["demo", "--dir", str(root), "--orders", "300"])
    assert made.exit_code == 0, made.output
    lake = root / "lake"
    tokens = {
        "analyst": _token(lake, "analyst", "SELECT:gold.*"),
        "owner": _token(lake, "owner", "SELECT:*", "PII:*"),
        "nobody": _token(lake, "nobody"),
        "leaver": _token(lake, "leaver", "SELECT:gold.*"),
    }
    port = _free_port()
    log = root / "serve.log"
    env = {**os.environ, "SHOPLAKE_PII_PEPPER": "test-pepper-not-a-secret"}
    command = [
        sys.executable,
        "-m",
        "shoplake.cli",
        "serve",
        "--lake",
        str(lake),
        "--port",
        str(port),
        "--max-rows",
        "500",
        "--timeout",
        "2",
    ]
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert server.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    yield Served(url, lake, tokens, log)
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=15)
