"""Seasonality: when in the year, week and day do customers buy?"""

from __future__ import annotations

from typing import Any

import narwhals as nw

from shoplake.ecommerce.marts.common import integer, money, sale_lines, weekday

GRAIN = ("year", "quarter", "month_of_year", "weekday", "hour")


def seasonal_trends(orders: nw.LazyFrame[Any], order_items: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """When do sales happen: by year, quarter, month, weekday and hour of the order?

    One row per combination of the order's (UTC) ``year``, ``quarter`` (1–4),
    ``month_of_year`` (1–12), ``weekday`` (1 = Monday … 7 = Sunday) and ``hour``
    (0–23) that has sale lines (lines of non-cancelled orders): ``orders`` counts
    distinct orders, ``revenue`` sums ``line_amount`` (cents), ``units`` sums
    quantities. Coarser views are sums of these rows (orders too, since an order
    falls in exactly one cell).

    Columns: ``year, quarter, month_of_year, weekday, hour, orders, revenue, units``;
    sorted by the grain.
    """
    ts = nw.col("order_ts")
    lines = sale_lines(orders, order_items).with_columns(
        year=integer(ts.dt.year()),
        quarter=integer((ts.dt.month() - 1) // 3 + 1),
        month_of_year=integer(ts.dt.month()),
        weekday=weekday(ts),
        hour=integer(ts.dt.hour()),
    )
    return (
        lines.group_by(*GRAIN)
        .agg(
            orders=integer(nw.col("order_id").n_unique()),
            revenue=money(nw.col("revenue").sum()),
            units=integer(nw.col("quantity").sum()),
        )
        .select(*GRAIN, "orders", "revenue", "units")
        .sort(*GRAIN)
    )
