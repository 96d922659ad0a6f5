"""Revenue over time: the monthly totals and their split by product category."""

from __future__ import annotations

from typing import Any

import narwhals as nw

from shoplake.ecommerce.marts.common import (
    integer,
    money,
    money_margin,
    month_start,
    rate,
    ratio,
    sale_lines,
)


def monthly_revenue(orders: nw.LazyFrame[Any], order_items: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """How much did we sell each month, to how many customers, and how fast is it growing?

    One row per calendar month (UTC) with at least one sale line: ``revenue`` is the
    sum of ``line_amount`` over lines of non-cancelled orders, ``orders`` and
    ``customers`` count the distinct orders and customers behind those lines,
    ``avg_order_value`` is revenue / orders, and ``mom_growth`` is
    (revenue − previous calendar month's revenue) / previous month's revenue — null
    for the first month and after a month without sales. Money is rounded to cents
    and the ratios are computed from the rounded revenue, rounded to 4 places.

    Columns: ``month`` (date, first day), ``revenue``, ``orders``, ``customers``,
    ``avg_order_value``, ``mom_growth``; sorted by ``month``.
    """
    lines = sale_lines(orders, order_items).with_columns(
        month=month_start(nw.col("order_ts")),
        month_index=integer(nw.col("order_ts").dt.year() * 12 + nw.col("order_ts").dt.month()),
    )
    monthly = lines.group_by("month", "month_index").agg(
        revenue=money(nw.col("revenue").sum()),
        orders=integer(nw.col("order_id").n_unique()),
        customers=integer(nw.col("customer_id").n_unique()),
    )
    previous = monthly.select(
        month_index=nw.col("month_index") + 1, previous_revenue=nw.col("revenue")
    )
    return (
        monthly.join(previous, on="month_index", how="left")
        .select(
            "month",
            "revenue",
            "orders",
            "customers",
            avg_order_value=money(ratio(nw.col("revenue"), nw.col("orders"))),
            mom_growth=rate(
                ratio(nw.col("revenue") - nw.col("previous_revenue"), nw.col("previous_revenue"))
            ),
        )
        .sort("month")
    )


def category_sales(
    orders: nw.LazyFrame[Any], order_items: nw.LazyFrame[Any], products: nw.LazyFrame[Any]
) -> nw.LazyFrame[Any]:
    """What does each product category sell and earn, month by month?

    One row per calendar month and (current) product category with sale lines:
    ``revenue`` is the sum of ``line_amount`` over lines of non-cancelled orders,
    ``units`` the sum of quantities, ``cost`` the sum of quantity × the product's
    current ``cost``, ``margin`` = revenue − cost and ``margin_pct`` = margin /
    revenue (a fraction, 4 places). Money is rounded to cents; margin and
    margin_pct are computed from the rounded revenue and cost.

    Columns: ``month, category, revenue, units, cost, margin, margin_pct``; sorted
    by ``month, category``.
    """
    lines = sale_lines(orders, order_items, products).with_columns(
        month=month_start(nw.col("order_ts"))
    )
    return (
        lines.group_by("month", "category")
        .agg(
            revenue=money(nw.col("revenue").sum()),
            units=integer(nw.col("quantity").sum()),
            cost=money(nw.col("cost").sum()),
        )
        .with_columns(**money_margin())
        .select("month", "category", "revenue", "units", "cost", "margin", "margin_pct")
        .sort("month", "category")
    )
