"""Inventory and shipments: silver tables with their rules, and their gold marts."""

from __future__ import annotations

from typing import Any

import narwhals as nw

from shoplake import Expectation, Materialized, Pipeline, Upsert, expect, expect_exists
from shoplake.ecommerce.cleaning import (
    canonical_id,
    to_int,
    well_formed,
    with_timestamp,
    with_timestamps,
)
from shoplake.ecommerce.governance import catalog
from shoplake.ecommerce.marts.operations import inventory_health, shipping_performance

PROVENANCE = ("_rescued_data", "_source", "_batch_id")


def _rule(name: str, check: nw.Expr, severity: str, description: str) -> Expectation:
    return expect(name, check, action="quarantine", severity=severity, description=description)


def _text(column: str) -> nw.Expr:
    value = nw.col(column).str.strip_chars().str.to_lowercase()
    return nw.when(value != "").then(value).alias(column)


def add_operations_tables(p: Pipeline) -> None:
    """``silver.inventory``, ``silver.shipments``, ``gold.inventory_health``,
    ``gold.shipping_performance``."""
    parsed = _rule("well_formed", well_formed(), "critical", "the line could be parsed")

    @p.table(
        layer="silver",
        kind=Upsert(keys=["snapshot_date", "product_id", "warehouse"]),
        zorder_by=["product_id"],
        expectations=[
            parsed,
            _rule(
                "product_id_not_null",
                ~nw.col("product_id").is_null(),
                "critical",
                "product_id is present and a valid id",
            ),
            _rule(
                "non_negative_stock",
                nw.col("quantity_on_hand") >= 0,
                "high",
                "stock on hand cannot be negative",
            ),
            expect_exists("product_exists", "product_id", ref="silver.products"),
        ],
        **catalog("silver.inventory"),
    )
    def inventory(bronze_inventory: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Stock snapshots per product and warehouse."""
        frame = with_timestamp(bronze_inventory, "snapshot_date")
        return frame.select(
            nw.col("snapshot_date").dt.date(),
            canonical_id("product_id", "P", 5),
            _text("warehouse"),
            to_int("quantity_on_hand"),
            to_int("reorder_point"),
            *PROVENANCE,
        )

    @p.table(
        layer="silver",
        kind=Upsert(keys=["shipment_id"]),
        expectations=[
            parsed,
            _rule(
                "shipment_id_not_null",
                ~nw.col("shipment_id").is_null(),
                "critical",
                "shipment_id is present",
            ),
            _rule(
                "delivered_after_shipped",
                (nw.col("delivered_at") >= nw.col("shipped_at")).fill_null(value=True),
                "high",
                "a parcel cannot arrive before it left",
            ),
            expect_exists("order_exists", "order_id", ref="silver.orders"),
        ],
        **catalog("silver.shipments"),
    )
    def shipments(bronze_shipments: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Shipments with their carrier, shipping and delivery times and promised day."""
        frame = with_timestamps(
            bronze_shipments,
            {
                "shipped_at": "shipped_at",
                "delivered_at": "delivered_at",
                "promised_date": "promised_date",
            },
        )
        shipment_id = nw.col("shipment_id").str.strip_chars().str.to_uppercase()
        return frame.select(
            nw.when(shipment_id != "").then(shipment_id).alias("shipment_id"),
            canonical_id("order_id", "O", 8),
            _text("carrier"),
            "shipped_at",
            "delivered_at",
            nw.col("promised_date").dt.date(),
            *PROVENANCE,
        )

    @p.table(
        layer="gold",
        kind=Materialized(),
        name="inventory_health",
        **catalog("gold.inventory_health"),
    )
    def inventory_health_(
        silver_inventory: nw.LazyFrame[Any],
        silver_orders: nw.LazyFrame[Any],
        silver_order_items: nw.LazyFrame[Any],
    ) -> nw.LazyFrame[Any]:
        """Stock on hand against the last 30 days of sales: days of cover, reorder flags.

        Full recompute: every product's cover moves with the latest order date.
        """
        return inventory_health(silver_inventory, silver_orders, silver_order_items)

    @p.table(
        layer="gold",
        kind=Materialized(),
        name="shipping_performance",
        **catalog("gold.shipping_performance"),
    )
    def shipping_performance_(silver_shipments: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Delivery days and late share by carrier (a handful of rows: full recompute)."""
        return shipping_performance(silver_shipments)
