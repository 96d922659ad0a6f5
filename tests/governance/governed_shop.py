"""A small shop pipeline with declared metadata, built fresh per test so a test can
change a declaration between runs."""

from __future__ import annotations

from typing import Any

import narwhals as nw

from shoplake import Column, Pipeline, Upsert


def build(tags: dict[str, str] | None = None, email_comment: str = "Customer e-mail") -> Pipeline:
    p = Pipeline("shop")
    p.source(
        "customers",
        format="csv",
        columns={
            "customer_id": Column("Customer id"),
            "name": Column("Full name", pii="name"),
            "email": Column("E-mail as received", pii="email"),
        },
        owner="crm-team",
        description="customers as received",
    )
    p.source("orders", format="csv", columns=["order_id", "customer_id", "amount"])

    @p.table(
        layer="silver",
        kind=Upsert(keys=["customer_id"]),
        owner="crm-team",
        tags=tags if tags is not None else {"domain": "crm"},
        columns={
            "customer_id": Column("Customer id"),
            "name": Column("Full name", pii="name"),
            "email": Column(email_comment, pii="email"),
        },
    )
    def customers(bronze_customers: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """One row per customer."""
        return bronze_customers.select("customer_id", "name", "email")

    @p.table(layer="silver", kind=Upsert(keys=["order_id"]), owner="sales")
    def orders(bronze_orders: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        """Orders with a numeric amount."""
        return bronze_orders.select("order_id", "customer_id", nw.col("amount").cast(nw.Float64))

    @p.table(layer="gold", owner="sales", tags={"domain": "sales"})
    def spend(silver_orders: nw.LazyFrame[Any], silver_customers: nw.LazyFrame[Any]) -> Any:
        """Spend per customer e-mail."""
        joined = silver_orders.join(silver_customers, on="customer_id")
        return joined.group_by("email").agg(nw.col("amount").sum())

    return p


CUSTOMERS = [
    {"customer_id": "C1", "name": "Ada Lovelace", "email": "ada@example.com"},
    {"customer_id": "C2", "name": "Alan Turing", "email": "alan@example.org"},
]
ORDERS = [
    {"order_id": "O1", "customer_id": "C1", "amount": "10.5"},
    {"order_id": "O2", "customer_id": "C2", "amount": "4"},
    {"order_id": "O3", "customer_id": "C1", "amount": "1"},
]
