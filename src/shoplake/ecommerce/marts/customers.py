"""Customer marts: spend tiers with recency and frequency, and lifetime value."""

from __future__ import annotations

from typing import Any

import narwhals as nw

from shoplake.ecommerce.marts.common import (
    DAYS_PER_MONTH,
    as_of,
    current_rows,
    integer,
    money,
    order_values,
    rate,
    ratio,
    sale_lines,
    whole_days,
)

TIERS: tuple[tuple[str, float], ...] = (("VIP", 1000.0), ("Premium", 500.0), ("Standard", 200.0))
"""Spend tiers, highest first: a customer is in the first tier whose floor they reach."""
BASIC = "Basic"
RECENCY_BUCKETS: tuple[tuple[str, int], ...] = (("active", 30), ("warm", 90))
"""Recency buckets: a customer is in the first bucket whose ceiling (days) they are within."""
LAPSED = "lapsed"
FREQUENCY_BUCKETS: tuple[tuple[str, int], ...] = (("frequent", 10), ("regular", 5))
"""Frequency buckets, highest first, by number of orders."""
OCCASIONAL = "occasional"


def _per_customer(orders: nw.LazyFrame[Any], order_items: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """``customer_id, first_order_ts, last_order_ts, orders, total_spend`` (rounded)."""
    return (
        order_values(sale_lines(orders, order_items))
        .group_by("customer_id")
        .agg(
            first_order_ts=nw.col("order_ts").min(),
            last_order_ts=nw.col("order_ts").max(),
            orders=integer(nw.col("order_id").n_unique()),
            total_spend=money(nw.col("order_value").sum()),
        )
    )


def _bucket(
    value: nw.Expr, buckets: tuple[tuple[str, float], ...], otherwise: str, *, at_least: bool
) -> nw.Expr:
    """The label of the first bucket ``value`` reaches (``>=``) or stays within (``<=``)."""
    label = nw.lit(otherwise)
    for name, bound in reversed(buckets):
        hit = value >= bound if at_least else value <= bound
        label = nw.when(hit).then(nw.lit(name)).otherwise(label)
    return label


def customer_segments(
    orders: nw.LazyFrame[Any], order_items: nw.LazyFrame[Any], customers: nw.LazyFrame[Any]
) -> nw.LazyFrame[Any]:
    """Who are our customers by value, recency and frequency, and where do they live?

    One row per customer with at least one non-cancelled order that has lines.
    ``total_spend`` is the sum of their orders' line revenue (cents), ``orders``
    their distinct non-cancelled orders, ``recency_days`` the whole days from their
    last order to the as-of (the latest ``order_ts`` in the data). ``tier`` by
    rounded spend: VIP ≥ 1000, Premium ≥ 500, Standard ≥ 200, else Basic;
    ``recency_bucket``: active ≤ 30 days, warm ≤ 90, else lapsed;
    ``frequency_bucket``: frequent ≥ 10 orders, regular ≥ 5, else occasional.
    Location columns come from the customer's current silver row (null if unknown).

    Columns: ``customer_id, total_spend, orders, last_order_ts, recency_days, tier,
    recency_bucket, frequency_bucket, region_id, city, state, country``; sorted by
    ``customer_id``.
    """
    return segments_from_totals(_per_customer(orders, order_items), orders, customers)


def segments_from_totals(
    totals: nw.LazyFrame[Any], orders: nw.LazyFrame[Any], customers: nw.LazyFrame[Any]
) -> nw.LazyFrame[Any]:
    """:func:`customer_segments` projected from per-customer totals (``customer_id,
    total_spend`` (rounded), ``orders, last_order_ts``, such as
    :func:`customer_lifetime_value`): one row per customer, not per order line.
    ``orders`` is read only for the as-of (its latest ``order_ts``).
    """
    places = current_rows(customers).select("customer_id", "region_id", "city", "state", "country")
    return (
        totals.select("customer_id", "total_spend", "orders", "last_order_ts")
        .join(as_of(orders), how="cross")
        .with_columns(recency_days=whole_days(nw.col("as_of"), nw.col("last_order_ts")))
        .with_columns(
            tier=_bucket(nw.col("total_spend"), TIERS, BASIC, at_least=True),
            recency_bucket=_bucket(nw.col("recency_days"), RECENCY_BUCKETS, LAPSED, at_least=False),
            frequency_bucket=_bucket(
                nw.col("orders"), FREQUENCY_BUCKETS, OCCASIONAL, at_least=True
            ),
        )
        .join(places, on="customer_id", how="left")
        .select(
            "customer_id",
            "total_spend",
            "orders",
            "last_order_ts",
            "recency_days",
            "tier",
            "recency_bucket",
            "frequency_bucket",
            "region_id",
            "city",
            "state",
            "country",
        )
        .sort("customer_id")
    )


def customer_lifetime_value(
    orders: nw.LazyFrame[Any], order_items: nw.LazyFrame[Any]
) -> nw.LazyFrame[Any]:
    """What is each customer worth so far, and what are they likely worth over three years?

    One row per customer with at least one non-cancelled order that has lines.
    ``total_spend`` is their line revenue (cents), ``avg_order_value`` = spend /
    orders, ``lifespan_days`` the whole days from first to last order,
    ``orders_per_month`` = orders / max(1, lifespan_days / 30) (4 places), and
    ``predicted_clv_3y`` = avg_order_value × orders_per_month × 36 (cents), taken
    from the unrounded ratios (so it equals spend / max(1, lifespan months) × 36).

    Columns: ``customer_id, first_order_ts, last_order_ts, orders, total_spend,
    avg_order_value, lifespan_days, orders_per_month, predicted_clv_3y``; sorted by
    ``customer_id``.
    """
    per_customer = _per_customer(orders, order_items).with_columns(
        lifespan_days=whole_days(nw.col("last_order_ts"), nw.col("first_order_ts"))
    )
    months = nw.max_horizontal(nw.lit(1.0), nw.col("lifespan_days") / DAYS_PER_MONTH)
    aov = ratio(nw.col("total_spend"), nw.col("orders"))
    per_month = nw.col("orders") / months
    return per_customer.select(
        "customer_id",
        "first_order_ts",
        "last_order_ts",
        "orders",
        "total_spend",
        avg_order_value=money(aov),
        lifespan_days=nw.col("lifespan_days"),
        orders_per_month=rate(per_month),
        predicted_clv_3y=money(aov * per_month * 36),
    ).sort("customer_id")
