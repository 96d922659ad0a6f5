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
    "fraud_alerts": ["alert_type", "customer_id", "return_id"],
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
    elif mart == "fraud_alerts":
        frame = marts.fraud_alerts(_silver(lake, "returns"), orders)
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


def _returns_file(landing: Path, name: str, rows: list[dict[str, object]]) -> None:
    lines = [json.dumps(row) for row in rows]
    (landing / "returns" / f"returns-{name}.jsonl").write_text("\n".join(lines) + "\n")


def _return(return_id: str, order: dict[str, object], customer: bool = True) -> dict[str, object]:
    return {
        "return_id": return_id,
        "order_id": order["order_id"],
        "product_id": order["product_id"],
        "customer_id": order["customer_id"] if customer else None,
        "return_date": "2026-10-20T10:00:00",
        "reason": "damaged",
        "refund_amount": 10.0,
    }


def test_new_returns_recompute_the_fraud_alerts_of_their_customers_only(
    shop: tuple[Path, Path],
) -> None:
    """Returns landing alone: a second filing of a line, and a return of every order of
    two customers, one filing under their id and one leaving it empty (a return without
    customer counts for its order's customer): both become abnormal."""
    landing, lake = shop
    lines = (
        pl.read_delta(str(lake / "silver" / "orders"))
        .filter(pl.col("status") != "cancelled")
        .join(pl.read_delta(str(lake / "silver" / "order_items")), on="order_id")
        .select("order_id", "customer_id", "product_id")
        .sort("order_id", "product_id")
    )
    returned = set(pl.read_delta(str(lake / "silver" / "returns"))["customer_id"].to_list())
    counts = lines.group_by("customer_id").agg(pl.col("order_id").n_unique().alias("n"))
    quiet = counts.filter(pl.col("n").is_between(3, 6) & ~pl.col("customer_id").is_in(returned))
    claims, leaves, repeats = quiet.sort("customer_id")["customer_id"].to_list()[:3]
    first = lines.unique("order_id", keep="first", maintain_order=True)
    rows = [
        _return(f"RTX{i:04d}", row, customer=row["customer_id"] == claims)
        for i, row in enumerate(
            first.filter(pl.col("customer_id").is_in([claims, leaves])).iter_rows(named=True)
        )
    ]
    repeated = first.filter(pl.col("customer_id") == repeats).row(0, named=True)
    rows += [_return("RTX9000", repeated), _return("RTX9001", repeated)]
    before = pl.read_delta(str(lake / "gold" / "fraud_alerts"))
    # A customer who already has alerts files again: their rows are matched and replaced.
    alerted = before.sort("customer_id")["customer_id"][0]
    again = first.filter(pl.col("customer_id") == alerted).row(0, named=True)
    rows += [_return("RTX9100", again), _return("RTX9101", again)]
    _returns_file(landing, "x1", rows)
    _run(lake, landing)

    _assert_matches_full_recompute(lake)
    alerts = pl.read_delta(str(lake / "gold" / "fraud_alerts"))
    abnormal = alerts.filter(pl.col("alert_type") == marts.fraud.ABNORMAL_RETURN_RATE)
    assert {claims, leaves} <= set(abnormal["customer_id"].to_list())
    duplicate = alerts.filter(pl.col("alert_type") == marts.fraud.DUPLICATE_RETURN)
    assert duplicate.filter(pl.col("return_id") == "RTX9001")["customer_id"].to_list() == [repeats]
    assert duplicate.filter(pl.col("return_id") == "RTX9101")["customer_id"].to_list() == [alerted]
    assert alerts.filter(pl.col("customer_id") == alerted).height > 1
    info = next(a["commitInfo"] for a in _last_commit(lake, "fraud_alerts") if "commitInfo" in a)
    assert info["operation"] == "MERGE"
    # Only those customers' rows were replaced: everyone else's alerts are as they were.
    touched = pl.col("customer_id").is_in([claims, leaves, repeats, alerted])
    kept, earlier = alerts.filter(~touched), before.filter(~touched)
    assert kept.sort(kept.columns).equals(earlier.sort(earlier.columns))


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
