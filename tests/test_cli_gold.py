"""``shoplake maintain`` and ``run --maintain-every`` end to end on a small lake."""

from __future__ import annotations

from pathlib import Path

from deltalake import DeltaTable
from typer.testing import CliRunner

from shoplake.cli import app
from shoplake.ecommerce.generator import generate, generate_batch

runner = CliRunner()


def test_maintain_refuses_a_short_retention_then_maintains(tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    generate(landing, orders=300, seed=1)
    args = ["--lake", str(lake), "--landing", str(landing)]
    assert runner.invoke(app, ["run", *args]).exit_code == 0
    refused = runner.invoke(app, ["maintain", *args, "--retention-hours", "1"])
    assert refused.exit_code == 1
    assert "below the safe minimum of 168 h" in refused.output
    done = runner.invoke(app, ["maintain", *args, "--select", "silver"])
    assert done.exit_code == 0, done.output
    assert "silver.orders" in done.output and "zorder" in done.output
    history = DeltaTable(str(lake / "silver" / "orders")).history(1)
    assert history[0]["operation"] == "OPTIMIZE"


def test_run_maintains_tables_due_every_n_commits(tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    generate(landing, orders=300, seed=1)
    args = ["--lake", str(lake), "--landing", str(landing)]
    assert runner.invoke(app, ["run", *args, "--maintain-every", "2"]).exit_code == 0
    generate_batch(landing, orders=10)
    result = runner.invoke(app, ["run", *args, "--maintain-every", "2"])
    assert result.exit_code == 0, result.output
    assert "maintenance" in result.output
    # bronze.orders had two appends: compacted after the second run.
    ops = [c["operation"] for c in DeltaTable(str(lake / "bronze" / "orders")).history()]
    assert "OPTIMIZE" in ops
