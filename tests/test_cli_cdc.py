"""``shoplake bench-scd2`` end to end at a tiny size: it builds, applies both batches in
their own processes, and prints what they rewrote."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from shoplake.cli import app

runner = CliRunner()


def test_bench_scd2_runs_at_a_small_size(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "bench-scd2",
            "--keys",
            "3000",
            "--batch",
            "300",
            "--small",
            "10",
            "--buckets",
            "8",
            "--dir",
            str(tmp_path / "bench"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "SCD2 batch into 3,000 keys" in result.output
    assert "versions opened" in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("│")]
    changes = [line.split("│")[1].strip() for line in lines]
    assert changes == ["300", "10"]


def test_bench_scd2_refuses_a_small_batch_larger_than_the_batch() -> None:
    result = runner.invoke(app, ["bench-scd2", "--keys", "100", "--batch", "10", "--small", "20"])
    assert result.exit_code != 0
    assert "--small (20) <= --batch (10)" in result.output
