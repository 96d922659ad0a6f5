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


def _scoped_orders(orders: nw.LazyFrame) -> nw.LazyFrame:
    """``scope, order_id, status``: every order under ``overall``, and again under
    ``current_month`` if placed in the calendar month of the as-of."""
    base = orders.select("order_id", "status", "order_ts")
    this_month = (
        base.join(as_of(orders), how="cross")
        .filter(month_start(nw.col("order_ts")) == month_start(nw.col("as_of")))
        .select(scope=nw.lit(CURRENT_MONTH), order_id=nw.col("order_id"), status=nw.col("status"))
    )
    overall = base.select(
        scope=nw.lit(OVERALL), order_id=nw.col("order_id"), status=nw.col("status")
    )
    return nw.concat([overall, this_month], how="vertical")


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
    scoped = _scoped_orders(orders)
    status = scoped.group_by("scope").agg(
        all_orders=integer(nw.len()),
        delivered=integer((nw.col("status") == DELIVERED).cast(nw.Int64).sum()),
        cancelled=integer((nw.col("status") == CANCELLED).cast(nw.Int64).sum()),
    )
    lines = sale_lines(orders, order_items).select("order_id", "customer_id", "revenue")
    sales = (
        scoped.select("scope", "order_id")
        .join(lines, on="order_id", how="inner")
        .group_by("scope")
        .agg(
            revenue=money(nw.col("revenue").sum()),
            orders=integer(nw.col("order_id").n_unique()),
            customers=integer(nw.col("customer_id").n_unique()),
        )
    )
    returned_orders = returns.select("order_id").unique()
    returned = (
        scoped.select("scope", "order_id")
        .join(lines.select("order_id").unique(), on="order_id", how="semi")
        .join(returned_orders, on="order_id", how="semi")
        .group_by("scope")
        .agg(returned_orders=integer(nw.len()))
    )
    if shipments is not None:
        delivered = (
            scoped.select("scope", "order_id")
            .join(on_time(shipments).select("order_id", "late"), on="order_id", how="inner")
            .group_by("scope")
            .agg(
                delivered_shipments=integer(nw.len()),
                on_time_shipments=integer((~nw.col("late")).cast(nw.Int64).sum()),
            )
        )
    else:
        delivered = status.select(
            "scope",
            delivered_shipments=nw.lit(None, dtype=nw.Int64),
            on_time_shipments=nw.lit(None, dtype=nw.Int64),
        )
    return (
        status.join(sales, on="scope", how="left")
        .join(returned, on="scope", how="left")
        .join(delivered, on="scope", how="left")
        .join(as_of(orders), how="cross")
        .with_columns(
            revenue=nw.col("revenue").fill_null(0.0),
            orders=integer(nw.col("orders").fill_null(0)),
            customers=integer(nw.col("customers").fill_null(0)),
            returned_orders=integer(nw.col("returned_orders").fill_null(0)),
        )
        .select(
            "scope",
            "revenue",
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
        )
        .sort("scope")
    )
