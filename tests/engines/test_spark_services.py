"""The Spark engine against real Spark services on loopback: a standalone cluster (a
master and a worker, separate JVMs: executors write the lake, so nothing may depend on
driver-local state) and a Spark Connect server (how Databricks Connect attaches). The
pipeline runs as ``shoplake run`` in a process of its own, configured only through the
environment, and its lake must equal the Polars engine's on the same landing files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable
from spark_lakes import assert_same_tables
from test_spark_cli import PIPELINE, land

import shoplake
from shoplake.config import load_pipeline

pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow


def _shop(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "sparkcli.py").write_text(PIPELINE)
    landing = root / "landing"
    land(landing, "a.jsonl", [("1", "10"), ("2", "-1"), ("3", "5.5"), ("4", "2.25")])
    land(landing, "b.jsonl", [("5", "1"), ("6", "0"), ("7", "3")])
    return landing


def _run_on_spark(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "shoplake.cli", "run", "--engine", "spark",
        "--pipeline", "sparkcli:build", "--lake", str(root / "spark"),
        "--landing", str(root / "landing"), "--archive", "leave",
    ]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(root), **env}
    return subprocess.run(
        command, cwd=root, env=environment, capture_output=True, text=True, timeout=600
    )


def _run_on_polars(root: Path, landing: Path) -> None:
    sys.path.insert(0, str(root))
    try:
        result = shoplake.run(
            load_pipeline("sparkcli:build"), lake=root / "polars", landing=landing
        )
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("sparkcli", None)
    assert result.status == "completed"


def test_a_standalone_cluster_writes_the_same_lake(tmp_path: Path) -> None:
    from spark_services import standalone_cluster

    landing = _shop(tmp_path)
    with standalone_cluster(tmp_path) as master:
        done = _run_on_spark(
            tmp_path,
            SHOPLAKE_SPARK_MASTER=master,
            SHOPLAKE_SPARK_REMOTE="",
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    _run_on_polars(tmp_path, landing)
    counts = assert_same_tables(tmp_path / "polars", tmp_path / "spark")
    assert counts == {"gold.revenue": 1, "quarantine.orders": 2, "silver.orders": 5}
    written_by = DeltaTable(str(tmp_path / "spark" / "silver" / "orders")).history()[0]
    assert str(written_by["engineInfo"]).startswith("Apache-Spark/")
    assert any(
        "app-" in p.name for p in (tmp_path / "work").glob("*")
    ), "no application ran on the worker"


def test_spark_connect_writes_the_same_lake(tmp_path: Path) -> None:
    from spark_services import connect_server

    landing = _shop(tmp_path)
    with connect_server(tmp_path) as remote:
        done = _run_on_spark(tmp_path, SHOPLAKE_SPARK_REMOTE=remote)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # The server committed the writes (Delta's optimistic transactions ran there).
    assert "OptimisticTransaction" in (tmp_path / "connect.log").read_text()
    _run_on_polars(tmp_path, landing)
    counts = assert_same_tables(tmp_path / "polars", tmp_path / "spark")
    assert counts == {"gold.revenue": 1, "quarantine.orders": 2, "silver.orders": 5}
