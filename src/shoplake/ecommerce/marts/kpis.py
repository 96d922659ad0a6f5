"""Executive KPIs: the headline numbers overall and for the current month."""

from __future__ import annotations

import narwhals as nw

from shoplake.ecommerce.marts.common import (
    CANCELLED,
    DELIVERED,
    as_of,
    integer,
    money,
    month_start,
    rate,
    ratio,
    sale_lines,
)
from shoplake.ecommerce.marts.operations import on_time

OVERALL = "overall"
CURRENT_MONTH = "current_month"


def _order_facts(
    orders: nw.LazyFrame,
    order_items: nw.LazyFrame,
    returns: nw.LazyFrame,
    shipments: nw.LazyFrame | None,
) -> nw.LazyFrame:
    """One row per order: ``customer_id, status, current`` (placed in the as-of's month),
    ``revenue`` (its sale lines' sum; null when it has none: cancelled or line-less),
    ``returned``, and its ``delivered_shipments``/``on_time_shipments``.

    Everything is brought to the order grain first so that each KPI is one pass over
    one row per order (joining the scopes to the lines repeats millions of rows).
    """
    revenue = (
        sale_lines(orders, order_items).group_by("order_id").agg(revenue=nw.col("revenue").sum())
    )
    returned = returns.select("order_id").unique().with_columns(returned=nw.lit(True))
    facts = (
        orders.select("order_id", "customer_id", "status", "order_ts")
        .join(as_of(orders), how="cross")
        .with_columns(current=month_start(nw.col("order_ts")) == month_start(nw.col("as_of")))
        .join(revenue, on="order_id", how="left")
        .join(returned, on="order_id", how="left")
    )
    if shipments is None:
        return facts.with_columns(
            delivered_shipments=nw.lit(None, dtype=nw.Int64),
            on_time_shipments=nw.lit(None, dtype=nw.Int64),
        )
    delivered = (
        on_time(shipments)
        .group_by("order_id")
        .agg(
            delivered_shipments=integer(nw.len()),
            on_time_shipments=integer((~nw.col("late")).cast(nw.Int64).sum()),
        )
    )
    return facts.join(delivered, on="order_id", how="left")


def _summary(facts: nw.LazyFrame, scope: str) -> nw.LazyFrame:
    sold = ~nw.col("revenue").is_null()
    buyer = nw.when(sold).then(nw.col("customer_id"))

    def count(condition: nw.Expr) -> nw.Expr:
        return integer(condition.cast(nw.Int64).sum())

    return (
        facts.with_columns(scope=nw.lit(scope))
        .group_by("scope")
        .agg(
            all_orders=integer(nw.len()),
            delivered=count(nw.col("status") == DELIVERED),
            cancelled=count(nw.col("status") == CANCELLED),
            revenue=money(nw.col("revenue").sum()),
            orders=count(sold),
            # n_unique counts a null as one value: take it back out.
            customers=integer(buyer.n_unique() - buyer.is_null().any().cast(nw.Int64)),
            returned_orders=count(sold & nw.col("returned").fill_null(value=False)),
            delivered_shipments=integer(nw.col("delivered_shipments").sum()),
            on_time_shipments=integer(nw.col("on_time_shipments").sum()),
            as_of=nw.col("as_of").max(),
        )
    )


def executive_kpis(
    orders: nw.LazyFrame,
    order_items: nw.LazyFrame,
    returns: nw.LazyFrame,
    shipments: nw.LazyFrame | None = None,
) -> nw.LazyFrame:
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
    facts = _order_facts(orders, order_items, returns, shipments)
    current = facts.filter(nw.col("current"))
    scoped = nw.concat([_summary(facts, OVERALL), _summary(current, CURRENT_MONTH)])
    return scoped.select(
        "scope",
        nw.col("revenue").fill_null(0.0),
        "orders",
        "customers",
        avg_order_value=money(ratio(nw.col("revenue"), nw.col("orders"))),
        completion_rate=rate(ratio(nw.col("delivered"), nw.col("all_orders"))),
        cancellation_rate=rate(ratio(nw.col("cancelled"), nw.col("all_orders"))),
        return_rate=rate(ratio(nw.col("returned_orders"), nw.col("orders"))),
        on_time_delivery_rate=rate(
            ratio(nw.col("on_time_shipments"), nw.col("delivered_shipments"))
        ),
        as_of=nw.col("as_of"),
    ).sort("scope")
