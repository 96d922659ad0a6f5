"""Exactly once on Spark: ``shoplake run --engine spark`` killed (SIGKILL) right after the
bronze commit, and right after a silver MERGE committed; each rerun loses and
duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_spark_cli import PIPELINE, land

from shoplake.engines import create_engine

pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow


def _run(root: Path, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "shoplake.cli", "run", "--engine", "spark",
        "--pipeline", "sparkcli:build", "--lake", str(root / "lake"),
        "--landing", str(root / "landing"), "--archive", "leave",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPLAKE_")}
    env["PYTHONPATH"] = str(root)
    if fault:
        env["SHOPLAKE_FAULT"] = f"{fault}:kill"
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=600)


def _state(lake: Path) -> tuple[list[str], list[tuple[str, float]], list[tuple[object, ...]]]:
    engine = create_engine(str(lake))
    bronze = engine.collect(engine.read("bronze.orders")).to_polars()
    silver = engine.collect(engine.read("silver.orders")).to_polars()
    gold = engine.collect(engine.read("gold.revenue")).to_polars()
    return (
        sorted(bronze["order_id"].to_list()),
        sorted(silver.select("order_id", "amount").rows()),
        gold.rows(),
    )


def test_a_killed_spark_run_reruns_to_exactly_once(tmp_path: Path) -> None:
    (tmp_path / "sparkcli.py").write_text(PIPELINE)
    landing = tmp_path / "landing"
    land(landing, "a.jsonl", [("1", "10"), ("2", "-1"), ("3", "5.5")])

    crashed = _run(tmp_path, "after_bronze_commit")
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout[-2000:] + crashed.stderr[-2000:]
    rerun = _run(tmp_path)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    bronze, silver, gold = _state(tmp_path / "lake")
    assert bronze == ["1", "2", "3"]
    assert silver == [("1", 10.0), ("3", 5.5)]
    assert gold == [(15.5, 2)]

    # A second batch: silver merges it (a MERGE) and the run dies right after that commit.
    land(landing, "b.jsonl", [("4", "1"), ("5", "2")])
    crashed = _run(tmp_path, "after_commit@silver.orders")
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout[-2000:] + crashed.stderr[-2000:]
    history = create_engine(str(tmp_path / "lake")).history("silver.orders", 1)
    assert history[0]["operation"] == "MERGE"
    rerun = _run(tmp_path)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    bronze, silver, gold = _state(tmp_path / "lake")
    assert bronze == ["1", "2", "3", "4", "5"]
    assert silver == [("1", 10.0), ("3", 5.5), ("4", 1.0), ("5", 2.0)]
    assert gold == [(18.5, 4)]
    quarantined = create_engine(str(tmp_path / "lake")).read("quarantine.orders").collect()
    assert len(quarantined) == 1
