"""Who owns each e-commerce table, how it is tagged, and what its columns hold.

Personal data is classified (``name``, ``email``, ``phone``, ``address``) so masking
policies apply to it everywhere; ids, money, dates and codes are not personal data.
City, state and country are kept as coarse location (not PII): the marts report by them.
Tables are declared with ``**catalog("silver.customers")``.
"""

from __future__ import annotations

from typing import Any

from shoplake import Column

_OWNERS = {
    "customers": "customer-data",
    "orders": "sales-engineering",
    "order_items": "sales-engineering",
    "regions": "sales-engineering",
    "order_events": "sales-engineering",
    "products": "merchandising",
    "inventory": "merchandising",
    "shipments": "operations",
    "returns": "risk",
}
_DOMAINS = {
    "customer-data": "customers",
    "sales-engineering": "sales",
    "merchandising": "products",
    "operations": "operations",
    "risk": "risk",
    "analytics": "sales",
}
_GOLD_OWNERS = {
    "fraud_alerts": "risk",
    "inventory_health": "merchandising",
    "shipping_performance": "operations",
    "dim_customer": "customer-data",
}

_PERSON = {
    "first_name": Column("Given name", pii="name"),
    "last_name": Column("Family name", pii="name"),
    "email": Column("E-mail address (invalid ones blanked)", pii="email"),
    "phone": Column("Phone number (invalid ones blanked)", pii="phone"),
}
_SHARED = {
    "customer_id": Column("Customer id (C + 6 digits)"),
    "order_id": Column("Order id (O + 8 digits)"),
    "product_id": Column("Product id (P + 5 digits)"),
    "region_id": Column("Region id (R + 2 digits)"),
    "return_id": Column("Return id"),
    "shipment_id": Column("Shipment id"),
    "city": Column("City (coarse location, not PII)"),
    "state": Column("State or province"),
    "country": Column("Country"),
    "_source": Column("Where the row came from: file and line, or topic/partition/offset"),
    "_batch_id": Column("The ingestion batch that brought the row"),
    "_rescued_data": Column("Unparseable or undeclared fields of the raw record, as JSON"),
    "_ingested_at": Column("When the row was ingested (UTC)"),
}


def _window_of(column: str) -> list[str]:
    """A streaming window's column: its own value, the event type and the event time."""
    return [f"silver.order_events.{c}" for c in (column, "event_type", "event_ts")]


_COLUMNS: dict[str, dict[str, Column]] = {
    "silver.customers": {
        **_PERSON,
        "signup_date": Column("Date the customer signed up"),
        "segment": Column("Marketing segment, lower case"),
        "valid_from": Column("Start of this version (SCD2)"),
        "valid_to": Column("End of this version; null while current (SCD2)"),
        "is_current": Column("True for the customer's current version"),
    },
    "silver.orders": {
        "order_ts": Column("When the order was placed (UTC)"),
        "status": Column("Latest status: placed, shipped, delivered, cancelled, returned"),
        "total_amount": Column("Order total as sent by the shop (money)"),
        "currency": Column("ISO currency code"),
    },
    "silver.order_items": {
        "line_number": Column("Line within the order"),
        "quantity": Column("Units ordered"),
        "unit_price": Column("Price per unit (money)"),
        "discount": Column("Discount share, 0 when absent"),
        "line_amount": Column("quantity × unit_price × (1 − discount), to the cent (money)"),
    },
    "silver.products": {
        "name": Column("Product name (not personal data)"),
        "price": Column("List price (money)"),
        "cost": Column("Unit cost (money)"),
    },
    "silver.returns": {
        "refund_amount": Column("Refunded amount (money)"),
        "is_suspected_fraud": Column("A second filing of the same order line by the customer"),
    },
    "gold.monthly_revenue": {
        "month": Column("First day of the month"),
        # Declared too, for engines whose plans are not probed (Spark).
        "revenue": Column(
            "Sum of the line amounts of the month's non-cancelled orders",
            lineage=[
                "silver.order_items.line_amount",
                "silver.order_items.order_id",
                "silver.orders.order_id",
                "silver.orders.order_ts",
                "silver.orders.status",
            ],
        ),
        "orders": Column("Orders counted in revenue"),
        "avg_order_value": Column("revenue / orders"),
        "mom_growth": Column("Revenue growth over the previous month"),
    },
    "gold.customer_segments": {"tier": Column("VIP, Premium, Standard or Basic by spend")},
    "gold.customer_lifetime_value": {
        "predicted_clv_3y": Column("Average order value × orders per month × 36")
    },
    "gold.dim_customer": {k: v for k, v in _PERSON.items() if k != "phone"},
    "gold.fact_sales": {"revenue": Column("The line's amount (money)")},
    "gold.realtime_sales": {
        "revenue": Column(
            "Line amounts of orders created in the window", lineage=_window_of("line_amount")
        ),
        "units": Column("Units of orders created in the window", lineage=_window_of("quantity")),
        "orders": Column("Orders created in the window", lineage=_window_of("order_id")),
        "events": Column("Distinct events in the window", lineage=_window_of("event_id")),
    },
}


def _bronze_columns(source: str) -> dict[str, Column]:
    """A source's columns as received: the same classes as silver, raw values."""
    silver = {**_SHARED, **_COLUMNS.get(f"silver.{source}", {})}
    return {
        # Silver's caveats ("invalid ones blanked") do not hold for the raw values.
        name: Column(column.description.split(" (")[0] + ", as received", pii=column.pii)
        if not name.startswith("_")
        else column
        for name, column in silver.items()
    }


def catalog(ref: str, columns: tuple[str, ...] = ()) -> dict[str, Any]:
    """``owner``, ``tags`` and ``columns`` for ``@p.table(...)``/``p.source(...)`` of ``ref``
    (for a source: its declared ``columns``, each with its metadata)."""
    layer, _, name = ref.partition(".")
    owner = (
        _OWNERS.get(name, "analytics") if layer != "gold" else _GOLD_OWNERS.get(name, "analytics")
    )
    tags = {"domain": _DOMAINS[owner]}
    if layer == "bronze":
        described = _bronze_columns(name)
        return {
            "owner": "data-platform",
            "tags": {**tags, "raw": "true"},
            "columns": {c: described.get(c, Column("As received")) for c in columns},
        }
    return {"owner": owner, "tags": tags, "columns": {**_SHARED, **_COLUMNS.get(ref, {})}}
