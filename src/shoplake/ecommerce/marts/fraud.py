"""Fraud alerts from returns: duplicate returns and abnormal return rates."""

from __future__ import annotations

from typing import Any

import narwhals as nw

from shoplake.ecommerce.marts.common import CANCELLED, integer, rate, ratio

DUPLICATE_RETURN = "duplicate_return"
ABNORMAL_RETURN_RATE = "abnormal_return_rate"
MIN_RETURNS = 3
"""A customer needs at least this many returns for an abnormal-rate alert."""
ABNORMAL_SHARE = 0.5
"""... and at least this share of their non-cancelled orders returned."""

COLUMNS = (
    "alert_type",
    "customer_id",
    "order_id",
    "return_id",
    "returns",
    "return_rate",
    "detail",
    "severity",
)


def _returns_with_customer(
    returns: nw.LazyFrame[Any], orders: nw.LazyFrame[Any]
) -> nw.LazyFrame[Any]:
    """Returns with ``customer_id`` filled from the order when the return lacks it."""
    owners = orders.select("order_id", order_customer_id=nw.col("customer_id"))
    return (
        returns.select("return_id", "order_id", "product_id", "customer_id", "is_suspected_fraud")
        .join(owners, on="order_id", how="left")
        .with_columns(customer_id=nw.coalesce("customer_id", "order_customer_id"))
        .drop("order_customer_id")
    )


def _customer_return_stats(
    returns: nw.LazyFrame[Any], orders: nw.LazyFrame[Any]
) -> nw.LazyFrame[Any]:
    """Per customer with returns: ``returns, returned_orders, orders, return_rate, abnormal``.

    ``orders`` are the customer's non-cancelled orders, ``returned_orders`` those of them
    with a return by the customer.
    """
    sold = orders.filter(nw.col("status") != CANCELLED).select("order_id", "customer_id")
    counts = returns.group_by("customer_id").agg(returns=integer(nw.len()))
    returned_orders = (
        returns.select("customer_id", "order_id")
        .unique()
        .join(sold, on=["customer_id", "order_id"], how="semi")
        .group_by("customer_id")
        .agg(returned_orders=integer(nw.len()))
    )
    order_counts = sold.group_by("customer_id").agg(orders=integer(nw.len()))
    return (
        counts.join(returned_orders, on="customer_id", how="left")
        .join(order_counts, on="customer_id", how="left")
        .with_columns(
            returned_orders=integer(nw.col("returned_orders").fill_null(0)),
            orders=integer(nw.col("orders").fill_null(0)),
        )
        .with_columns(
            return_rate=rate(ratio(nw.col("returned_orders"), nw.col("orders"))),
            abnormal=(nw.col("returns") >= MIN_RETURNS)
            & (nw.col("orders") > 0)
            & (nw.col("returned_orders") >= nw.col("orders") * ABNORMAL_SHARE),
        )
    )


def fraud_alerts(returns: nw.LazyFrame[Any], orders: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """Which returns and customers look like return fraud?

    One row per alert. ``duplicate_return`` (severity ``high``): each return silver
    flagged ``is_suspected_fraud`` (the same order, product and customer returned
    again under a new ``return_id``). ``abnormal_return_rate`` (severity
    ``medium``, ``order_id``/``return_id`` null): a customer with at least 3 returns
    whose returned orders are at least half of their non-cancelled orders. On every
    alert ``returns`` is the customer's return count (all their return rows) and
    ``return_rate`` = the customer's non-cancelled orders with a return / their
    non-cancelled orders (4 places). A return without ``customer_id`` is the order's
    customer's.

    Columns: ``alert_type, customer_id, order_id, return_id, returns, return_rate,
    detail, severity``; sorted by ``alert_type, customer_id, return_id``.
    """
    claimed = _returns_with_customer(returns, orders)
    stats = _customer_return_stats(claimed, orders)
    duplicates = (
        claimed.filter(nw.col("is_suspected_fraud").fill_null(value=False))
        .join(stats, on="customer_id", how="left")
        .select(
            alert_type=nw.lit(DUPLICATE_RETURN),
            customer_id=nw.col("customer_id"),
            order_id=nw.col("order_id"),
            return_id=nw.col("return_id"),
            returns=nw.col("returns"),
            return_rate=nw.col("return_rate"),
            detail=nw.concat_str(
                nw.lit("Return "),
                nw.col("return_id"),
                nw.lit(" repeats an earlier return of product "),
                nw.col("product_id"),
                nw.lit(" on order "),
                nw.col("order_id"),
                nw.lit(" by customer "),
                nw.col("customer_id"),
                nw.lit("."),
                ignore_nulls=True,
            ),
            severity=nw.lit("high"),
        )
    )
    abnormal = stats.filter(nw.col("abnormal")).select(
        alert_type=nw.lit(ABNORMAL_RETURN_RATE),
        customer_id=nw.col("customer_id"),
        order_id=nw.lit(None, dtype=nw.String),
        return_id=nw.lit(None, dtype=nw.String),
        returns=nw.col("returns"),
        return_rate=nw.col("return_rate"),
        detail=nw.concat_str(
            nw.lit("Customer "),
            nw.col("customer_id"),
            nw.lit(" filed "),
            nw.col("returns").cast(nw.String),
            nw.lit(" returns on "),
            nw.col("returned_orders").cast(nw.String),
            nw.lit(" of "),
            nw.col("orders").cast(nw.String),
            nw.lit(" orders."),
        ),
        severity=nw.lit("medium"),
    )
    return nw.concat([duplicates, abnormal], how="vertical").sort(
        "alert_type", "customer_id", "return_id", nulls_last=True
    )
