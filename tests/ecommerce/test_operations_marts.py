"""inventory_health, shipping_performance and the on-time KPI, on Polars and DuckDB."""

from __future__ import annotations

from datetime import date, datetime

from backends import Backend
from shoplake.ecommerce import marts

T = datetime

ORDERS = {
    "order_id": ["O1", "O2", "O3", "O4"],
    "customer_id": ["C1", "C1", "C2", "C2"],
    "order_ts": [T(2026, 9, 1), T(2026, 10, 10), T(2026, 10, 20), T(2026, 10, 30)],
    "status": ["delivered", "delivered", "cancelled", "delivered"],
}
ITEMS = {
    "order_id": ["O1", "O2", "O3", "O4"],
    "line_number": [1, 1, 1, 1],
    "product_id": ["P1", "P1", "P2", "P2"],
    "quantity": [5, 30, 100, 6],
    "line_amount": [50.0, 300.0, 1000.0, 60.0],
}
INVENTORY = {
    "snapshot_date": [
        date(2026, 10, 1),
        date(2026, 10, 31),
        date(2026, 10, 31),
        date(2026, 10, 31),
    ],
    "product_id": ["P1", "P1", "P1", "P2"],
    "warehouse": ["east", "east", "west", "east"],
    "quantity_on_hand": [999, 20, 40, 300],
    "reorder_point": [10, 10, 10, 20],
}
SHIPMENTS = {
    "shipment_id": ["S1", "S2", "S3", "S4"],
    "order_id": ["O1", "O2", "O4", "O9"],
    "carrier": ["ups", "ups", "dhl", "dhl"],
    "shipped_at": [T(2026, 9, 2), T(2026, 10, 11), T(2026, 10, 30, 12), T(2026, 10, 1)],
    "delivered_at": [T(2026, 9, 4), T(2026, 10, 20), None, T(2026, 10, 3)],
    "promised_date": [date(2026, 9, 7), date(2026, 10, 16), date(2026, 11, 4), date(2026, 10, 6)],
}
RETURNS = {"order_id": ["O9"], "return_id": ["RT1"]}



def test_inventory_health(backend: Backend) -> None:
    frame = marts.inventory_health(
        backend.lazy(INVENTORY), backend.lazy(ORDERS), backend.lazy(ITEMS)
    )
    assert frame.collect().rows(named=True) == [
        {  # latest snapshot only, both warehouses; 30 units in the 30 days to Oct 30
            "product_id": "P1",
            "snapshot_date": date(2026, 10, 31),
            "on_hand": 60,
            "reorder_point": 20,
            "units_30d": 30,
            "daily_sales": 1.0,
            "days_of_cover": 60.0,
            "reorder": False,
        },
        {  # the cancelled order does not count as a sale
            "product_id": "P2",
            "snapshot_date": date(2026, 10, 31),
            "on_hand": 300,
            "reorder_point": 20,
            "units_30d": 6,
            "daily_sales": 0.2,
            "days_of_cover": 1500.0,
            "reorder": False,
        },
    ]


def test_inventory_health_flags_low_cover(backend: Backend) -> None:
    low = {**INVENTORY, "quantity_on_hand": [999, 5, 5, 300]}
    rows = (
        marts.inventory_health(backend.lazy(low), backend.lazy(ORDERS), backend.lazy(ITEMS))
        .collect()
        .rows(named=True)
    )
    assert [(r["product_id"], r["days_of_cover"], r["reorder"]) for r in rows] == [
        ("P1", 10.0, True),
        ("P2", 1500.0, False),
    ]


def test_shipping_performance(backend: Backend) -> None:
    rows = marts.shipping_performance(backend.lazy(SHIPMENTS)).collect().rows(named=True)
    assert rows == [
        {  # S4 on time (Oct 3 ≤ Oct 6); S3 in transit
            "carrier": "dhl",
            "shipments": 2,
            "delivered": 1,
            "avg_delivery_days": 2.0,
            "late_share": 0.0,
        },
        {  # S2 delivered Oct 20, promised Oct 16: late
            "carrier": "ups",
            "shipments": 2,
            "delivered": 2,
            "avg_delivery_days": 5.5,
            "late_share": 0.5,
        },
    ]


def test_on_time_delivery_rate_comes_from_shipments(backend: Backend) -> None:
    frame = marts.executive_kpis(
        backend.lazy(ORDERS),
        backend.lazy(ITEMS),
        backend.lazy(RETURNS),
        backend.lazy(SHIPMENTS),
    )
    rates = {r["scope"]: r["on_time_delivery_rate"] for r in frame.collect().rows(named=True)}
    # Overall: O1 on time, O2 late (O9 is no known order, O4 not delivered yet).
    assert rates == {"current_month": 0.0, "overall": 0.5}
