"""``engine = "spark"`` in shoplake.toml (or ``--engine spark``) runs the CLI's pipeline on
Spark; the next run may switch back to Polars."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from shoplake.cli import app

pytest.importorskip("pyspark")

PIPELINE = textwrap.dedent(
    """
    import narwhals as nw
    from shoplake import Pipeline, Upsert, expect

    def build():
        p = Pipeline("sparkcli")
        p.source("orders", format="jsonl", columns=["order_id", "amount"])

        @p.table(
            layer="silver",
            kind=Upsert(keys=["order_id"]),
            expectations=[expect("positive", nw.col("amount") > 0, action="quarantine")],
        )
        def orders(bronze_orders):
            return bronze_orders.with_columns(nw.col("amount").cast(nw.Float64))

        @p.table(layer="gold")
        def revenue(silver_orders):
            # Counts are UInt32 on Polars and Int64 on Spark: one type on every engine.
            count = nw.len().cast(nw.Int64)
            return silver_orders.select(nw.col("amount").sum().alias("revenue"), count)

        return p
    """
)


def land(landing: Path, name: str, rows: list[tuple[str, str]]) -> None:
    folder = landing / "orders"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f'{{"order_id": "{o}", "amount": "{a}"}}' for o, a in rows]
    (folder / name).write_text("\n".join(lines) + "\n")


def test_run_on_spark_from_the_config_file_then_on_polars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spark_session: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "sparkcli.py").write_text(PIPELINE)
    (tmp_path / "shoplake.toml").write_text(
        textwrap.dedent(
            """
            [shoplake]
            engine = "spark"
            pipeline = "sparkcli:build"

            [spark]
            master = "local[2]"
            conf = { "spark.sql.shuffle.partitions" = "2" }
            """
        )
    )
    land(tmp_path / "landing", "a.jsonl", [("1", "10"), ("2", "-1"), ("3", "5.5")])
    runner = CliRunner()
    first = runner.invoke(app, ["run", "--archive", "leave"])
    assert first.exit_code == 0, first.output
    lake = tmp_path / "lake"
    assert pl.read_delta(str(lake / "gold" / "revenue")).rows() == [(15.5, 2)]
    assert pl.read_delta(str(lake / "quarantine" / "orders"))["rule"].to_list() == ["positive"]
    history = pl.read_delta(str(lake / "silver" / "orders"))
    assert history.height == 2

    land(tmp_path / "landing", "b.jsonl", [("3", "7"), ("4", "1")])
    second = runner.invoke(app, ["run", "--engine", "polars", "--archive", "leave"])
    assert second.exit_code == 0, second.output
    # No sequence: a known key keeps its first row (order 3 stays 5.5).
    assert pl.read_delta(str(lake / "gold" / "revenue")).rows() == [(16.5, 3)]
    listed = runner.invoke(app, ["tables"])
    assert listed.exit_code == 0 and "silver" in listed.output and "revenue" in listed.output
