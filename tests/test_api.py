"""The public facade: create_engine, run and validate, as a user calls them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import narwhals as nw
import polars as pl
import pytest

import shoplake
from shoplake import ConfigError, Materialized, Pipeline, Upsert, create_engine, expect
from shoplake.pipeline.runner import run_pipeline


def _pipeline() -> Pipeline:
    p = Pipeline("shop")
    p.source("orders", format="jsonl", columns=["order_id", "amount"])

    @p.table(
        layer="silver",
        kind=Upsert(keys=["order_id"]),
        expectations=[expect("positive", nw.col("amount") > 0, action="quarantine")],
    )
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders.with_columns(nw.col("amount").cast(nw.Float64))

    @p.table(layer="gold", kind=Materialized())
    def revenue(silver_orders: nw.LazyFrame) -> nw.LazyFrame:
        return silver_orders.select(nw.col("amount").sum().alias("revenue"))

    return p


def _land(landing: Path, text: str, name: str = "o1.jsonl") -> None:
    (landing / "orders").mkdir(parents=True, exist_ok=True)
    (landing / "orders" / name).write_text(text)


def test_run_takes_a_lake_path_and_reads_the_landing_folder(tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    _land(landing, '{"order_id": "O1", "amount": "5"}\n{"order_id": "O2", "amount": "-1"}\n')

    result = shoplake.run(_pipeline(), lake=lake, landing=landing)

    assert result.status == "completed"
    assert result.flow("bronze.orders").rows_written == 2
    assert result.flow("silver.orders").rows_written == 1
    assert result.flow("silver.orders").rows_quarantined == 1
    engine = create_engine(str(lake))
    revenue = engine.collect(engine.read("gold.revenue")).to_native()
    assert isinstance(revenue, pl.DataFrame)
    assert revenue["revenue"].to_list() == [5.0]


def test_a_second_run_takes_only_what_is_new(tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    _land(landing, '{"order_id": "O1", "amount": "5"}\n')
    shoplake.run(_pipeline(), lake=lake, landing=landing)
    _land(landing, '{"order_id": "O3", "amount": "7"}\n', "o2.jsonl")

    second = shoplake.run(_pipeline(), engine=create_engine(str(lake)), landing=landing)

    assert second.flow("bronze.orders").rows_written == 1
    engine = create_engine(str(lake))
    rows = engine.collect(engine.read("silver.orders")).to_native()
    assert sorted(rows["order_id"].to_list()) == ["O1", "O3"]


def test_an_unknown_engine_names_the_known_ones(tmp_path: Path) -> None:
    known = r"^engine 'nosuch' is not known; choose one of: polars, spark$"
    with pytest.raises(ConfigError, match=known):
        shoplake.run(_pipeline(), lake=tmp_path / "lake", engine="nosuch")


def test_run_needs_a_lake_or_an_engine() -> None:
    with pytest.raises(TypeError, match="give the lake"):
        shoplake.run(_pipeline())


def test_validate_reports_a_missing_column_and_writes_nothing(tmp_path: Path) -> None:
    p = _pipeline()

    @p.table(layer="gold", kind=Materialized())
    def broken(silver_orders: nw.LazyFrame) -> nw.LazyFrame:
        return silver_orders.select("no_such_column")

    problems = shoplake.validate(p, lake=tmp_path / "lake")

    assert len(problems) == 1
    assert problems[0].startswith("gold.broken:")
    assert "no_such_column" in problems[0]
    assert shoplake.validate(_pipeline(), lake=tmp_path / "lake") == []
    assert not (tmp_path / "lake").exists()


def test_the_core_runner_without_a_source_reader_fails_the_source_and_its_downstream(
    tmp_path: Path,
) -> None:
    result = run_pipeline(_pipeline(), engine=create_engine(str(tmp_path / "lake")))

    bronze = result.flow("bronze.orders")
    assert bronze.status == "failed"
    assert bronze.message == (
        "bronze.orders is a source and this run was given no reader for sources: run the "
        "pipeline with a landing folder (shoplake.run(pipeline, landing=...))"
    )
    assert result.flow("silver.orders").status == "skipped"
    assert result.flow("gold.revenue").status == "skipped"


def test_validate_types_hinted_source_columns_as_a_run_does(tmp_path: Path) -> None:
    """Date arithmetic and division on hinted columns: valid, and the run agrees."""
    p = Pipeline("hinted")
    p.source(
        "customers",
        columns=["customer_id", "registration_date", "spent", "orders"],
        format="csv",
        hints={"registration_date": "date", "spent": "float", "orders": "int"},
    )

    @p.table(layer="silver", kind=Materialized())
    def customers(bronze_customers: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_customers.select(
            "customer_id",
            (nw.lit(date(2026, 1, 1)) - nw.col("registration_date")).dt.total_minutes()
            .alias("minutes_registered"),
            (nw.col("spent") / nw.col("orders")).alias("average_order"),
        )

    lake, landing = tmp_path / "lake", tmp_path / "landing"
    assert shoplake.validate(p, lake=lake) == []
    (landing / "customers").mkdir(parents=True)
    (landing / "customers" / "c.csv").write_text(
        "customer_id,registration_date,spent,orders\nC1,2025-12-31,90.0,3\n"
    )
    result = shoplake.run(p, lake=lake, landing=landing)
    assert result.status == "completed"
    engine = create_engine(str(lake))
    row = engine.collect(engine.read("silver.customers"))
    assert row.to_native().to_dicts() == [
        {"customer_id": "C1", "minutes_registered": 1440, "average_order": 30.0}
    ]
