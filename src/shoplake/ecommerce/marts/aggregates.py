"""Small additive aggregates the history-wide marts are projected from.

``executive_kpis`` and ``product_performance`` summarise all of history. Computed
from silver, every batch would rescan every order and line. Instead they are
projected from per-month aggregates whose rows add up across months: a batch
recomputes only the months it touched (see :mod:`shoplake.ecommerce.incremental`),
and the marts read tables whose size is months × products, not order lines. The
mart functions themselves are the composition "aggregate, then project", so a
full recompute and the incremental path share one definition.

Money is summed in whole cents (silver amounts are in cents already), so a month's
sum is exact and the same whichever order its rows are added in; the marts turn
cents back into amounts at the end.
"""

from __future__ import annotations

from typing import Any

import narwhals as nw

from shoplake.ecommerce.marts.common import (
    CANCELLED,
    DELIVERED,
    integer,
    month_start,
    round_half_away,
    sale_lines,
)
from shoplake.ecommerce.marts.operations import on_time


def _count(condition: nw.Expr) -> nw.Expr:
    return integer(condition.cast(nw.Int64).sum())


def cents(amount: nw.Expr) -> nw.Expr:
    """A money amount as whole cents (Int64)."""
    return integer(round_half_away(amount * 100, 0))


def order_month_facts(
    orders: nw.LazyFrame[Any],
    order_items: nw.LazyFrame[Any],
    returns: nw.LazyFrame[Any],
    shipments: nw.LazyFrame[Any] | None = None,
) -> nw.LazyFrame[Any]:
    """Per calendar month of ``order_ts``, the additive counts behind the headline KPIs.

    ``all_orders`` (every status), ``delivered``, ``cancelled``; ``revenue_cents`` (sum
    of ``line_amount`` over sale lines, in cents), ``orders`` (sold orders: not cancelled,
    with lines), ``customers`` (distinct non-null customers of sold orders),
    ``returned_orders`` (sold orders with at least one return),
    ``delivered_shipments`` / ``on_time_shipments`` (of the month's orders; null
    without ``shipments``), and ``last_order_ts`` (latest ``order_ts``, any status).

    Columns: ``month, all_orders, delivered, cancelled, revenue_cents, orders, customers,
    returned_orders, delivered_shipments, on_time_shipments, last_order_ts``; sorted
    by ``month``.
    """
    revenue = (
        sale_lines(orders, order_items)
        .group_by("order_id")
        .agg(revenue_cents=cents(nw.col("revenue")).sum())
    )
    returned = returns.select("order_id").unique().with_columns(returned=nw.lit(True))
    facts = (
        orders.select("order_id", "customer_id", "status", "order_ts")
        .with_columns(month=month_start(nw.col("order_ts")))
        .join(revenue, on="order_id", how="left")
        .join(returned, on="order_id", how="left")
    )
    if shipments is None:
        facts = facts.with_columns(
            delivered_shipments=nw.lit(None, dtype=nw.Int64),
            on_time_shipments=nw.lit(None, dtype=nw.Int64),
        )
    else:
        delivered = (
            on_time(shipments)
            .group_by("order_id")
            .agg(
                delivered_shipments=integer(nw.len()),
                on_time_shipments=integer((~nw.col("late")).cast(nw.Int64).sum()),
            )
        )
        facts = facts.join(delivered, on="order_id", how="left")
    sold = ~nw.col("revenue_cents").is_null()
    buyer = nw.when(sold).then(nw.col("customer_id"))
    return (
        facts.group_by("month")
        .agg(
            all_orders=integer(nw.len()),
            delivered=_count(nw.col("status") == DELIVERED),
            cancelled=_count(nw.col("status") == CANCELLED),
            revenue_cents=integer(nw.col("revenue_cents").sum()),
            orders=_count(sold),
            # n_unique counts a null as one value: take it back out.
            customers=integer(buyer.n_unique() - buyer.is_null().any().cast(nw.Int64)),
            returned_orders=_count(sold & nw.col("returned").fill_null(value=False)),
            delivered_shipments=integer(nw.col("delivered_shipments").sum()),
            on_time_shipments=integer(nw.col("on_time_shipments").sum()),
            last_order_ts=nw.col("order_ts").max(),
        )
        .sort("month")
    )


def product_month_sales(
    orders: nw.LazyFrame[Any], order_items: nw.LazyFrame[Any]
) -> nw.LazyFrame[Any]:
    """Per calendar month and product, the units and revenue (cents) of sale lines.

    Columns: ``month, product_id, units, revenue_cents``; sorted by ``month, product_id``.
    """
    return (
        sale_lines(orders, order_items)
        .with_columns(month=month_start(nw.col("order_ts")))
        .group_by("month", "product_id")
        .agg(
            units=integer(nw.col("quantity").sum()),
            revenue_cents=integer(cents(nw.col("revenue")).sum()),
        )
        .sort("month", "product_id")
    )
