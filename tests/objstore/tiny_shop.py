"""A small pipeline for the store tests that need many runs: orders in JSON lines, a
silver table with a quarantine rule, a gold total."""

import narwhals as nw

from shoplake import Pipeline, Upsert, expect


def build():  # type: ignore[no-untyped-def]
    p = Pipeline("tiny")
    p.source("orders", format="jsonl", columns=["order_id", "amount"])

    @p.table(
        layer="silver",
        kind=Upsert(keys=["order_id"]),
        expectations=[expect("positive", nw.col("amount") > 0, action="quarantine")],
    )
    def orders(bronze_orders):  # type: ignore[no-untyped-def]
        return bronze_orders.with_columns(nw.col("amount").cast(nw.Float64))

    @p.table(layer="gold")
    def totals(silver_orders):  # type: ignore[no-untyped-def]
        # Counts are UInt32 on Polars and Int64 on Spark: one type on every engine.
        count = nw.len().cast(nw.Int64).alias("n")
        return silver_orders.select(count, nw.col("amount").sum().alias("sum"))

    return p


def order_lines(name: str, count: int) -> bytes:
    """``count`` orders of one file; every tenth has amount 0 (quarantined)."""
    rows = [f'{{"order_id": "{name}-{i}", "amount": "{i % 10}"}}' for i in range(count)]
    return ("\n".join(rows) + "\n").encode()
