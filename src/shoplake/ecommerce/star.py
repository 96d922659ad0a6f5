"""Gold star schema: SCD2 dimensions, a date dimension, and sales at order-line grain
joined to the customer and product *as they were* when the order was placed.

Engine-neutral narwhals code. ``dim_customer`` and ``dim_product`` are the silver SCD2
histories under star-schema names (``customer_sk``, ``product_sk``); ``fact_sales``
carries the surrogate keys of the versions valid at ``order_ts`` (a point-in-time
join), so revenue by category or region is true to history. A key's first version
also covers orders placed before it was recorded (a customer's first row is written
some days after signup), so every sale finds exactly one version.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

import narwhals as nw

from shoplake import Materialized, Partitioned, Pipeline, lazy_like
from shoplake.ecommerce.governance import catalog
from shoplake.ecommerce.incremental import FactMonths
from shoplake.ecommerce.marts.common import integer, month_start, sale_lines, weekday

CUSTOMER_ATTRIBUTES = (
    "first_name",
    "last_name",
    "email",
    "city",
    "state",
    "country",
    "region_id",
    "segment",
)
PRODUCT_ATTRIBUTES = ("name", "category", "brand", "price", "cost", "active")
HISTORY = ("valid_from", "valid_to", "is_current")


def _dimension(
    history: nw.LazyFrame[Any], key: str, surrogate: str, attributes: tuple[str, ...]
) -> nw.LazyFrame[Any]:
    first = nw.col("valid_from") == nw.col("valid_from").min().over(key)
    return history.select(
        nw.col("surrogate_key").alias(surrogate),
        key,
        *attributes,
        *HISTORY,
        first.alias("is_first_version"),
    ).sort(key, "valid_from")


def dim_customer(customers: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """One row per customer version (SCD2): ``customer_sk`` identifies the version,
    ``valid_from``/``valid_to`` its interval (``valid_to`` null while current)."""
    return _dimension(customers, "customer_id", "customer_sk", CUSTOMER_ATTRIBUTES)


def dim_product(products: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """One row per product version (SCD2): ``product_sk`` identifies the version."""
    return _dimension(products, "product_id", "product_sk", PRODUCT_ATTRIBUTES)


def date_key(expr: nw.Expr) -> nw.Expr:
    """A calendar date as the integer yyyymmdd."""
    # Each part widened first: Polars gives the month and day as 8-bit integers.
    year, month, day = (integer(part) for part in (expr.dt.year(), expr.dt.month(), expr.dt.day()))
    return year * 10_000 + month * 100 + day


def dim_date(orders: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """Every calendar day from the first to the last order: ``date_key`` (yyyymmdd),
    ``date``, ``year``, ``quarter``, ``month``, ``day``, ``weekday`` (1 = Monday) and
    ``is_weekend``. On the input's backend."""
    first, last = (
        orders.select(nw.col("order_ts").min().alias("a"), nw.col("order_ts").max().alias("b"))
        .collect()
        .row(0)
    )
    span = [] if first is None else range((last.date() - first.date()).days + 1)
    dates = [first.date() + timedelta(days=d) for d in span]
    # Built eagerly on Polars when the input is Polars: the pyarrow route converts
    # through pandas, whose import alone costs a quarter second per process.
    eager: Literal["polars", "pyarrow"] = (
        "polars" if orders.implementation.is_polars() else "pyarrow"
    )
    calendar = nw.from_dict({"date": dates}, schema={"date": nw.Date()}, backend=eager)
    days = lazy_like(calendar, orders)
    day = nw.col("date")
    return days.select(
        date_key(day).alias("date_key"),
        "date",
        integer(day.dt.year()).alias("year"),
        integer((day.dt.month() + 2) // 3).alias("quarter"),
        integer(day.dt.month()).alias("month"),
        integer(day.dt.day()).alias("day"),
        weekday(day).alias("weekday"),
        (weekday(day) >= 6).alias("is_weekend"),
    ).sort("date_key")


def _as_of(
    lines: nw.LazyFrame[Any], dimension: nw.LazyFrame[Any], key: str, surrogate: str
) -> nw.LazyFrame[Any]:
    """Each line with the surrogate key of ``key``'s version valid at ``order_ts``."""
    versions = dimension.select(
        key,
        surrogate,
        nw.col("valid_from").alias(f"__{surrogate}_from"),
        nw.col("valid_to").alias(f"__{surrogate}_to"),
        nw.col("is_first_version").alias(f"__{surrogate}_first"),
    )
    start, end = nw.col(f"__{surrogate}_from"), nw.col(f"__{surrogate}_to")
    valid = (nw.col(f"__{surrogate}_first") | (start <= nw.col("order_ts"))) & (
        end.is_null() | (nw.col("order_ts") < end)
    )
    matched = lines.join(versions, on=key, how="inner").filter(valid)
    return matched.drop(f"__{surrogate}_from", f"__{surrogate}_to", f"__{surrogate}_first")


def fact_sales(
    orders: nw.LazyFrame[Any],
    order_items: nw.LazyFrame[Any],
    customers: nw.LazyFrame[Any],
    products: nw.LazyFrame[Any],
) -> nw.LazyFrame[Any]:
    """Sales at order-line grain (lines of non-cancelled orders), with the surrogate keys
    of the customer and product versions valid at the order time, and ``date_key``.

    ``customers`` and ``products`` are ``dim_customer`` and ``dim_product``. A line
    whose customer or product has no version is left out (the silver rules rule it
    out). Columns: ``order_id, line_number, order_ts, date_key, month, customer_id,
    customer_sk, product_id, product_sk, quantity, revenue`` (``month``, the first day
    of the order's month, is the partition a batch of new orders recomputes).
    """
    lines = sale_lines(orders, order_items)
    lines = _as_of(lines, customers, "customer_id", "customer_sk")
    lines = _as_of(lines, products, "product_id", "product_sk")
    return lines.select(
        "order_id",
        "line_number",
        "order_ts",
        date_key(nw.col("order_ts")).alias("date_key"),
        month_start(nw.col("order_ts")).alias("month"),
        "customer_id",
        "customer_sk",
        "product_id",
        "product_sk",
        "quantity",
        "revenue",
    ).sort("order_id", "line_number")


def revenue_by_category(
    facts: nw.LazyFrame[Any], products: nw.LazyFrame[Any], *, historical: bool
) -> nw.LazyFrame[Any]:
    """Revenue per product category, by the category at the order time (``historical``)
    or by today's category (the current version of each product)."""
    if historical:
        joined = facts.join(products.select("product_sk", "category"), on="product_sk")
    else:
        current = products.filter(nw.col("is_current")).select("product_id", "category")
        joined = facts.join(current, on="product_id")
    return joined.group_by("category").agg(nw.col("revenue").sum()).sort("category")


def add_star_tables(p: Pipeline) -> None:
    """Add the gold star schema (``dim_customer``, ``dim_product``, ``dim_date``,
    ``fact_sales``) to the e-commerce pipeline."""
    gold = Materialized()

    @p.table(layer="gold", kind=gold, name="dim_customer", **catalog("gold.dim_customer"))
    def _dim_customer(silver_customers: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Customer versions (SCD2) with surrogate key ``customer_sk``: historical."""
        return dim_customer(silver_customers)

    @p.table(layer="gold", kind=gold, name="dim_product", **catalog("gold.dim_product"))
    def _dim_product(silver_products: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Product versions (SCD2) with surrogate key ``product_sk``: historical."""
        return dim_product(silver_products)

    @p.table(layer="gold", kind=gold, name="dim_date", **catalog("gold.dim_date"))
    def _dim_date(silver_orders: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Every calendar day from the first to the last order, keyed by yyyymmdd."""
        return dim_date(silver_orders)

    facts = Partitioned(
        by=["month"], plan=FactMonths(dimensions=("gold_dim_customer", "gold_dim_product"))
    )

    @p.table(layer="gold", kind=facts, name="fact_sales", **catalog("gold.fact_sales"))
    def _fact_sales(
        silver_orders: nw.LazyFrame[Any],
        silver_order_items: nw.LazyFrame[Any],
        gold_dim_customer: nw.LazyFrame[Any],
        gold_dim_product: nw.LazyFrame[Any],
    ) -> nw.LazyFrame[Any]:
        """Order lines with the customer and product versions valid at the order time."""
        return fact_sales(silver_orders, silver_order_items, gold_dim_customer, gold_dim_product)
