"""Partition plans for the gold marts that can be recomputed month by month.

A new batch of orders touches a few calendar months. :class:`OrderMonths` finds
them from the changed rows of orders, order lines and products, and narrows the
inputs to those months' orders and lines, so a mart recomputes only them.

Month-over-month growth reads the previous month: a changed month also changes
the next month's growth, so with ``growth=True`` the next month is recomputed
too, and the month before every recomputed month is kept in the inputs (its
revenue is the base of the growth). Growth is stored, not computed at read time,
so the dashboard and SQL readers see one plain table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

import narwhals as nw

from shoplake import lazy_like
from shoplake.ecommerce.marts.common import integer, month_start

KeyExprs = Callable[[nw.Expr], dict[str, nw.Expr]]


def by_month(ts: nw.Expr) -> dict[str, nw.Expr]:
    """Partition ``month`` (the first day of the order's month), as monthly marts have it."""
    return {"month": month_start(ts)}


def by_year_month(ts: nw.Expr) -> dict[str, nw.Expr]:
    """Partition ``year, month_of_year``, as ``seasonal_trends`` has it."""
    return {"year": integer(ts.dt.year()), "month_of_year": integer(ts.dt.month())}


def _first_days(keys: nw.DataFrame[Any]) -> list[date]:
    """The first day of each key's month, for the two month layouts used here (else [])."""
    names = keys.columns
    if names == ["month"]:
        return [d for d in keys.get_column("month").to_list() if d is not None]
    if sorted(names) == ["month_of_year", "year"]:
        return [
            date(r["year"], r["month_of_year"], 1)
            for r in keys.rows(named=True)
            if r["year"] is not None and r["month_of_year"] is not None
        ]
    return []


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def within_months(frame: nw.LazyFrame[Any], keys: nw.DataFrame[Any]) -> nw.LazyFrame[Any]:
    """``frame`` (orders) filtered to the span of the keys' months by a plain ``order_ts``
    range: a literal predicate the scan can check against Parquet statistics, so row
    groups of other months are skipped. A superset: callers still join on the keys."""
    days = _first_days(keys)
    if not days:
        return frame
    lo, hi = min(days), _next_month(max(days))
    ts = nw.col("order_ts")
    return frame.filter(
        (ts >= datetime(lo.year, lo.month, 1)) & (ts < datetime(hi.year, hi.month, 1))
    )


def within_ids(frame: nw.LazyFrame[Any], ids: nw.DataFrame[Any]) -> nw.LazyFrame[Any]:
    """``frame`` filtered to the ``order_id`` range of ``ids`` (a superset, like
    :func:`within_months`; empty when ``ids`` is)."""
    known = ids.filter(~nw.col("order_id").is_null())
    if len(known) == 0:
        return frame.head(0)
    bounds = known.select(lo=nw.col("order_id").min(), hi=nw.col("order_id").max()).row(0)
    oid = nw.col("order_id")
    return frame.filter((oid >= nw.lit(bounds[0])) & (oid <= nw.lit(bounds[1])))


def _semi_by_ids(frame: nw.LazyFrame[Any], ids: nw.DataFrame[Any]) -> nw.LazyFrame[Any]:
    return within_ids(frame, ids).join(lazy_like(ids, frame), on="order_id", how="semi")


class OrderMonths:
    """The months (by ``order_ts``) of the orders a batch touched.

    A changed order (either image) touches its month; a changed order line touches
    its order's month; a changed product touches the months of every order with a
    line of it (its category and cost are read in the current version). A changed
    row of a ``related`` input (one with an ``order_id``, such as returns or
    shipments) touches its order's month, and that input is narrowed to the kept
    orders too.

    Example::

        Partitioned(by=["month"], plan=OrderMonths(growth=True))
    """

    def __init__(
        self,
        *,
        keys: KeyExprs = by_month,
        orders: str = "silver_orders",
        order_items: str = "silver_order_items",
        products: str | None = None,
        related: tuple[str, ...] = (),
        growth: bool = False,
    ) -> None:
        self.keys = keys
        self.orders = orders
        self.order_items = order_items
        self.products = products
        self.related = related
        self.growth = growth
        self.columns = tuple(keys(nw.col("order_ts")))
        if growth and self.columns != ("month",):
            raise ValueError("growth=True needs the partition key 'month'")

    def _keyed(self, orders: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        return orders.with_columns(**self.keys(nw.col("order_ts")))

    def affected(
        self, changed: Mapping[str, nw.LazyFrame[Any]], inputs: Mapping[str, nw.LazyFrame[Any]]
    ) -> nw.LazyFrame[Any]:
        cols = list(self.columns)
        orders = inputs[self.orders]
        touched_orders: list[nw.LazyFrame[Any]] = []
        parts: list[nw.LazyFrame[Any]] = []
        if self.orders in changed:
            parts.append(self._keyed(changed[self.orders]).select(cols))
        for name in (self.order_items, *self.related):
            if name in changed:
                touched_orders.append(changed[name].select("order_id"))
        if self.products and self.products in changed:
            products = changed[self.products].select("product_id").unique()
            lines = inputs[self.order_items].join(products, on="product_id", how="semi")
            touched_orders.append(lines.select("order_id"))
        for ids in touched_orders:
            unique = ids.unique().collect()
            parts.append(self._keyed(_semi_by_ids(orders, unique)).select(cols))
        if not parts:
            return self._keyed(orders).select(cols).head(0)
        keys = nw.concat(parts, how="vertical").unique()
        if self.growth:
            following = keys.select(month=nw.col("month").dt.offset_by("1mo").cast(nw.Date))
            keys = nw.concat([keys, following], how="vertical").unique()
        return keys

    def restrict(
        self, keys: nw.LazyFrame[Any], inputs: Mapping[str, nw.LazyFrame[Any]]
    ) -> Mapping[str, nw.LazyFrame[Any]]:
        needed = keys
        if self.growth:
            previous = keys.select(month=nw.col("month").dt.offset_by("-1mo").cast(nw.Date))
            needed = nw.concat([keys, previous], how="vertical").unique()
        cols = list(self.columns)
        wanted = needed.unique().collect()
        # Collected once (a few months of orders): the literal bounds below need its ids,
        # and the table function reads it again.
        kept = (
            self._keyed(within_months(inputs[self.orders], wanted))
            .join(lazy_like(wanted, inputs[self.orders]), on=cols, how="semi")
            .drop(*cols)
            .collect()
        )
        ids = kept.select("order_id")
        narrowed = {
            self.orders: lazy_like(kept, inputs[self.orders]),
            self.order_items: _semi_by_ids(inputs[self.order_items], ids),
        }
        for name in self.related:
            narrowed[name] = _semi_by_ids(inputs[name], ids)
        return narrowed


class FactMonths(OrderMonths):
    """:class:`OrderMonths` for a fact table joined point-in-time to SCD2 dimensions.

    New orders and lines touch their months only. A changed dimension version (a late
    change splitting history, a new current version) can move any fact to another
    version, so a change in any of ``dimensions`` (input parameter names) recomputes
    every month.
    """

    def __init__(self, *, dimensions: tuple[str, ...], **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.dimensions = dimensions

    def affected(
        self, changed: Mapping[str, nw.LazyFrame[Any]], inputs: Mapping[str, nw.LazyFrame[Any]]
    ) -> nw.LazyFrame[Any]:
        if any(name in changed for name in self.dimensions):
            return self._keyed(inputs[self.orders]).select(list(self.columns)).unique()
        return super().affected(changed, inputs)


def _changed_orders_customers(
    changed: Mapping[str, nw.LazyFrame[Any]], param: str, orders: nw.LazyFrame[Any]
) -> list[nw.LazyFrame[Any]]:
    """The customers of the changed orders (either image), after an empty frame of the
    right type that keeps the concatenation valid when nothing changed."""
    parts = [orders.select("customer_id").head(0)]
    if param in changed:
        parts.append(changed[param].select("customer_id"))
    return parts


class OrderCustomers:
    """The customers of the orders a batch touched, for marts with one row per customer.

    A changed order (either image: an order moved to another customer touches both)
    touches its customer; a changed order line touches its order's customer. The
    inputs are narrowed to those customers' orders and their lines.

    Example::

        ReplaceRows(by=["customer_id"], plan=OrderCustomers())
    """

    def __init__(
        self, *, orders: str = "silver_orders", order_items: str = "silver_order_items"
    ) -> None:
        self.orders = orders
        self.order_items = order_items

    def affected(
        self, changed: Mapping[str, nw.LazyFrame[Any]], inputs: Mapping[str, nw.LazyFrame[Any]]
    ) -> nw.LazyFrame[Any]:
        orders = inputs[self.orders]
        parts = _changed_orders_customers(changed, self.orders, orders)
        if self.order_items in changed:
            ids = changed[self.order_items].select("order_id").unique().collect()
            parts.append(_semi_by_ids(orders, ids).select("customer_id"))
        return nw.concat(parts, how="vertical").unique()

    def restrict(
        self, keys: nw.LazyFrame[Any], inputs: Mapping[str, nw.LazyFrame[Any]]
    ) -> Mapping[str, nw.LazyFrame[Any]]:
        orders = inputs[self.orders].join(keys, on="customer_id", how="semi")
        lines = inputs[self.order_items].join(orders.select("order_id"), on="order_id", how="semi")
        return {self.orders: orders, self.order_items: lines}


class ReturnCustomers:
    """The customers whose orders or returns a batch touched, for marts with rows per
    customer built from returns (fraud alerts).

    A changed order touches its customer (either image); a changed return touches the
    customer who filed it: its own ``customer_id`` or, when it has none, its order's
    customer. The inputs are narrowed to those customers' orders and to the returns
    counted for them (their own, and the unclaimed returns of their orders).

    Example::

        ReplaceRows(by=["customer_id"], plan=ReturnCustomers())
    """

    def __init__(self, *, orders: str = "silver_orders", returns: str = "silver_returns") -> None:
        self.orders = orders
        self.returns = returns

    def affected(
        self, changed: Mapping[str, nw.LazyFrame[Any]], inputs: Mapping[str, nw.LazyFrame[Any]]
    ) -> nw.LazyFrame[Any]:
        orders = inputs[self.orders]
        parts = _changed_orders_customers(changed, self.orders, orders)
        if self.returns in changed:
            filed = changed[self.returns].select("order_id", "customer_id")
            ids = filed.select("order_id").unique().collect()
            owners = _semi_by_ids(orders, ids).select("order_id", owner=nw.col("customer_id"))
            claimed = filed.join(owners, on="order_id", how="left")
            parts.append(claimed.select(customer_id=nw.coalesce("customer_id", "owner")))
        return nw.concat(parts, how="vertical").unique()

    def restrict(
        self, keys: nw.LazyFrame[Any], inputs: Mapping[str, nw.LazyFrame[Any]]
    ) -> Mapping[str, nw.LazyFrame[Any]]:
        orders = inputs[self.orders].join(keys, on="customer_id", how="semi")
        returns = inputs[self.returns]
        own = returns.join(keys, on="customer_id", how="semi")
        unclaimed = returns.filter(nw.col("customer_id").is_null()).join(
            orders.select("order_id"), on="order_id", how="semi"
        )
        return {self.orders: orders, self.returns: nw.concat([own, unclaimed], how="vertical")}
