"""Operations marts: stock against sales, and carrier performance."""

from __future__ import annotations

from typing import Any

import narwhals as nw

from shoplake.ecommerce.marts.common import (
    SECONDS_PER_DAY,
    as_of,
    integer,
    rate,
    ratio,
    round_half_away,
    sale_lines,
    seconds_between,
)

SALES_WINDOW_DAYS = 30
COVER_TARGET_DAYS = 14


def inventory_health(
    inventory: nw.LazyFrame[Any], orders: nw.LazyFrame[Any], order_items: nw.LazyFrame[Any]
) -> nw.LazyFrame[Any]:
    """Which products are running out, given how fast they sell?

    One row per product in the latest inventory snapshot: ``on_hand`` and
    ``reorder_point`` summed over warehouses, ``units_30d`` the units sold (lines of
    non-cancelled orders) in the 30 days up to the as-of (the latest ``order_ts``),
    ``daily_sales`` = units_30d / 30 (4 places), ``days_of_cover`` = on_hand /
    daily_sales (1 place; null without sales), ``reorder`` = on_hand ≤ reorder_point
    or days_of_cover < 14.

    Columns: ``product_id, snapshot_date, on_hand, reorder_point, units_30d,
    daily_sales, days_of_cover, reorder``; sorted by ``product_id``.
    """
    latest = inventory.select(latest=nw.col("snapshot_date").max())
    stock = (
        inventory.join(latest, how="cross")
        .filter(nw.col("snapshot_date") == nw.col("latest"))
        .group_by("product_id", "snapshot_date")
        .agg(
            on_hand=integer(nw.col("quantity_on_hand").sum()),
            reorder_point=integer(nw.col("reorder_point").sum()),
        )
    )
    # The window is applied to the orders before their lines are joined: a month of
    # orders, not all of history, meets the lines.
    window = (
        orders.join(as_of(orders), how="cross")
        .filter(
            nw.col("order_ts") > nw.col("as_of").dt.offset_by(f"-{SALES_WINDOW_DAYS}d")
        )
        .drop("as_of")
    )
    recent = (
        sale_lines(window, order_items)
        .group_by("product_id")
        .agg(units_30d=integer(nw.col("quantity").sum()))
    )
    daily = nw.col("units_30d") / SALES_WINDOW_DAYS
    cover = ratio(nw.col("on_hand").cast(nw.Float64), daily)
    return (
        stock.join(recent, on="product_id", how="left")
        .with_columns(units_30d=integer(nw.col("units_30d").fill_null(0)))
        .with_columns(daily_sales=rate(daily), days_of_cover=round_half_away(cover, 1))
        .with_columns(
            reorder=(nw.col("on_hand") <= nw.col("reorder_point"))
            | (nw.col("days_of_cover") < COVER_TARGET_DAYS).fill_null(value=False)
        )
        .select(
            "product_id",
            "snapshot_date",
            "on_hand",
            "reorder_point",
            "units_30d",
            "daily_sales",
            "days_of_cover",
            "reorder",
        )
        .sort("product_id")
    )


def on_time(shipments: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """Delivered shipments with ``delivery_days`` (fractional) and ``late`` (delivered after
    the end of the promised day)."""
    delivered = shipments.filter(~nw.col("delivered_at").is_null())
    seconds = seconds_between(nw.col("delivered_at"), nw.col("shipped_at"))
    deadline = nw.col("promised_date").cast(nw.Datetime("us"))
    late = nw.col("delivered_at") >= deadline.dt.offset_by("1d")
    return delivered.with_columns(delivery_days=seconds / SECONDS_PER_DAY, late=late)


def shipping_performance(shipments: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """How fast and how reliably does each carrier deliver?

    One row per carrier: ``shipments`` (all), ``delivered`` (with a delivery time),
    ``avg_delivery_days`` from shipping to delivery (2 places), ``late_share`` =
    delivered after the promised day / delivered (4 places).

    Columns: ``carrier, shipments, delivered, avg_delivery_days, late_share``; sorted
    by ``carrier``.
    """
    totals = shipments.group_by("carrier").agg(shipments=integer(nw.len()))
    delivered = (
        on_time(shipments)
        .group_by("carrier")
        .agg(
            delivered=integer(nw.len()),
            avg_days=nw.col("delivery_days").mean(),
            late=integer(nw.col("late").cast(nw.Int64).sum()),
        )
    )
    return (
        totals.join(delivered, on="carrier", how="left")
        .with_columns(
            delivered=integer(nw.col("delivered").fill_null(0)),
            late=integer(nw.col("late").fill_null(0)),
        )
        .select(
            "carrier",
            "shipments",
            "delivered",
            avg_delivery_days=round_half_away(nw.col("avg_days"), 2),
            late_share=rate(ratio(nw.col("late"), nw.col("delivered"))),
        )
        .sort("carrier")
    )
