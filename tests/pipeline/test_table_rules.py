"""Rules beyond one row: unique keys, a total that must equal a sum over another table,
row counts, volume against recent batches and freshness — with the same actions,
severities, event log and quality score as row rules."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import narwhals as nw
import polars as pl
import pytest

from backends import Backend
from lakes import LakeHarness, MakeHarness
from shoplake import (
    Append,
    DefinitionError,
    Pipeline,
    expect_equals_sum,
    expect_fresh,
    expect_row_count,
    expect_unique,
    expect_volume,
)
from shoplake.testing import run_table


def orders_pipeline(*rules: Any) -> Pipeline:
    p = Pipeline("rules")
    p.source("orders", format="jsonl", columns=["order_id", "amount", "placed_at"])
    p.source("lines", format="jsonl", columns=["order_id", "amount"])

    @p.table(layer="silver", kind=Append())
    def lines(bronze_lines: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_lines.select("order_id", nw.col("amount").cast(nw.Float64))

    @p.table(layer="silver", kind=Append(), expectations=list(rules))
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders.select(
            "order_id",
            nw.col("amount").cast(nw.Float64),
            nw.col("placed_at").str.to_datetime("%Y-%m-%d %H:%M:%S"),
            "_source",
        )

    return p


def land_orders(lake: LakeHarness, name: str, rows: list[tuple[str, float, str]]) -> None:
    lines = [json.dumps({"order_id": o, "amount": a, "placed_at": t}) for o, a, t in rows]
    lake.write(f"orders/{name}.jsonl", "\n".join(lines) + "\n")


RECENT = f"{datetime.now():%Y-%m-%d %H:%M:%S}"


def test_repeated_keys_are_all_quarantined_and_counted(lake_harness: MakeHarness) -> None:
    lake = lake_harness(orders_pipeline(expect_unique("one_row_per_order", "order_id")))
    land_orders(lake, "a", [("O1", 5, RECENT), ("O1", 6, RECENT), ("O2", 7, RECENT)])
    run = lake.run()
    flow = run.flow("silver.orders")
    assert (flow.rows_written, flow.rows_quarantined) == (1, 2)
    assert flow.rules[0].name == "one_row_per_order"
    assert (flow.rules[0].passed, flow.rules[0].failed) == (1, 2)
    quarantine = lake.read("quarantine.orders")
    assert sorted(quarantine.get_column("rule").to_list()) == ["one_row_per_order"] * 2
    assert lake.read("silver.orders").get_column("order_id").to_list() == ["O2"]


def test_unique_runs_the_same_on_every_engine(backend: Backend) -> None:
    p = orders_pipeline(expect_unique("one_row_per_order", ["order_id"], action="drop"))
    rows = [
        {"order_id": o, "amount": "1", "placed_at": RECENT, "_source": f"f:{n}"}
        for n, o in enumerate(["O1", "O1", "O2", None, None])
    ]
    out = run_table(p, "silver.orders", {"bronze.orders": rows}, backend=backend.name)
    # Both O1 go; null keys are not duplicates of each other (as in SQL).
    assert sorted(r["order_id"] or "-" for r in out.rows) == ["-", "-", "O2"]
    assert out.dropped == 2


def test_a_total_must_equal_the_sum_of_its_lines(lake_harness: MakeHarness) -> None:
    rule = expect_equals_sum(
        "total_matches_lines",
        "amount",
        ref="silver.lines",
        ref_column="amount",
        on="order_id",
        tolerance=0.01,
        action="quarantine",
    )
    lake = lake_harness(orders_pipeline(rule))
    lines = [("O1", 2.0), ("O1", 3.0), ("O2", 4.0)]
    text = "\n".join(json.dumps({"order_id": o, "amount": a}) for o, a in lines)
    lake.write("lines/l.jsonl", text)
    # O1 = 5.004 is within a cent; O2 is off by a euro; O3 has no lines (sum 0).
    land_orders(lake, "a", [("O1", 5.004, RECENT), ("O2", 5.0, RECENT), ("O3", 1.0, RECENT)])
    flow = lake.run().flow("silver.orders")
    assert sorted(lake.read("silver.orders").get_column("order_id")) == ["O1"]
    assert sorted(lake.read("quarantine.orders").get_column("rule")) == ["total_matches_lines"] * 2
    assert (flow.rules[0].passed, flow.rules[0].failed) == (1, 2)


def test_too_few_rows_fail_the_flow_and_commit_nothing(lake_harness: MakeHarness) -> None:
    lake = lake_harness(
        orders_pipeline(
            expect_unique("one_row_per_order", "order_id"),
            expect_row_count("at_least_two", min=2, action="fail"),
        )
    )
    land_orders(lake, "a", [("O1", 5, RECENT), ("O1", 6, RECENT), ("O2", 7, RECENT)])
    run = lake.run()
    flow = run.flow("silver.orders")
    assert flow.status == "failed" and flow.failed_rule == "at_least_two"
    assert "the batch has 1 row(s), fewer than 2; nothing was committed" in flow.message
    # Neither the table nor its quarantine: the rerun sees the same batch.
    assert not lake.exists("silver.orders") and not lake.exists("quarantine.orders")
    event = lake.read("_system.event_log").filter(pl.col("table") == "silver.orders")
    assert event.get_column("failed_rule").to_list() == ["at_least_two"]


def test_a_batch_far_below_the_usual_volume_is_flagged(lake_harness: MakeHarness) -> None:
    lake = lake_harness(orders_pipeline(expect_volume("usual_volume", within=0.5, runs=3)))
    for batch in range(3):
        land_orders(lake, f"b{batch}", [(f"O{batch}-{i}", 1, RECENT) for i in range(10)])
        rule = lake.run().flow("silver.orders").rules[0]
        assert (rule.passed, rule.failed) == (1, 0)  # under two earlier batches: no verdict
    land_orders(lake, "small", [(f"S-{i}", 1, RECENT) for i in range(4)])
    flow = lake.run().flow("silver.orders")
    assert flow.status == "completed"  # warn: counted, the rows still land
    assert (flow.rules[0].name, flow.rules[0].passed, flow.rules[0].failed) == (
        "usual_volume",
        0,
        1,
    )
    assert flow.quality_score == 0.0
    events = lake.read("_system.event_log").filter(pl.col("table") == "silver.orders")
    last = json.loads(events.sort("timestamp").get_column("expectations")[-1])
    assert last == [
        {"name": "usual_volume", "action": "warn", "severity": "medium", "passed": 0, "failed": 1}
    ]


def test_stale_rows_fail_a_freshness_rule(lake_harness: MakeHarness) -> None:
    lake = lake_harness(
        orders_pipeline(expect_fresh("recent", "placed_at", max_age=timedelta(days=1)))
    )
    old = f"{datetime.now() - timedelta(days=3):%Y-%m-%d %H:%M:%S}"
    land_orders(lake, "old", [("O1", 1, old)])
    assert lake.run().flow("silver.orders").rules[0].failed == 1
    land_orders(lake, "new", [("O2", 1, RECENT)])
    assert lake.run().flow("silver.orders").rules[0].failed == 0


def test_batch_rules_only_warn_or_fail() -> None:
    with pytest.raises(DefinitionError, match="can warn or fail, not quarantine"):
        expect_row_count("some", min=1, action="quarantine")
    with pytest.raises(DefinitionError, match="give min=, max= or both"):
        expect_row_count("some")
