"""The gold star schema on Polars and DuckDB: point-in-time surrogate keys, and revenue
by category that differs between the historical and the current attribute."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import narwhals as nw
import polars as pl

from backends import BACKENDS, Backend
from shoplake.ecommerce import star

D = datetime



def history(key: str, versions: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Silver SCD2 rows: each version is valid until the next one of its key starts."""
    rows: dict[str, list[Any]] = {}
    for i, version in enumerate(versions):
        following = [v for v in versions[i + 1 :] if v[key] == version[key]]
        end = following[0]["valid_from"] if following else None
        full = {**version, "valid_to": end, "is_current": end is None}
        for column, value in full.items():
            rows.setdefault(column, []).append(value)
    return rows


CUSTOMERS = history(
    "customer_id",
    [
        {
            "surrogate_key": 11,
            "customer_id": "C1",
            "city": "Oslo",
            "region_id": "R01",
            "valid_from": D(2024, 1, 1),
        },
        {
            "surrogate_key": 12,
            "customer_id": "C1",
            "city": "Rome",
            "region_id": "R02",
            "valid_from": D(2024, 6, 1),
        },
    ],
)
# P1 is recategorised (Books -> Toys) and repriced on 2024-05-01.
PRODUCTS = history(
    "product_id",
    [
        {
            "surrogate_key": 21,
            "product_id": "P1",
            "category": "Books",
            "price": 10.0,
            "valid_from": D(2024, 1, 1),
        },
        {
            "surrogate_key": 22,
            "product_id": "P1",
            "category": "Toys",
            "price": 12.0,
            "valid_from": D(2024, 5, 1),
        },
        {
            "surrogate_key": 23,
            "product_id": "P2",
            "category": "Books",
            "price": 5.0,
            "valid_from": D(2024, 1, 1),
        },
    ],
)
ORDERS = {
    "order_id": ["O1", "O2", "O3", "O4"],
    "customer_id": ["C1", "C1", "C1", "C1"],
    "order_ts": [D(2024, 3, 1, 9), D(2024, 7, 1, 9), D(2023, 12, 24, 9), D(2024, 7, 2, 9)],
    "status": ["delivered", "delivered", "delivered", "cancelled"],
}
ITEMS = {
    "order_id": ["O1", "O2", "O3", "O4"],
    "line_number": [1, 1, 1, 1],
    "product_id": ["P1", "P1", "P2", "P1"],
    "quantity": [1, 1, 1, 1],
    "line_amount": [10.0, 12.0, 5.0, 12.0],
}


def dims(backend: Backend) -> tuple[nw.LazyFrame, nw.LazyFrame]:
    customers = star.dim_customer(lazy_dim(backend, CUSTOMERS, star.CUSTOMER_ATTRIBUTES))
    products = star.dim_product(lazy_dim(backend, PRODUCTS, star.PRODUCT_ATTRIBUTES))
    return customers, products


def lazy_dim(
    backend: Backend, rows: dict[str, list[Any]], attributes: tuple[str, ...]
) -> nw.LazyFrame:
    n = len(rows["valid_from"])
    filled = {**{a: [None] * n for a in attributes}, **rows}
    frame = pl.DataFrame(filled).with_columns(
        pl.col(a).cast(pl.String) for a in attributes if pl.DataFrame(filled)[a].dtype == pl.Null
    )
    return backend.lazy(frame)  # type: ignore[no-any-return]


def test_each_sale_carries_the_versions_valid_at_the_order_time(backend: Backend) -> None:
    customers, products = dims(backend)
    facts = star.fact_sales(
        backend.lazy(ORDERS), backend.lazy(ITEMS), customers, products
    ).collect()
    assert facts.select("order_id", "customer_sk", "product_sk", "date_key").rows() == [
        ("O1", 11, 21, 20240301),
        ("O2", 12, 22, 20240701),
        # Placed before the customer's first recorded version: that version covers it.
        ("O3", 11, 23, 20231224),
    ]


def test_revenue_by_category_differs_between_historical_and_current(backend: Backend) -> None:
    customers, products = dims(backend)
    facts = star.fact_sales(backend.lazy(ORDERS), backend.lazy(ITEMS), customers, products)
    historical = star.revenue_by_category(facts, products, historical=True).collect().rows()
    current = star.revenue_by_category(facts, products, historical=False).collect().rows()
    # O1 sold P1 while it was a book; today P1 is a toy.
    assert historical == [("Books", 15.0), ("Toys", 12.0)]
    assert current == [("Books", 5.0), ("Toys", 22.0)]


def test_dim_date_covers_every_day_from_the_first_to_the_last_order(backend: Backend) -> None:
    days = star.dim_date(backend.lazy(ORDERS)).collect()
    assert len(days) == 192  # 2023-12-24 .. 2024-07-02
    rows = days.select("date_key", "quarter", "weekday", "is_weekend").rows()
    assert rows[0] == (20231224, 4, 7, True)
    assert rows[-1] == (20240702, 3, 2, False)
    assert (20240229, 1, 4, False) in rows  # a leap day
    assert days.get_column("date_key").is_unique().all()


def test_polars_and_duckdb_agree() -> None:
    results = {}
    for backend in BACKENDS:
        customers, products = dims(backend)
        facts = star.fact_sales(backend.lazy(ORDERS), backend.lazy(ITEMS), customers, products)
        results[backend.name] = facts.collect().rows()
    assert results["polars"] == results["duckdb"]
