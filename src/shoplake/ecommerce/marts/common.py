"""Definitions every gold mart shares: sale lines, the as-of, rounding, ratios.

Only narwhals is used, so the marts run unchanged on every narwhals backend
(Polars and DuckDB are tested). A few rules keep the backends in agreement:

- integer results are cast to ``Int64`` (DuckDB sums integers to ``Int128``,
  Polars counts as ``UInt32``);
- rounding is done here, half away from zero, with ``floor``/``ceil``, because
  the backends' own ``round`` disagree on exact halves (Polars rounds half to
  even, DuckDB away from zero);
- ratios go through :func:`ratio`, which is null when the denominator is zero
  instead of the backend's ``inf``/``NaN``;
- "now" is never the wall clock but the latest ``order_ts`` in the data
  (:func:`as_of`).
"""

from __future__ import annotations

from typing import Any

import narwhals as nw

MONEY_DECIMALS = 2
RATE_DECIMALS = 4
SECONDS_PER_DAY = 86_400
DAYS_PER_MONTH = 30
"""Length of a month, in days, where a duration is turned into months."""

CANCELLED = "cancelled"
DELIVERED = "delivered"


def round_half_away(expr: nw.Expr, decimals: int) -> nw.Expr:
    """``expr`` rounded to ``decimals`` places, halves away from zero, on every backend.

    ``floor``/``ceil`` pick the digit (the backends' own ``round`` disagree on exact
    halves). The final native ``round`` only snaps ``n / 10**decimals`` to the nearest
    float: Polars divides by a scalar through its reciprocal, which can land one ulp
    off (``-3333 / 10000`` gives ``-0.33330000000000004``), while DuckDB does not.
    """
    scale = 10**decimals
    scaled = expr * scale
    whole = nw.when(expr >= 0).then((scaled + 0.5).floor()).otherwise((scaled - 0.5).ceil())
    return (whole / scale).round(decimals)


def money(expr: nw.Expr) -> nw.Expr:
    """An amount rounded to cents."""
    return round_half_away(expr, MONEY_DECIMALS)


def rate(expr: nw.Expr) -> nw.Expr:
    """A rate or fraction rounded to four places."""
    return round_half_away(expr, RATE_DECIMALS)


def ratio(numerator: nw.Expr, denominator: nw.Expr) -> nw.Expr:
    """``numerator / denominator`` as a float, null when the denominator is zero or null."""
    return nw.when(denominator > 0).then(numerator / denominator)


def integer(expr: nw.Expr) -> nw.Expr:
    """An integer result with the same dtype (Int64) on every backend."""
    return expr.cast(nw.Int64)


def weekday(expr: nw.Expr) -> nw.Expr:
    """The ISO weekday (1 = Monday ... 7 = Sunday) as Int64. Normalised through ``% 7``
    because narwhals' Spark backend numbers Sunday 0, not 7; the result is the same on
    every backend."""
    return integer((expr.dt.weekday() + 6) % 7 + 1)


def month_start(expr: nw.Expr) -> nw.Expr:
    """The first day of the timestamp's month, as a date."""
    return expr.dt.truncate("1mo").cast(nw.Date)


def epoch_seconds(expr: nw.Expr) -> nw.Expr:
    """Whole seconds from 1970-01-01 to a (naive) timestamp, as Int64, from its calendar
    fields: narwhals' Spark backend has no ``dt.total_seconds`` or ``dt.timestamp``, while
    every backend has these. Silver timestamps carry whole seconds, so differences equal
    the duration's ``total_seconds``. Prefer comparing with ``dt.offset_by`` where only
    an order is needed: it costs nothing extra on Polars."""
    year = integer(expr.dt.year())
    before = year - 1  # leap days up to the end of the year before (477 before 1970)
    leaps = before // 4 - before // 100 + before // 400 - 477
    days = (year - 1970) * 365 + leaps + integer(expr.dt.ordinal_day()) - 1
    clock = (
        integer(expr.dt.hour()) * 3600 + integer(expr.dt.minute()) * 60 + integer(expr.dt.second())
    )
    return days * SECONDS_PER_DAY + clock


def seconds_between(later: nw.Expr, earlier: nw.Expr) -> nw.Expr:
    """Whole seconds from ``earlier`` to ``later`` (negative when ``later`` is earlier)."""
    return epoch_seconds(later) - epoch_seconds(earlier)


def whole_days(later: nw.Expr, earlier: nw.Expr) -> nw.Expr:
    """Whole days elapsed from ``earlier`` to ``later`` (floored), as Int64."""
    return integer(seconds_between(later, earlier) // SECONDS_PER_DAY)


def current_rows(frame: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """The current version of each row of a dimension.

    Silver customers and products keep SCD2 history (an ``is_current`` column);
    marts built on this report by the *current* attribute (today's category or
    city). ``gold.fact_sales`` with ``dim_customer``/``dim_product`` gives the
    attribute as it was at the order time.
    """
    if "is_current" in frame.collect_schema().names():
        return frame.filter(nw.col("is_current").fill_null(value=False))
    return frame


def as_of(orders: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """One row, column ``as_of``: the latest ``order_ts`` of any order (cancelled included)."""
    return orders.select(as_of=nw.col("order_ts").max())


def sale_lines(
    orders: nw.LazyFrame[Any],
    order_items: nw.LazyFrame[Any],
    products: nw.LazyFrame[Any] | None = None,
) -> nw.LazyFrame[Any]:
    """Order lines of orders that are not cancelled: the unit every sales figure counts.

    Columns: ``order_id, customer_id, order_ts, status, line_number, product_id,
    quantity, revenue`` (= ``line_amount``). With ``products`` also ``category``
    and ``cost`` (= ``quantity`` × the current product ``cost``; null for a
    product silver does not know, which the contract rules out) and
    ``margin`` (= revenue − cost).
    """
    sold = orders.filter(nw.col("status") != CANCELLED).select(
        "order_id", "customer_id", "order_ts", "status"
    )
    lines = order_items.select(
        "order_id",
        "line_number",
        "product_id",
        "quantity",
        revenue=nw.col("line_amount"),
    ).join(sold, on="order_id", how="inner")
    lines = lines.select(
        "order_id",
        "customer_id",
        "order_ts",
        "status",
        "line_number",
        "product_id",
        "quantity",
        "revenue",
    )
    if products is None:
        return lines
    catalog = current_rows(products).select("product_id", "category", unit_cost=nw.col("cost"))
    return (
        lines.join(catalog, on="product_id", how="left")
        .with_columns(cost=nw.col("quantity") * nw.col("unit_cost"))
        .with_columns(margin=nw.col("revenue") - nw.col("cost"))
        .drop("unit_cost")
    )


def order_values(lines: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """One row per sold order: ``order_id, customer_id, order_ts, order_value, units``."""
    return lines.group_by("order_id", "customer_id", "order_ts").agg(
        order_value=nw.col("revenue").sum(),
        units=integer(nw.col("quantity").sum()),
    )


def money_margin(revenue: str = "revenue", cost: str = "cost") -> dict[str, nw.Expr]:
    """``margin`` and ``margin_pct`` from already-rounded revenue and cost columns."""
    margin = money(nw.col(revenue) - nw.col(cost))
    return {
        "margin": margin,
        "margin_pct": rate(ratio(nw.col(revenue) - nw.col(cost), nw.col(revenue))),
    }
