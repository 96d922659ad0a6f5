"""The gold marts on hand-made silver data, on Polars and on DuckDB.

The data set (three months, July to September 2024; the as-of is the last order,
2024-09-30 20:00):

- C000001 spends exactly 1000.00 over 10 orders (VIP, frequent), last order at the
  as-of; returns order O6 twice (the second flagged as fraud) and O2 once.
- C000002 spends exactly 500.00 over 5 orders (Premium, regular), last order
  30 days 23 hours before the as-of (active).
- C000003 spends exactly 200.00 in one order 31 days before (Standard, warm).
- C000004 spends 199.99 in one order exactly 90 days before (Basic, warm); one return.
- C000005 spends 499.99 over 4 orders 91 days before (Standard, lapsed), plus a
  cancelled order; 3 returns on 2 of the 4 orders (an abnormal return rate at
  exactly 0.5); one return lacks its customer_id.
- C000006 has only a cancelled order.

Every expected number below is worked out by hand from these rows.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest

from backends import BACKENDS, Backend
from shoplake.ecommerce import marts
from shoplake.ecommerce.marts.common import money, rate

AS_OF = datetime(2024, 9, 30, 20, 0)


def _with_lineage(rows: dict[str, list[Any]], name: str) -> dict[str, list[Any]]:
    """Add the bronze lineage columns silver carries, which the marts must ignore."""
    n = len(next(iter(rows.values())))
    return {
        **rows,
        "_source": [f"{name}/{name}-00001.csv:{i + 2}" for i in range(n)],
        "_batch_id": ["batch-1"] * n,
    }


CUSTOMERS = _with_lineage(
    {
        "customer_id": [f"C00000{i}" for i in range(1, 7)],
        "first_name": ["Ada", "Ben", "Cleo", "Dan", "Eve", "Fay"],
        "last_name": ["A", "B", "C", "D", "E", "F"],
        "email": ["ada@example.com", None, "cleo@example.com", None, "eve@example.com", None],
        "phone": [None] * 6,
        "city": ["Austin", "Boston", "Chicago", "Denver", "El Paso", "Fresno"],
        "state": ["TX", "MA", "IL", "CO", "TX", "CA"],
        "country": ["US"] * 6,
        "region_id": ["R01", "R02", "R03", "R04", "R01", "R05"],
        "signup_date": [date(2024, 1, i) for i in range(1, 7)],
        "updated_at": [datetime(2024, 1, 1)] * 6,
    },
    "customers",
)

PRODUCTS = _with_lineage(
    {
        "product_id": [f"P0000{i}" for i in range(1, 8)],
        "name": ["Laptop", "Buds", "Pan", "Shirt", "Lamp", "Yoga Mat", "Tent"],
        "category": [
            "Electronics",
            "Electronics",
            "Home & Kitchen",
            "Fashion",
            "Home & Kitchen",
            "Sports & Outdoors",
            "Sports & Outdoors",
        ],
        "brand": ["Acme", "Sonic", "Cook", "Wear", "Glow", "Flex", "Flex"],
        "price": [800.0, 100.0, 50.0, 20.0, 25.0, 25.0, 200.0],
        "cost": [250.0, 40.0, 20.0, 8.0, 10.0, 10.0, 120.0],
        "active": [True] * 7,
        "updated_at": [datetime(2024, 1, 1)] * 7,
    },
    "products",
)

# order number, customer, timestamp, status
_ORDERS = [
    (1, 1, datetime(2024, 7, 5, 10, 0), "delivered"),
    (2, 1, datetime(2024, 7, 12, 14, 30), "delivered"),
    (3, 1, datetime(2024, 7, 20, 9, 15), "delivered"),
    (4, 1, datetime(2024, 8, 3, 11, 0), "delivered"),
    (5, 1, datetime(2024, 8, 15, 16, 45), "delivered"),
    (6, 1, datetime(2024, 8, 28, 8, 0), "returned"),
    (7, 1, datetime(2024, 9, 2, 12, 0), "delivered"),
    (8, 1, datetime(2024, 9, 10, 13, 0), "shipped"),
    (9, 1, datetime(2024, 9, 18, 19, 0), "processing"),
    (10, 1, AS_OF, "pending"),
    (11, 2, datetime(2024, 7, 8, 10, 0), "delivered"),
    (12, 2, datetime(2024, 7, 29, 9, 30), "delivered"),
    (13, 2, datetime(2024, 8, 5, 9, 0), "delivered"),
    (14, 2, datetime(2024, 8, 20, 15, 0), "delivered"),
    (15, 2, datetime(2024, 8, 30, 21, 0), "shipped"),
    (16, 3, datetime(2024, 8, 30, 20, 0), "delivered"),
    (17, 4, datetime(2024, 7, 2, 20, 0), "delivered"),
    (18, 5, datetime(2024, 7, 1, 8, 0), "returned"),
    (19, 5, datetime(2024, 7, 1, 9, 30), "returned"),
    (20, 5, datetime(2024, 7, 1, 12, 0), "delivered"),
    (21, 5, datetime(2024, 7, 1, 20, 0), "delivered"),
    (22, 5, datetime(2024, 7, 1, 21, 0), "cancelled"),
    (23, 6, datetime(2024, 9, 25, 10, 0), "cancelled"),
]

# order number, line, product number, quantity, unit price, discount, line amount
_LINES = [
    (1, 1, 2, 1, 100.0, 0.0, 100.0),
    (2, 1, 4, 5, 20.0, 0.0, 100.0),
    (3, 1, 2, 1, 100.0, 0.0, 100.0),
    (4, 1, 2, 1, 100.0, 0.0, 100.0),
    (5, 1, 4, 5, 20.0, 0.0, 100.0),
    (6, 1, 2, 1, 100.0, 0.0, 100.0),
    (7, 1, 2, 1, 100.0, 0.0, 100.0),
    (8, 1, 2, 1, 100.0, 0.0, 100.0),
    (9, 1, 4, 5, 20.0, 0.0, 100.0),
    (10, 1, 2, 1, 100.0, 0.0, 100.0),
    (11, 1, 3, 2, 50.0, 0.0, 100.0),
    (12, 1, 3, 2, 50.0, 0.0, 100.0),
    (13, 1, 5, 4, 25.0, 0.0, 100.0),
    (14, 1, 3, 2, 50.0, 0.0, 100.0),
    (15, 1, 5, 4, 25.0, 0.0, 100.0),
    (16, 1, 2, 1, 100.0, 0.0, 100.0),
    (16, 2, 4, 5, 20.0, 0.0, 100.0),
    (17, 1, 4, 1, 19.99, 0.0, 19.99),
    (17, 2, 2, 2, 100.0, 0.1, 180.0),
    (18, 1, 4, 1, 20.0, 0.0, 20.0),
    (18, 2, 6, 1, 25.0, 0.0, 25.0),
    (19, 1, 5, 4, 25.0, 0.0, 100.0),
    (20, 1, 2, 1, 100.0, 0.0, 100.0),
    (21, 1, 1, 1, 254.99, 0.0, 254.99),
    (22, 1, 1, 1, 800.0, 0.0, 800.0),
    (23, 1, 2, 1, 100.0, 0.0, 100.0),
]

# return number, order number, product number, customer number (None: missing), day, fraud
_RETURNS = [
    (1, 6, 2, 1, datetime(2024, 9, 1, 10, 0), False),
    (2, 2, 4, 1, datetime(2024, 7, 20, 12, 0), False),
    (3, 6, 2, 1, datetime(2024, 9, 5, 10, 0), True),
    (4, 18, 4, 5, datetime(2024, 7, 10, 9, 0), False),
    (5, 18, 6, 5, datetime(2024, 7, 10, 9, 5), False),
    (6, 19, 5, None, datetime(2024, 7, 11, 10, 0), False),
    (7, 17, 4, 4, datetime(2024, 7, 15, 11, 0), False),
]


def _order(n: int) -> str:
    return f"O{n:08d}"


def _customer(n: int) -> str:
    return f"C{n:06d}"


def _product(n: int) -> str:
    return f"P{n:05d}"


ORDERS = _with_lineage(
    {
        "order_id": [_order(o) for o, *_ in _ORDERS],
        "customer_id": [_customer(c) for _, c, *_ in _ORDERS],
        "order_ts": [ts for _, _, ts, _ in _ORDERS],
        "status": [s for *_, s in _ORDERS],
        "channel": ["web"] * len(_ORDERS),
        "payment_method": ["card"] * len(_ORDERS),
        "total_amount": [sum(line[6] for line in _LINES if line[0] == o) for o, *_ in _ORDERS],
        "currency": ["USD"] * len(_ORDERS),
        "updated_at": [ts for _, _, ts, _ in _ORDERS],
    },
    "orders",
)

ORDER_ITEMS = _with_lineage(
    {
        "order_id": [_order(line[0]) for line in _LINES],
        "product_id": [_product(line[2]) for line in _LINES],
        "line_number": [line[1] for line in _LINES],
        "quantity": [line[3] for line in _LINES],
        "unit_price": [line[4] for line in _LINES],
        "discount": [line[5] for line in _LINES],
        "line_amount": [line[6] for line in _LINES],
    },
    "order_items",
)

RETURNS = _with_lineage(
    {
        "return_id": [f"RT{r:07d}" for r, *_ in _RETURNS],
        "order_id": [_order(o) for _, o, *_ in _RETURNS],
        "product_id": [_product(p) for _, _, p, *_ in _RETURNS],
        "customer_id": [None if c is None else _customer(c) for _, _, _, c, *_ in _RETURNS],
        "return_ts": [ts for *_, ts, _ in _RETURNS],
        "reason": ["defective"] * len(_RETURNS),
        "refund_amount": [
            next(line[6] for line in _LINES if line[0] == o and line[2] == p)
            for _, o, p, *_ in _RETURNS
        ],
        "is_suspected_fraud": [fraud for *_, fraud in _RETURNS],
    },
    "returns",
)

TABLES = {
    "customers": CUSTOMERS,
    "products": PRODUCTS,
    "orders": ORDERS,
    "order_items": ORDER_ITEMS,
    "returns": RETURNS,
}

# mart name -> the silver tables it takes, in order
MARTS: dict[str, tuple[str, ...]] = {
    "monthly_revenue": ("orders", "order_items"),
    "category_sales": ("orders", "order_items", "products"),
    "customer_segments": ("orders", "order_items", "customers"),
    "customer_lifetime_value": ("orders", "order_items"),
    "product_performance": ("orders", "order_items", "products", "returns"),
    "seasonal_trends": ("orders", "order_items"),
    "executive_kpis": ("orders", "order_items", "returns"),
    "fraud_alerts": ("returns", "orders"),
}

Lazy = Callable[[dict[str, list[Any]] | pl.DataFrame], nw.LazyFrame]


@pytest.fixture
def lazy(backend: Backend) -> Lazy:
    """Turns a dict of columns into a narwhals LazyFrame on the parametrized backend."""
    return backend.lazy


def _run(mart: str, make: Lazy, tables: Mapping[str, Any] = TABLES) -> nw.LazyFrame:
    function = getattr(marts, mart)
    return function(*(make(tables[name]) for name in MARTS[mart]))


def _rows(frame: nw.LazyFrame) -> list[dict[str, Any]]:
    """The collected rows, in the mart's own order (every mart sorts by its key)."""
    return frame.collect().rows(named=True)


# --- shared helpers -------------------------------------------------------------------


def test_rounding_is_half_away_from_zero_on_every_backend(lazy: Lazy) -> None:
    frame = lazy({"x": [0.125, -0.125, 2.675, 1.005, 119.998, 0.33335, None]})
    rows = _rows(frame.select(m=money(nw.col("x")), r=rate(nw.col("x"))))
    # 0.125 is an exact half (Polars' own round gives 0.12, DuckDB's 0.13). The digit is
    # picked from x * 100 in float arithmetic, the same on every backend: 2.675 * 100 is
    # 267.5 (up), 1.005 * 100 is 100.49999999999999 (down).
    assert [row["m"] for row in rows] == [0.13, -0.13, 2.68, 1.0, 120.0, 0.33, None]
    assert [row["r"] for row in rows][:2] == [0.125, -0.125]


def test_marts_import_nothing_but_narwhals_and_the_standard_library() -> None:
    folder = Path(marts.__file__).parent
    allowed = {"narwhals", "shoplake", *sys.stdlib_module_names}
    for module in folder.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{module.name} imports {name}"


# --- the marts ------------------------------------------------------------------------


def test_monthly_revenue(lazy: Lazy) -> None:
    rows = _rows(_run("monthly_revenue", lazy))
    assert rows == [
        {
            "month": date(2024, 7, 1),
            "revenue": 1199.98,
            "orders": 10,
            "customers": 4,
            "avg_order_value": 120.0,  # 119.998
            "mom_growth": None,
        },
        {
            "month": date(2024, 8, 1),
            "revenue": 800.0,
            "orders": 7,
            "customers": 3,
            "avg_order_value": 114.29,
            "mom_growth": -0.3333,  # -399.98 / 1199.98
        },
        {
            "month": date(2024, 9, 1),
            "revenue": 400.0,
            "orders": 4,  # the cancelled O23 does not count
            "customers": 1,
            "avg_order_value": 100.0,
            "mom_growth": -0.5,
        },
    ]


def test_monthly_growth_compares_with_the_previous_calendar_month(lazy: Lazy) -> None:
    keep = [i for i, ts in enumerate(ORDERS["order_ts"]) if ts.month != 8]
    orders = {column: [values[i] for i in keep] for column, values in ORDERS.items()}
    rows = _rows(marts.monthly_revenue(lazy(orders), lazy(ORDER_ITEMS)))
    assert [(row["month"].month, row["mom_growth"]) for row in rows] == [(7, None), (9, None)]


def test_category_sales(lazy: Lazy) -> None:
    rows = _rows(_run("category_sales", lazy))
    got = [(r["month"].month, r["category"], *list(r.values())[2:]) for r in rows]
    assert got == [
        # month, category, revenue, units, cost, margin, margin_pct
        (7, "Electronics", 734.99, 6, 450.0, 284.99, 0.3877),
        (7, "Fashion", 139.99, 7, 56.0, 83.99, 0.6),
        (7, "Home & Kitchen", 300.0, 8, 120.0, 180.0, 0.6),
        (7, "Sports & Outdoors", 25.0, 1, 10.0, 15.0, 0.6),
        (8, "Electronics", 300.0, 3, 120.0, 180.0, 0.6),
        (8, "Fashion", 200.0, 10, 80.0, 120.0, 0.6),
        (8, "Home & Kitchen", 300.0, 10, 120.0, 180.0, 0.6),
        (9, "Electronics", 300.0, 3, 120.0, 180.0, 0.6),
        (9, "Fashion", 100.0, 5, 40.0, 60.0, 0.6),
    ]
    assert list(rows[0]) == [
        "month",
        "category",
        "revenue",
        "units",
        "cost",
        "margin",
        "margin_pct",
    ]


def test_customer_segments(lazy: Lazy) -> None:
    rows = _rows(_run("customer_segments", lazy))
    got = {
        r["customer_id"]: (
            r["total_spend"],
            r["orders"],
            r["last_order_ts"],
            r["recency_days"],
            r["tier"],
            r["recency_bucket"],
            r["frequency_bucket"],
        )
        for r in rows
    }
    assert got == {
        "C000001": (1000.0, 10, AS_OF, 0, "VIP", "active", "frequent"),
        "C000002": (500.0, 5, datetime(2024, 8, 30, 21), 30, "Premium", "active", "regular"),
        "C000003": (200.0, 1, datetime(2024, 8, 30, 20), 31, "Standard", "warm", "occasional"),
        "C000004": (199.99, 1, datetime(2024, 7, 2, 20), 90, "Basic", "warm", "occasional"),
        # the cancelled O22 (21:00) is neither spend nor the last order
        "C000005": (499.99, 4, datetime(2024, 7, 1, 20), 91, "Standard", "lapsed", "occasional"),
    }
    assert [r["customer_id"] for r in rows] == sorted(got)  # C000006 only cancelled
    first = rows[0]
    assert (first["region_id"], first["city"], first["state"], first["country"]) == (
        "R01",
        "Austin",
        "TX",
        "US",
    )
    assert list(first) == [
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
    ]


def test_customer_lifetime_value(lazy: Lazy) -> None:
    rows = _rows(_run("customer_lifetime_value", lazy))
    assert rows[0] == {
        "customer_id": "C000001",
        "first_order_ts": datetime(2024, 7, 5, 10),
        "last_order_ts": AS_OF,
        "orders": 10,
        "total_spend": 1000.0,
        "avg_order_value": 100.0,
        "lifespan_days": 87,  # 87 days 10 hours
        "orders_per_month": 3.4483,  # 10 / (87 / 30)
        "predicted_clv_3y": 12413.79,  # 100 × 3.448275… × 36
    }
    got = {
        r["customer_id"]: (
            r["orders"],
            r["avg_order_value"],
            r["lifespan_days"],
            r["orders_per_month"],
            r["predicted_clv_3y"],
        )
        for r in rows[1:]
    }
    assert got == {
        "C000002": (5, 100.0, 53, 2.8302, 10188.68),  # 5 / (53 / 30)
        "C000003": (1, 200.0, 0, 1.0, 7200.0),  # a lifespan under a month counts as one
        "C000004": (1, 199.99, 0, 1.0, 7199.64),
        "C000005": (4, 125.0, 0, 4.0, 17999.64),  # 499.99 / 4 = 124.9975
    }


def test_product_performance(lazy: Lazy) -> None:
    rows = _rows(_run("product_performance", lazy))
    got = [tuple(r.values()) for r in rows]
    assert got == [
        # id, name, category, brand, units, revenue, cost, margin, margin_pct,
        # returned_units, return_rate, rank_in_category
        ("P00001", "Laptop", "Electronics", "Acme", 1, 254.99, 250.0, 4.99, 0.0196, 0, 0.0, 2),
        ("P00002", "Buds", "Electronics", "Sonic", 11, 1080.0, 440.0, 640.0, 0.5926, 2, 0.1818, 1),
        # P00003 and P00005 tie at 300.00: the smaller id ranks first
        ("P00003", "Pan", "Home & Kitchen", "Cook", 6, 300.0, 120.0, 180.0, 0.6, 0, 0.0, 1),
        ("P00004", "Shirt", "Fashion", "Wear", 22, 439.99, 176.0, 263.99, 0.6, 3, 0.1364, 1),
        ("P00005", "Lamp", "Home & Kitchen", "Glow", 12, 300.0, 120.0, 180.0, 0.6, 1, 0.0833, 2),
        ("P00006", "Yoga Mat", "Sports & Outdoors", "Flex", 1, 25.0, 10.0, 15.0, 0.6, 1, 1.0, 1),
    ]  # P00007 never sold
    assert list(rows[0]) == [
        "product_id",
        "name",
        "category",
        "brand",
        "units",
        "revenue",
        "cost",
        "margin",
        "margin_pct",
        "returned_units",
        "return_rate",
        "rank_in_category",
    ]


def test_product_performance_uses_the_current_version_of_a_product(lazy: Lazy) -> None:
    history = {column: [*values, values[1]] for column, values in PRODUCTS.items()}
    history["cost"][-1] = 99.0  # an old version of P00002 with another cost
    history["category"][-1] = "Fashion"
    history["is_current"] = [True] * len(PRODUCTS["product_id"]) + [False]
    tables = {**TABLES, "products": history}
    assert _rows(_run("product_performance", lazy, tables)) == _rows(
        _run("product_performance", lazy)
    )


def test_seasonal_trends(lazy: Lazy) -> None:
    rows = _rows(_run("seasonal_trends", lazy))
    assert len(rows) == 20  # 21 sold orders, two of them in one cell
    assert sum(r["orders"] for r in rows) == 21
    assert round(sum(r["revenue"] for r in rows), 2) == 2399.98
    assert sum(r["units"] for r in rows) == 53
    cells = {tuple(list(r.values())[:5]): tuple(list(r.values())[5:]) for r in rows}
    # Monday 2024-07-01 09:30 (O19) and Monday 2024-07-29 09:30 (O12)
    assert cells[(2024, 3, 7, 1, 9)] == (2, 200.0, 6)
    # Tuesday 2024-07-02 20:00 (O17)
    assert cells[(2024, 3, 7, 2, 20)] == (1, 199.99, 3)
    # Friday 2024-08-30 20:00 (O16), two lines
    assert cells[(2024, 3, 8, 5, 20)] == (1, 200.0, 6)
    # Monday 2024-09-30 20:00 (O10)
    assert cells[(2024, 3, 9, 1, 20)] == (1, 100.0, 1)
    assert list(rows[0]) == [
        "year",
        "quarter",
        "month_of_year",
        "weekday",
        "hour",
        "orders",
        "revenue",
        "units",
    ]
    assert rows == sorted(rows, key=lambda r: tuple(list(r.values())[:5]))


def test_executive_kpis(lazy: Lazy) -> None:
    rows = _rows(_run("executive_kpis", lazy))
    assert rows == [
        {
            "scope": "current_month",  # September: O7–O10 sold, O23 cancelled
            "revenue": 400.0,
            "orders": 4,
            "customers": 1,
            "avg_order_value": 100.0,
            "completion_rate": 0.2,  # O7 delivered, of 5
            "cancellation_rate": 0.2,
            "return_rate": 0.0,  # O6's returns belong to August
            "on_time_delivery_rate": None,
            "as_of": AS_OF,
        },
        {
            "scope": "overall",
            "revenue": 2399.98,
            "orders": 21,
            "customers": 5,
            "avg_order_value": 114.28,  # 114.2847…
            "completion_rate": 0.6087,  # 14 delivered of 23
            "cancellation_rate": 0.087,  # 2 of 23
            "return_rate": 0.2381,  # O2, O6, O17, O18, O19 of 21
            "on_time_delivery_rate": None,
            "as_of": AS_OF,
        },
    ]


def test_executive_kpis_schema(lazy: Lazy) -> None:
    schema = _run("executive_kpis", lazy).collect_schema()
    assert schema["on_time_delivery_rate"] == nw.Float64
    assert schema["as_of"] == nw.Datetime("us")


def test_fraud_alerts(lazy: Lazy) -> None:
    rows = _rows(_run("fraud_alerts", lazy))
    assert rows == [
        {
            "alert_type": "abnormal_return_rate",
            "customer_id": "C000005",  # RT6 has no customer_id: it is O19's customer's
            "order_id": None,
            "return_id": None,
            "returns": 3,
            "return_rate": 0.5,  # O18 and O19 of 4 orders; the cancelled O22 is not counted
            "detail": "Customer C000005 filed 3 returns on 2 of 4 orders.",
            "severity": "medium",
        },
        {
            "alert_type": "duplicate_return",
            "customer_id": "C000001",  # 3 returns but only 2 of 10 orders: no rate alert
            "order_id": "O00000006",
            "return_id": "RT0000003",
            "returns": 3,
            "return_rate": 0.2,
            "detail": (
                "Return RT0000003 repeats an earlier return of product P00002 "
                "on order O00000006 by customer C000001."
            ),
            "severity": "high",
        },
    ]


def test_marts_run_on_empty_tables(lazy: Lazy) -> None:
    empty = {name: pl.DataFrame(rows).clear() for name, rows in TABLES.items()}
    for mart in MARTS:
        full = _run(mart, lazy).collect_schema()
        frame = _run(mart, lazy, empty)
        assert _rows(frame) == [], mart
        assert frame.collect_schema() == full, mart


# --- the backends agree -----------------------------------------------------------------


@pytest.mark.parametrize("mart", sorted(MARTS))
def test_polars_and_duckdb_agree(mart: str) -> None:
    results = {backend.name: _run(mart, backend.lazy) for backend in BACKENDS}
    schemas = {backend: frame.collect_schema() for backend, frame in results.items()}
    assert schemas["polars"] == schemas["duckdb"]
    collected = {backend: frame.collect().rows(named=True) for backend, frame in results.items()}
    assert collected["polars"] == collected["duckdb"]
    assert collected["polars"]  # not vacuous
