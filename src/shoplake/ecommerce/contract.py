"""The landing contract in code: each source's file format and columns, in file order.

The generator writes these columns and the pipeline declares them; both read
them from here so they cannot drift apart. See docs/data-contract.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceContract:
    name: str
    format: str
    columns: tuple[str, ...]


SOURCES: dict[str, SourceContract] = {
    s.name: s
    for s in (
        SourceContract("regions", "csv", ("region_id", "region_name", "country")),
        SourceContract(
            "customers",
            "csv",
            (
                "customer_id",
                "first_name",
                "last_name",
                "email",
                "phone",
                "city",
                "state",
                "country",
                "region_id",
                "signup_date",
                "updated_at",
                "segment",
            ),
        ),
        SourceContract(
            "products",
            "csv",
            (
                "product_id",
                "name",
                "category",
                "brand",
                "price",
                "cost",
                "active",
                "updated_at",
            ),
        ),
        SourceContract(
            "orders",
            "jsonl",
            (
                "order_id",
                "customer_id",
                "order_date",
                "status",
                "channel",
                "payment_method",
                "total_amount",
                "currency",
                "updated_at",
            ),
        ),
        SourceContract(
            "order_items",
            "csv",
            (
                "order_id",
                "line_number",
                "product_id",
                "quantity",
                "unit_price",
                "discount",
            ),
        ),
        SourceContract(
            "returns",
            "jsonl",
            (
                "return_id",
                "order_id",
                "product_id",
                "customer_id",
                "return_date",
                "reason",
                "refund_amount",
            ),
        ),
        SourceContract(
            "inventory",
            "csv",
            ("snapshot_date", "product_id", "warehouse", "quantity_on_hand", "reorder_point"),
        ),
        SourceContract(
            "shipments",
            "jsonl",
            (
                "shipment_id",
                "order_id",
                "carrier",
                "shipped_at",
                "delivered_at",
                "promised_date",
            ),
        ),
    )
}
