"""One demo lake and one real `shoplake serve` process shared by the sharing tests."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_harness import Served
from typer.testing import CliRunner

from shoplake.bench.common import start_server
from shoplake.cli import app


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
    log = root / "serve.log"
    env = {**os.environ, "SHOPLAKE_PII_PEPPER": "test-pepper-not-a-secret"}
    limits = ["--max-rows", "500", "--timeout", "2"]
    with log.open("w") as out:
        server, url = start_server(lake, limits, env=env, output=out)
    yield Served(url, lake, tokens, log)
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=15)
