"""The e-commerce pipeline on the Spark engine (local[2]) against the Polars engine, on
the same landing files: every silver, gold and quarantine table equal row for row.
Then the lakes switch engines between runs, and each engine reads the other's lake."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from spark_lakes import assert_same_tables
from typer.testing import CliRunner

import shoplake
from shoplake.cli import app
from shoplake.ecommerce.generator import generate, generate_batch
from shoplake.ecommerce.pipeline import build_pipeline
from shoplake.engines import create_engine

pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow

NOW = datetime(2026, 11, 1)


def _run(engine: Any, landing: Path) -> shoplake.RunResult:
    result = shoplake.run(build_pipeline(now=NOW), engine=engine, landing=landing)
    failed = [(f.table, f.message) for f in result.flows if f.status == "failed"]
    assert result.status == "completed", failed
    return result


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, spark_session: Any) -> dict[str, Any]:
    """120 generated orders run once on each engine: ``landing``, ``spark`` (a lake
    written by the Spark engine), ``polars`` (by the Polars engine), the results."""
    root = tmp_path_factory.mktemp("spark_shop")
    landing = root / "landing"
    generate(landing, orders=120, seed=11)
    # Every batch read by the executors (not the driver), as a big batch would be.
    spark = create_engine(
        str(root / "spark"), "spark", session=spark_session, read_on_executors_above=0
    )
    on_spark = _run(spark, landing)
    on_polars = _run(create_engine(str(root / "polars")), landing)
    return {
        "root": root,
        "landing": landing,
        "spark": root / "spark",
        "polars": root / "polars",
        "spark_result": on_spark,
        "polars_result": on_polars,
        "session": spark_session,
    }


def test_spark_builds_the_same_silver_gold_and_quarantine_as_polars(
    shop: dict[str, Any],
) -> None:
    counts = assert_same_tables(shop["polars"], shop["spark"])
    assert_same_tables(shop["polars"], shop["spark"], layers=("bronze",))
    assert counts["silver.orders"] > 100
    assert counts["gold.fact_sales"] > 200
    assert sum(n for ref, n in counts.items() if ref.startswith("quarantine.")) > 0
    written = {f.table: f.rows_written for f in shop["spark_result"].flows}
    assert written == {f.table: f.rows_written for f in shop["polars_result"].flows}


def test_the_polars_engine_reads_a_lake_the_spark_engine_wrote(shop: dict[str, Any]) -> None:
    lake = str(shop["spark"])
    listed = CliRunner().invoke(app, ["tables", "--lake", lake])
    assert listed.exit_code == 0, listed.output
    assert "monthly_revenue" in listed.output and "order_items" in listed.output
    out = shop["root"] / "orders_count.csv"
    query = "SELECT count(*) AS n FROM silver.orders"
    counted = CliRunner().invoke(app, ["sql", query, "--lake", lake, "--out", str(out)])
    assert counted.exit_code == 0, counted.output
    expected = pl.read_delta(str(shop["polars"] / "silver" / "orders")).height
    assert pl.read_csv(out)["n"].to_list() == [expected]
    revenue = create_engine(lake).read("gold.monthly_revenue").collect().to_polars()
    assert revenue.height == pl.read_delta(str(shop["polars"] / "gold" / "monthly_revenue")).height


def test_a_rerun_on_spark_changes_nothing(shop: dict[str, Any]) -> None:
    spark = create_engine(str(shop["spark"]), "spark", session=shop["session"])
    before = {ref: spark.version(ref) for ref in spark.list_tables()}
    result = _run(spark, shop["landing"])
    assert {f.status for f in result.flows} == {"skipped"}
    assert {ref: spark.version(ref) for ref in spark.list_tables()} == before


def test_lakes_switch_engines_between_runs(shop: dict[str, Any]) -> None:
    """A new batch on each lake, the Spark lake run by Polars; then another, the Polars
    lake run by Spark: both lakes stay equal to the cent."""
    spark_lake, polars_lake, landing = shop["spark"], shop["polars"], shop["landing"]
    generate_batch(landing, orders=30, seed=5, day=date(2026, 10, 20))
    _run(create_engine(str(spark_lake)), landing)  # Spark's lake, now on Polars
    _run(create_engine(str(polars_lake)), landing)
    assert_same_tables(polars_lake, spark_lake)

    generate_batch(landing, orders=30, seed=6, day=date(2026, 10, 28))
    spark = create_engine(str(polars_lake), "spark", session=shop["session"])
    result = _run(spark, landing)  # Polars' lake, now on Spark
    assert result.flow("silver.orders").rows_written > 0
    _run(create_engine(str(spark_lake)), landing)
    assert_same_tables(spark_lake, polars_lake)
