"""Product performance: sales, margin, returns and rank within the category."""

from __future__ import annotations

from typing import Any

import narwhals as nw

from shoplake.ecommerce.marts.aggregates import product_month_sales
from shoplake.ecommerce.marts.common import (
    current_rows,
    integer,
    money,
    money_margin,
    rate,
    ratio,
)


def product_performance(
    orders: nw.LazyFrame[Any],
    order_items: nw.LazyFrame[Any],
    products: nw.LazyFrame[Any],
    returns: nw.LazyFrame[Any],
) -> nw.LazyFrame[Any]:
    """Which products sell, earn and come back, and how do they rank in their category?

    One row per product with sale lines (lines of non-cancelled orders). ``units``
    is the quantity sold, ``revenue`` the sum of ``line_amount``, ``cost`` quantity ×
    the current product cost, ``margin`` = revenue − cost and ``margin_pct`` =
    margin / revenue. ``returned_units`` counts the product's return rows (each
    return is one unit; fraud-flagged returns included) and ``return_rate`` =
    returned_units / units. ``rank_in_category`` is 1 for the highest revenue
    (rounded to cents) in the product's current category, ties broken by
    ``product_id``. Money in cents, rates to 4 places, from the rounded money.

    Columns: ``product_id, name, category, brand, units, revenue, cost, margin,
    margin_pct, returned_units, return_rate, rank_in_category``; sorted by
    ``product_id``.
    """
    return performance_from_sales(product_month_sales(orders, order_items), products, returns)


def performance_from_sales(
    sales: nw.LazyFrame[Any], products: nw.LazyFrame[Any], returns: nw.LazyFrame[Any]
) -> nw.LazyFrame[Any]:
    """:func:`product_performance` projected from
    :func:`~shoplake.ecommerce.marts.aggregates.product_month_sales` (months × products
    rows, not order lines). ``cost`` is units × the current cost: the same as summing
    quantity × cost over the lines, since every line of a product is costed at its
    current cost.
    """
    costs = current_rows(products).select("product_id", unit_cost=nw.col("cost"))
    sold = (
        sales.group_by("product_id")
        .agg(units=nw.col("units").sum(), revenue_cents=nw.col("revenue_cents").sum())
        .join(costs, on="product_id", how="left")
        .select(
            "product_id",
            units=integer(nw.col("units")),
            revenue=money(integer(nw.col("revenue_cents")) / 100),
            cost=money(nw.col("units") * nw.col("unit_cost")),
        )
    )
    returned = returns.group_by("product_id").agg(returned_units=integer(nw.len()))
    catalog = current_rows(products).select("product_id", "name", "category", "brand")
    return (
        sold.join(catalog, on="product_id", how="left")
        .join(returned, on="product_id", how="left")
        .with_columns(
            returned_units=integer(nw.col("returned_units").fill_null(0)),
            _negative_revenue=-nw.col("revenue"),
            **money_margin(),
        )
        .with_columns(
            return_rate=rate(ratio(nw.col("returned_units"), nw.col("units"))),
            rank_in_category=integer(
                nw.col("product_id")
                .cum_count()
                .over("category", order_by=["_negative_revenue", "product_id"])
            ),
        )
        .select(
            "product_id",
            "name",
            "category",
            "brand",
            "units",
            "revenue",
            "cost",
            "margin",
            "margin_pct",
            "returned_units",
            "return_rate",
            "rank_in_category",
        )
        .sort("product_id")
    )
