"""On Spark, a flow's rows stay on the executors: the driver collects aggregates (the
rules' counts) and samples (a failing ``fail`` rule's offending rows), never a flow's
result; kept and quarantined rows are written by Spark straight from the plan.

The one list of values the driver does collect is a recomputed table's affected keys
(here the customers whose orders changed): the commit's predicate names them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import narwhals as nw
import pytest

from lakes import LakeHarness, MakeHarness
from shoplake import Append, Pipeline, ReplaceRows, Upsert, expect
from shoplake.engines import create_engine
from shoplake.engines.spark_delta import SparkDeltaEngine
from shoplake.pipeline.rules import SAMPLE_ROWS

pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow

ORDERS = 300


class ByCustomer:
    """The customers whose orders changed, and their orders."""

    def affected(
        self, changed: Mapping[str, nw.LazyFrame[Any]], inputs: Mapping[str, nw.LazyFrame[Any]]
    ) -> nw.LazyFrame[Any]:
        return changed["silver_orders"].select("customer_id").unique()

    def restrict(
        self, keys: nw.LazyFrame[Any], inputs: Mapping[str, nw.LazyFrame[Any]]
    ) -> Mapping[str, nw.LazyFrame[Any]]:
        return {"silver_orders": inputs["silver_orders"].join(keys, on="customer_id", how="semi")}


def build() -> Pipeline:
    p = Pipeline("driver")
    p.source("orders", format="jsonl", columns=["order_id", "customer_id", "amount", "updated_at"])
    positive = expect("positive_amount", nw.col("amount") > 0, action="quarantine")
    known = expect("known_customer", ~nw.col("customer_id").is_null(), action="drop")

    @p.table(
        layer="silver",
        kind=Upsert(keys=["order_id"], sequence_by="updated_at"),
        expectations=[positive, known],
    )
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders.with_columns(nw.col("amount").cast(nw.Float64))

    @p.table(layer="silver", kind=Append(), expectations=[positive])
    def order_log(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders.with_columns(nw.col("amount").cast(nw.Float64))

    @p.table(layer="gold", kind=ReplaceRows(by=["customer_id"], plan=ByCustomer()))
    def customer_totals(silver_orders: nw.LazyFrame) -> nw.LazyFrame:
        return silver_orders.group_by("customer_id").agg(
            # nw.len() is UInt32 on Polars (Int32 in Delta), Int64 on Spark: say which.
            nw.col("amount").sum().alias("total"), nw.len().cast(nw.Int64).alias("orders")
        )

    @p.table(layer="gold")
    def revenue(silver_orders: nw.LazyFrame) -> nw.LazyFrame:
        return silver_orders.select(nw.col("amount").sum().alias("revenue"))

    return p


def _land(shop: LakeHarness, name: str, start: int) -> None:
    rows = []
    for n in range(start, start + ORDERS):
        amount = -1 if n % 10 == 0 else n % 97 + 1  # every tenth quarantined
        customer = None if n % 25 == 1 else f"C{n % 40:03d}"  # some dropped
        rows.append(
            {"order_id": f"O{n % (ORDERS + 50):05d}", "customer_id": customer,
             "amount": amount, "updated_at": f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}"}
        )  # fmt: skip
    shop.write(f"orders/{name}", "\n".join(json.dumps(r) for r in rows) + "\n")


@pytest.fixture
def collected(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, list[str]]]:
    """The rows and columns of every frame the Spark engine brings to the driver."""
    sizes: list[tuple[int, list[str]]] = []
    original = SparkDeltaEngine.collect

    def spy(engine: SparkDeltaEngine, frame: nw.LazyFrame[Any]) -> nw.DataFrame[Any]:
        result = original(engine, frame)
        sizes.append((len(result), result.columns))
        return result

    monkeypatch.setattr(SparkDeltaEngine, "collect", spy)
    return sizes


def test_no_flow_result_reaches_the_driver_on_spark(
    lake_harness: MakeHarness,
    spark_session: Any,
    collected: list[tuple[int, list[str]]],
    tmp_path: Path,
) -> None:
    shop = lake_harness(build())
    spark = create_engine(str(shop.lake), "spark", session=spark_session)
    _land(shop, "a.jsonl", 0)
    assert shop.run(spark).status == "completed"
    _land(shop, "b.jsonl", ORDERS // 2)  # updates, new keys, more quarantine: the merges
    second = shop.run(spark)
    assert second.status == "completed", [f.message for f in second.flows]

    assert collected, "the rules were judged without an aggregate"
    large = [(n, columns) for n, columns in collected if n > SAMPLE_ROWS]
    assert all(columns == ["customer_id"] for _, columns in large), large
    # And the rows Spark wrote from the plan are the rows the Polars engine writes.
    from spark_lakes import assert_same_tables

    polars = LakeHarness(tmp_path / "polars", build())
    for name in ("a.jsonl", "b.jsonl"):
        polars.write(f"orders/{name}", (shop.landing / "orders" / name).read_bytes())
        assert polars.run().status == "completed"
    counts = assert_same_tables(polars.lake, shop.lake)
    # 40 customers, less the four (C000, C010, C020, C030) whose every order is quarantined.
    assert counts["quarantine.orders"] > 0 and counts["gold.customer_totals"] == 36
