"""The history-wide marts (segments, product ranks, KPIs) come from small incrementally
maintained tables; after several batches they must equal a full recompute from silver.

The batches mix what moves those marts: new orders in a past and in a new month, a
late return and a late shipment of an old order, and an old order cancelled.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import narwhals as nw
import polars as pl
import pytest
from incremental_shop import NOW

import shoplake
from shoplake.ecommerce import marts
from shoplake.ecommerce.generator import generate_batch
from shoplake.ecommerce.pipeline import build_pipeline
from shoplake.engines.polars_delta import PolarsDeltaEngine

# Each test generates 1,500 orders and runs the whole pipeline several times.
pytestmark = pytest.mark.slow

GRAIN = {
    "customer_segments": ["customer_id"],
    "product_performance": ["product_id"],
    "executive_kpis": ["scope"],
    "order_month_facts": ["month"],
    "product_month_sales": ["month", "product_id"],
}


def _run(lake: Path, landing: Path) -> dict[str, str]:
    result = shoplake.run(
        build_pipeline(now=NOW), engine=PolarsDeltaEngine(str(lake)), landing=landing
    )
    assert result.status == "completed", [f.message for f in result.flows if f.message]
    return {f.table: f.message for f in result.flows}


def _silver(lake: Path, name: str) -> nw.LazyFrame:
    return nw.from_native(pl.scan_delta(str(lake / "silver" / name)))


def _full(lake: Path, mart: str) -> pl.DataFrame:
    s = {n: _silver(lake, n) for n in ("orders", "order_items", "customers", "products")}
    returns, shipments = _silver(lake, "returns"), _silver(lake, "shipments")
    frames = {
        "customer_segments": lambda: marts.customer_segments(
            s["orders"], s["order_items"], s["customers"]
        ),
        "product_performance": lambda: marts.product_performance(
            s["orders"], s["order_items"], s["products"], returns
        ),
        "executive_kpis": lambda: marts.executive_kpis(
            s["orders"], s["order_items"], returns, shipments
        ),
        "order_month_facts": lambda: marts.order_month_facts(
            s["orders"], s["order_items"], returns, shipments
        ),
        "product_month_sales": lambda: marts.product_month_sales(s["orders"], s["order_items"]),
    }
    return frames[mart]().collect().to_native()


def _assert_matches_full_recompute(lake: Path) -> None:
    for mart, grain in GRAIN.items():
        want = _full(lake, mart).sort(grain)
        got = pl.read_delta(str(lake / "gold" / mart)).select(want.columns).sort(grain)
        assert got.equals(want), f"{mart} differs from a full recompute"


def _first(path: Path) -> dict[str, object]:
    line = path.read_text().splitlines()[0]
    return json.loads(line)  # type: ignore[no-any-return]


def _write(landing: Path, source: str, name: str, row: dict[str, object]) -> None:
    (landing / source / f"{name}.jsonl").write_text(json.dumps(row) + "\n")


def test_segments_ranks_and_kpis_match_a_full_recompute_after_batches(
    shop: tuple[Path, Path],
) -> None:
    landing, lake = shop
    _assert_matches_full_recompute(lake)
    old_order = _first(sorted((landing / "orders").glob("*.jsonl"))[0])
    # A first return and a second shipment, filed late, for an old sold order.
    returned = pl.read_delta(str(lake / "silver" / "returns"))["order_id"]
    line = (
        pl.read_delta(str(lake / "silver" / "order_items"))
        .join(pl.read_delta(str(lake / "silver" / "orders")), on="order_id")
        .filter((pl.col("status") == "delivered") & ~pl.col("order_id").is_in(returned.implode()))
        .sort("order_id")
        .row(0, named=True)
    )
    late_return = {
        "return_id": "RT9000001",
        "order_id": line["order_id"],
        "product_id": line["product_id"],
        "customer_id": line["customer_id"],
        "return_date": "2026-09-14T10:00:00",
        "reason": "defective",
        "refund_amount": 10.0,
    }
    shipment = (
        pl.read_delta(str(lake / "silver" / "shipments")).sort("shipment_id").row(0, named=True)
    )
    late_shipment = {
        "shipment_id": "SH90000001",
        "order_id": shipment["order_id"],
        "carrier": shipment["carrier"],
        "shipped_at": shipment["shipped_at"].isoformat(),
        "delivered_at": shipment["shipped_at"].isoformat(),
        "promised_date": shipment["promised_date"].isoformat(),
    }
    facts_before = pl.read_delta(str(lake / "gold" / "order_month_facts"))

    generate_batch(landing, orders=40, day=date(2026, 9, 14))  # late, inside the history
    _write(landing, "returns", "late-return", late_return)
    _write(landing, "shipments", "late-shipment", late_shipment)
    messages = _run(lake, landing)
    assert "recomputed" in messages["gold.order_month_facts"]
    _assert_matches_full_recompute(lake)
    facts = pl.read_delta(str(lake / "gold" / "order_month_facts"))
    totals = [
        f.select(pl.sum("returned_orders", "delivered_shipments")).row(0)
        for f in (facts_before, facts)
    ]
    assert totals[1][0] == totals[0][0] + 1  # the late return's order counts as returned
    assert totals[1][1] >= totals[0][1] + 1  # the late shipment is counted (and the batch's)

    generate_batch(landing, orders=40, day=date(2026, 11, 3))  # a new month: as-of moves
    cancelled = {**old_order, "status": "cancelled", "updated_at": "2026-11-04T10:00:00"}
    _write(landing, "orders", "orders-late-cancel", cancelled)
    _run(lake, landing)
    _assert_matches_full_recompute(lake)

    generate_batch(landing, orders=40, day=date(2026, 12, 20))
    messages = _run(lake, landing)
    _assert_matches_full_recompute(lake)
    # Only December changed, and December's next month (none yet) is not stored.
    assert messages["gold.product_month_sales"] == "1 partition(s) recomputed"
    kpis = pl.read_delta(str(lake / "gold" / "executive_kpis"))
    current = kpis.filter(pl.col("scope") == "current_month")
    assert current["orders"].item() == 40
    assert current["as_of"].item().date() >= date(2026, 12, 20)


def test_month_and_id_ranges_keep_every_row_of_the_keys() -> None:
    from shoplake.ecommerce.incremental import within_ids, within_months

    orders = nw.from_native(
        pl.DataFrame(
            {
                "order_id": ["O1", "O2", "O3", "O4"],
                "order_ts": [
                    datetime(2026, 1, 31, 23, 59),
                    datetime(2026, 2, 1),
                    datetime(2026, 3, 31, 23, 59, 59),
                    datetime(2026, 4, 1),
                ],
            }
        ).lazy()
    )
    months = nw.from_native(pl.DataFrame({"month": [date(2026, 3, 1), date(2026, 2, 1)]}))
    kept = within_months(orders, months).collect().to_native()
    assert kept["order_id"].to_list() == ["O2", "O3"]
    seasonal = nw.from_native(pl.DataFrame({"year": [2026], "month_of_year": [4]}))
    assert within_months(orders, seasonal).collect().to_native()["order_id"].to_list() == ["O4"]
    ids = nw.from_native(pl.DataFrame({"order_id": ["O3", "O2", None]}))
    assert within_ids(orders, ids).collect().to_native()["order_id"].to_list() == ["O2", "O3"]
    none = nw.from_native(pl.DataFrame({"order_id": [None]}, schema={"order_id": pl.String}))
    assert within_ids(orders, none).collect().to_native().height == 0


def test_fact_months_recompute_everything_when_a_dimension_changed() -> None:
    """New orders touch their month; a changed customer or product version can move any
    sale to another version, so it touches every month."""
    from shoplake.ecommerce.incremental import FactMonths

    orders = nw.from_native(
        pl.DataFrame(
            {
                "order_id": ["O1", "O2", "O3"],
                "customer_id": ["C1", "C2", "C1"],
                "order_ts": [datetime(2026, 1, 5), datetime(2026, 2, 5), datetime(2026, 3, 5)],
            }
        ).lazy()
    )
    items = nw.from_native(
        pl.DataFrame({"order_id": ["O1", "O2", "O3"], "product_id": ["P1", "P1", "P2"]}).lazy()
    )
    dim = nw.from_native(pl.DataFrame({"customer_id": ["C1"], "customer_sk": [1]}).lazy())
    inputs = {"silver_orders": orders, "silver_order_items": items, "gold_dim_customer": dim}
    plan = FactMonths(dimensions=("gold_dim_customer", "gold_dim_product"))

    def months(changed: dict[str, nw.LazyFrame]) -> list[date]:
        found = plan.affected(changed, inputs).collect().to_native()
        return sorted(found["month"].to_list())

    new_order = orders.filter(nw.col("order_id") == "O2")
    assert months({"silver_orders": new_order}) == [date(2026, 2, 1)]
    assert months({"silver_orders": new_order, "gold_dim_customer": dim}) == [
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]
