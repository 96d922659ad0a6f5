"""Incremental gold: a batch of new orders recomputes only the months it touched.

After several batches, each partitioned mart must equal a full recompute from silver;
the commit of a batch must remove and add files of the affected partitions only; a
crash before or after the replace commit must converge on the rerun.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import narwhals as nw
import polars as pl
import pytest
from incremental_shop import NOW

import shoplake
from shoplake.ecommerce import marts, star
from shoplake.ecommerce.generator import generate, generate_batch
from shoplake.ecommerce.pipeline import build_pipeline
from shoplake.engines.polars_delta import PolarsDeltaEngine

# Each test generates 1,500 orders and runs the whole pipeline several times.
pytestmark = pytest.mark.slow

PARTITIONED = {
    "monthly_revenue": ["month"],
    "category_sales": ["month", "category"],
    "seasonal_trends": ["year", "quarter", "month_of_year", "weekday", "hour"],
    "customer_lifetime_value": ["customer_id"],
    "fact_sales": ["order_id", "line_number"],
}


def _run(lake: Path, landing: Path, engine: PolarsDeltaEngine | None = None) -> None:
    result = shoplake.run(
        build_pipeline(now=NOW), engine=engine or PolarsDeltaEngine(str(lake)), landing=landing
    )
    assert result.status == "completed", [f.message for f in result.flows if f.message]


def _silver(lake: Path, name: str) -> nw.LazyFrame:
    return nw.from_native(pl.scan_delta(str(lake / "silver" / name)))


def _full(lake: Path, mart: str) -> pl.DataFrame:
    orders, items = _silver(lake, "orders"), _silver(lake, "order_items")
    if mart == "category_sales":
        frame = marts.category_sales(orders, items, _silver(lake, "products"))
    elif mart == "fact_sales":
        dims = [
            nw.from_native(pl.scan_delta(str(lake / "gold" / d)))
            for d in ("dim_customer", "dim_product")
        ]
        frame = star.fact_sales(orders, items, *dims)
    else:
        frame = getattr(marts, mart)(orders, items)
    return frame.collect().to_native()


def _gold(lake: Path, mart: str) -> pl.DataFrame:
    expected_columns = _full(lake, mart).columns
    return pl.read_delta(str(lake / "gold" / mart)).select(expected_columns)


def _assert_matches_full_recompute(lake: Path) -> None:
    for mart, grain in PARTITIONED.items():
        got = _gold(lake, mart).sort(grain)
        want = _full(lake, mart).sort(grain)
        assert got.equals(want), f"{mart} differs from a full recompute"


def _last_commit(lake: Path, mart: str) -> list[dict[str, object]]:
    log = sorted((lake / "gold" / mart / "_delta_log").glob("*.json"))[-1]
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_batches_recompute_only_their_months_and_match_a_full_recompute(
    shop: tuple[Path, Path],
) -> None:
    landing, lake = shop
    months_before = pl.read_delta(str(lake / "gold" / "monthly_revenue")).height
    # A late batch inside the history, then two in new months.
    for day in (date(2026, 9, 14), date(2026, 11, 3), date(2026, 12, 20)):
        generate_batch(landing, orders=40, day=day)
        _run(lake, landing)
        _assert_matches_full_recompute(lake)
        actions = _last_commit(lake, "monthly_revenue")
        info = next(a["commitInfo"] for a in actions if "commitInfo" in a)
        assert info["operationParameters"]["mode"] == "Overwrite"
        assert "predicate" in info["operationParameters"]
        touched = {
            a[kind]["partitionValues"]["month"]
            for a in actions
            for kind in ("add", "remove")
            if kind in a
        }
        following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        # The batch's month, and the next one whose growth reads it; nothing else.
        assert touched <= {day.replace(day=1).isoformat(), following.isoformat()}
        assert day.replace(day=1).isoformat() in touched
        txns = [a["txn"] for a in actions if "txn" in a]
        assert {t["appId"] for t in txns} >= {
            "gold.monthly_revenue<-silver.orders",
            "gold.monthly_revenue<-silver.order_items",
        }
        facts = _last_commit(lake, "fact_sales")
        fact_months = {
            a[kind]["partitionValues"]["month"]
            for a in facts
            for kind in ("add", "remove")
            if kind in a
        }
        assert fact_months == {day.replace(day=1).isoformat()}  # new orders: their month only
        clv = _last_commit(lake, "customer_lifetime_value")
        clv_info = next(a["commitInfo"] for a in clv if "commitInfo" in a)
        assert clv_info["operation"] == "MERGE"
        assert any("txn" in a for a in clv)
    monthly = pl.read_delta(str(lake / "gold" / "monthly_revenue"))
    assert monthly.height == months_before + 2  # November and December are new
    dec = monthly.filter(pl.col("month") == date(2026, 12, 1))
    assert dec["orders"].item() == 40


def test_an_unchanged_rerun_commits_nothing(shop: tuple[Path, Path]) -> None:
    landing, lake = shop
    engine = PolarsDeltaEngine(str(lake))
    before = engine.version("gold.monthly_revenue")
    _run(lake, landing)
    assert engine.version("gold.monthly_revenue") == before


class _Crash(RuntimeError):
    pass


class _CrashBefore(PolarsDeltaEngine):
    def replace_partitions(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise _Crash("killed before the replace commit")


class _CrashAfter(PolarsDeltaEngine):
    def replace_partitions(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        super().replace_partitions(*args, **kwargs)  # type: ignore[arg-type]
        raise _Crash("killed after the replace commit, before reporting it")


@pytest.mark.parametrize("engine_class", [_CrashBefore, _CrashAfter])
def test_a_crash_around_the_replace_commit_converges_on_the_rerun(
    shop: tuple[Path, Path], engine_class: type[PolarsDeltaEngine]
) -> None:
    landing, lake = shop
    generate_batch(landing, orders=30, day=date(2026, 10, 2))
    crashed = shoplake.run(build_pipeline(now=NOW), engine=engine_class(str(lake)), landing=landing)
    failed = {f.table for f in crashed.flows if f.status == "failed"}
    assert "gold.monthly_revenue" in failed
    _run(lake, landing)
    _assert_matches_full_recompute(lake)
    engine = PolarsDeltaEngine(str(lake))
    version = engine.version("gold.monthly_revenue")
    _run(lake, landing)
    assert engine.version("gold.monthly_revenue") == version  # converged: nothing left to do


def test_compacting_silver_is_no_change_for_gold(shop: tuple[Path, Path]) -> None:
    """An OPTIMIZE rewrites silver files without changing rows: the next batch still
    recomputes only its own months."""
    from shoplake.pipeline.maintenance import maintain_table

    landing, lake = shop
    engine = PolarsDeltaEngine(str(lake))
    generate_batch(landing, orders=20, day=date(2026, 11, 5))
    _run(lake, landing)
    for ref in ("silver.orders", "silver.order_items"):
        assert maintain_table(engine, ref).operation in ("compact", "zorder")
    generate_batch(landing, orders=20, day=date(2026, 12, 5))
    _run(lake, landing)
    _assert_matches_full_recompute(lake)
    touched = {
        a[kind]["partitionValues"]["month"]
        for a in _last_commit(lake, "monthly_revenue")
        for kind in ("add", "remove")
        if kind in a
    }
    assert touched == {"2026-12-01"}  # January 2027 has no orders: nothing to replace there


def test_a_batch_needs_a_generated_landing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run generate there first"):
        generate_batch(tmp_path, orders=5)


def test_batches_continue_the_order_ids(tmp_path: Path) -> None:
    generate(tmp_path, orders=200, seed=1, defect_rate=0.0)
    first = generate_batch(tmp_path, orders=7)
    second = generate_batch(tmp_path, orders=5)
    assert (first.first_order, second.first_order) == (201, 208)
    assert (first.day, second.day) == (date(2026, 11, 1), date(2026, 11, 2))
    ids = pl.read_ndjson(tmp_path / second.files[0])["order_id"].to_list()
    assert ids == [f"O{n:08d}" for n in range(208, 213)]


def test_maintaining_bronze_keeps_silver_incremental(shop: tuple[Path, Path]) -> None:
    """Compaction and vacuum commits are not rewrites: silver still reads only new rows."""
    from shoplake.pipeline.maintenance import maintain_table

    landing, lake = shop
    engine = PolarsDeltaEngine(str(lake))
    generate_batch(landing, orders=15, day=date(2026, 11, 5))
    _run(lake, landing)
    for ref in ("bronze.orders", "bronze.order_items"):
        maintain_table(engine, ref, retention_hours=0, force=True)
    batch = generate_batch(landing, orders=12, day=date(2026, 11, 6))
    result = shoplake.run(build_pipeline(now=NOW), engine=engine, landing=landing)
    assert result.flow("silver.orders").rows_read == 12
    assert result.flow("silver.order_items").rows_read == batch.lines
    _assert_matches_full_recompute(lake)
