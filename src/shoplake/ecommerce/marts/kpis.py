"""Executive KPIs: the headline numbers overall and for the current month."""

from __future__ import annotations

from typing import Any

import narwhals as nw

from shoplake.ecommerce.marts.aggregates import order_month_facts
from shoplake.ecommerce.marts.common import (
    integer,
    money,
    month_start,
    rate,
    ratio,
    sale_lines,
)

OVERALL = "overall"
CURRENT_MONTH = "current_month"


def _summary(months: nw.LazyFrame[Any], scope: str) -> nw.LazyFrame[Any]:
    """One row: the months' facts added up, ``revenue`` back from cents."""
    return (
        months.with_columns(scope=nw.lit(scope))
        .group_by("scope")
        .agg(
            all_orders=integer(nw.col("all_orders").sum()),
            delivered=integer(nw.col("delivered").sum()),
            cancelled=integer(nw.col("cancelled").sum()),
            revenue=integer(nw.col("revenue_cents").sum()) / 100,
            orders=integer(nw.col("orders").sum()),
            customers=integer(nw.col("customers").sum()),
            returned_orders=integer(nw.col("returned_orders").sum()),
            delivered_shipments=integer(nw.col("delivered_shipments").sum()),
            on_time_shipments=integer(nw.col("on_time_shipments").sum()),
            as_of=nw.col("as_of").max(),
        )
    )


def executive_kpis(
    orders: nw.LazyFrame[Any],
    order_items: nw.LazyFrame[Any],
    returns: nw.LazyFrame[Any],
    shipments: nw.LazyFrame[Any] | None = None,
) -> nw.LazyFrame[Any]:
    """The headline numbers: how much, how many, and how well did orders go?

    Two rows: ``scope`` = ``overall`` (all data) and ``current_month`` (orders
    placed in the calendar month of the as-of, the latest ``order_ts``). Orders
    belong to a scope by ``order_ts``. ``revenue`` sums ``line_amount`` over lines
    of non-cancelled orders; ``orders`` and ``customers`` count the distinct
    non-cancelled orders with lines and their customers; ``avg_order_value`` =
    revenue / orders. ``completion_rate`` and ``cancellation_rate`` are delivered
    and cancelled orders over all orders in scope (cancelled and line-less ones
    included); ``return_rate`` is the share of the scope's sold orders with at
    least one return (whenever it was filed). ``on_time_delivery_rate`` is the share
    of the scope's delivered shipments that arrived by the end of their promised day
    (null without ``shipments`` or without a delivered one). Money in cents, rates to
    4 places.

    Columns: ``scope, revenue, orders, customers, avg_order_value, completion_rate,
    cancellation_rate, return_rate, on_time_delivery_rate, as_of``; sorted by
    ``scope``.
    """
    facts = order_month_facts(orders, order_items, returns, shipments)
    buyers = sale_lines(orders, order_items).select("customer_id")
    return kpis_from_months(facts, buyers)


def kpis_from_months(months: nw.LazyFrame[Any], buyers: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """:func:`executive_kpis` projected from
    :func:`~shoplake.ecommerce.marts.aggregates.order_month_facts` and the customers who
    bought anything (``buyers``: a ``customer_id`` column, repeats and nulls allowed,
    such as ``customer_lifetime_value``). Both are small: this reads no order line.
    """
    latest = months.select(as_of=nw.col("last_order_ts").max())
    scoped = months.join(latest, how="cross")
    current = scoped.filter(nw.col("month") == month_start(nw.col("as_of")))
    distinct = buyers.filter(~nw.col("customer_id").is_null()).select("customer_id").unique()
    everyone = distinct.select(customers=integer(nw.len()), scope=nw.lit(OVERALL))
    overall = _summary(scoped, OVERALL).drop("customers").join(everyone, on="scope", how="left")
    columns = overall.collect_schema().names()
    scoped_rows = nw.concat([overall, _summary(current, CURRENT_MONTH).select(columns)])
    # Rounded before the average, as the average is defined on the rounded revenue.
    return (
        scoped_rows.with_columns(revenue=money(nw.col("revenue")))
        .select(
            "scope",
            nw.col("revenue").fill_null(0.0),
            "orders",
            nw.col("customers").fill_null(0),
            avg_order_value=money(ratio(nw.col("revenue"), nw.col("orders"))),
            completion_rate=rate(ratio(nw.col("delivered"), nw.col("all_orders"))),
            cancellation_rate=rate(ratio(nw.col("cancelled"), nw.col("all_orders"))),
            return_rate=rate(ratio(nw.col("returned_orders"), nw.col("orders"))),
            on_time_delivery_rate=rate(
                ratio(nw.col("on_time_shipments"), nw.col("delivered_shipments"))
            ),
            as_of=nw.col("as_of"),
        )
        .sort("scope")
    )
