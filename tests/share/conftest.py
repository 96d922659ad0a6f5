"""One demo lake and one real `shoplake serve` process shared by the sharing tests; and
one more lake served in this process (``local``) for the many small SQL probes."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from serve_harness import PLANTED, Local, Served
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


@pytest.fixture(scope="session")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    from fastapi.testclient import TestClient

    from shoplake.engines.polars_delta import PolarsDeltaEngine
    from shoplake.governance.masking import MaskingPolicy
    from shoplake.share.access import create_token
    from shoplake.share.app import create_app
    from shoplake.share.query import Limits

    root = tmp_path_factory.mktemp("local")
    made = CliRunner().invoke(app, ["demo", "--dir", str(root), "--orders", "300"])
    assert made.exit_code == 0, made.output
    lake = root / "lake"
    engine = PolarsDeltaEngine(str(lake))
    tokens = {
        "analyst": create_token(engine, "analyst", [("SELECT", "gold.*")]),
        "owner": create_token(engine, "owner", [("SELECT", "*"), ("PII", "*")]),
    }
    workdir = root / "work"
    (workdir / ".tmp").mkdir(parents=True)
    planted = pl.DataFrame({"secret": [PLANTED]})
    planted.write_csv(workdir / ".tmp" / "planted.csv")
    planted.write_parquet(workdir / ".tmp" / "planted.parquet")
    served = create_app(
        str(lake),
        masking=MaskingPolicy(pepper="test-pepper-not-a-secret"),
        limits=Limits(max_rows=500, timeout_s=5),
        audit_every_s=3600,  # the tests flush when they read the log
    )
    with TestClient(served) as client:
        yield Local(client, served, lake, tokens, workdir)
    # pyarrow's dataset readahead outlives a scan DuckDB stopped early (LIMIT, max_rows)
    # for a few milliseconds, and an interpreter exiting under it can crash.
    time.sleep(0.5)
