"""Flows end to end on a tiny inline pipeline, against real Delta tables in tmp_path.

The pipeline: a CSV source (``customers``) and a JSON-lines source (``orders``), a
silver Upsert for each, silver ``orders`` carrying one rule of every action, and a
gold Materialized table of totals per customer.

The first orders file (line numbers are what ``_source`` must say)::

    1  O1 C1  25  2024-01-01   kept (later replaced by line 7)
    2  O2 C2   5  2024-01-01   kept; fails the warn rule big_order
    3  O3 C1  -3  2024-01-01   dropped: positive_amount
    4  O4 C9  40  2024-01-01   quarantined: customer_exists (C9 is unknown)
    5  <truncated JSON>        quarantined: well_formed (also fails valid_order_id)
    6  O6 C2  12  2024-01-02   kept; undeclared "coupon" goes to _rescued_data
    7  O1 C1  30  2024-01-03   kept: the newer version of O1 (one duplicate)
    8  X8 C9  50  2024-01-01   quarantined: valid_order_id (also customer_exists)
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest

from lakes import LakeHarness, MakeHarness
from shoplake import Pipeline, RunResult, Upsert, expect, expect_exists

CORRUPT_ORDER = '{"order_id": "O5", "customer_id": '


def order(order_id: str | None, customer: str, amount: float, updated: str, **extra: Any) -> str:
    row = {"order_id": order_id, "customer_id": customer, "amount": amount, "updated_at": updated}
    return json.dumps({**row, **extra})


ORDERS_1 = [
    order("O1", "C1", 25, "2024-01-01"),
    order("O2", "C2", 5, "2024-01-01"),
    order("O3", "C1", -3, "2024-01-01"),
    order("O4", "C9", 40, "2024-01-01"),
    CORRUPT_ORDER,
    order("O6", "C2", 12, "2024-01-02", coupon="SAVE10"),
    order("O1", "C1", 30, "2024-01-03"),
    order("X8", "C9", 50, "2024-01-01"),
]
CUSTOMERS_1 = "customer_id,name,tier\nC1,Ann,gold\nC2,Bob,silver\nC3\nC4,Di,bronze\n"


def well_formed() -> nw.Expr:
    rescued = nw.col("_rescued_data")
    return rescued.is_null() | ~rescued.str.starts_with('{"_corrupt_record"')


def build(seen_this: list[Any] | None = None) -> Pipeline:
    p = Pipeline("tiny")
    p.source("customers", format="csv", columns=["customer_id", "name"])
    p.source("orders", format="jsonl", columns=["order_id", "customer_id", "amount", "updated_at"])

    @p.table(
        layer="silver",
        kind=Upsert(keys=["customer_id"]),
        expectations=[expect("well_formed", well_formed(), action="quarantine",
                             severity="critical")],
    )
    def customers(bronze_customers: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_customers.drop("_ingested_at")

    @p.table(
        layer="silver",
        kind=Upsert(keys=["order_id"], sequence_by="updated_at"),
        expectations=[
            expect("well_formed", well_formed(), action="quarantine", severity="critical"),
            expect("valid_order_id", nw.col("order_id").str.starts_with("O"),
                   action="quarantine", severity="medium"),
            expect("positive_amount", nw.col("amount") > 0, action="drop", severity="medium"),
            expect("big_order", nw.col("amount") >= 10, action="warn", severity="low"),
            expect_exists("customer_exists", "customer_id", ref="silver.customers"),
            expect("sane_amount", (nw.col("amount") < 1000) | nw.col("amount").is_null(),
                   action="fail", severity="critical"),
        ],
    )
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders.with_columns(nw.col("amount").cast(nw.Float64)).drop("_ingested_at")

    @p.table(layer="gold")
    def customer_totals(silver_orders: nw.LazyFrame) -> nw.LazyFrame:
        return silver_orders.group_by("customer_id").agg(
            nw.col("amount").sum().alias("total"), nw.len().alias("orders")
        )

    if seen_this is not None:

        @p.table(layer="gold")
        def roster(bronze_customers: nw.LazyFrame, this: nw.LazyFrame | None) -> nw.LazyFrame:
            seen_this.append(
                None if this is None else sorted(this.collect().get_column("customer_id"))
            )
            return bronze_customers.select("customer_id").filter(
                ~nw.col("customer_id").is_null()
            )

    return p


class Lake(LakeHarness):
    """A landing folder and a lake under one root, and the pipeline that runs over them."""

    def write_orders(self, name: str, lines: list[str]) -> Path:
        return self.write(f"orders/{name}", "\n".join(lines) + "\n")

    def tuples(self, ref: str, *columns: str) -> list[tuple[Any, ...]]:
        return self.read(ref).select(columns).sort(columns[0]).rows()


MakeLake = Callable[..., Lake]


@pytest.fixture
def make_lake(lake_harness: MakeHarness) -> MakeLake:
    """``make_lake(pipeline=None)``: an empty landing folder and lake in tmp_path."""

    def make(pipeline: Pipeline | None = None) -> Lake:
        return lake_harness(pipeline or build(), Lake)

    return make


@pytest.fixture
def shop(make_lake: MakeLake) -> Lake:
    lake = make_lake()
    lake.write("customers/customers-1.csv", CUSTOMERS_1)
    lake.write_orders("orders-1.jsonl", ORDERS_1)
    return lake


@pytest.fixture
def first(shop: Lake) -> RunResult:
    """The first run over the first files."""
    return shop.run()


# --- the first run: every action ----------------------------------------------------------


def test_first_run_completes_every_table(shop: Lake, first: RunResult) -> None:
    assert first.status == "completed"
    assert [(f.table, f.status) for f in first.flows] == [
        ("bronze.customers", "completed"),
        ("bronze.orders", "completed"),
        ("silver.customers", "completed"),
        ("silver.orders", "completed"),
        ("gold.customer_totals", "completed"),
    ]
    assert set(shop.versions()) == {
        "bronze.customers", "bronze.orders", "silver.customers", "silver.orders",
        "quarantine.customers", "quarantine.orders", "gold.customer_totals",
        "_system.event_log",
    }
    assert set(shop.versions().values()) == {0}


def test_bronze_keeps_text_provenance_rescued_and_corrupt_lines(
    shop: Lake, first: RunResult
) -> None:
    orders = shop.read("bronze.orders")
    assert orders.schema["amount"] == pl.String
    assert orders.select("order_id", "amount", "_source", "_rescued_data").rows() == [
        ("O1", "25", "orders/orders-1.jsonl:1", None),
        ("O2", "5", "orders/orders-1.jsonl:2", None),
        ("O3", "-3", "orders/orders-1.jsonl:3", None),
        ("O4", "40", "orders/orders-1.jsonl:4", None),
        (None, None, "orders/orders-1.jsonl:5", json.dumps({"_corrupt_record": CORRUPT_ORDER},
                                                          separators=(",", ":"))),
        ("O6", "12", "orders/orders-1.jsonl:6", '{"coupon":"SAVE10"}'),
        ("O1", "30", "orders/orders-1.jsonl:7", None),
        ("X8", "50", "orders/orders-1.jsonl:8", None),
    ]
    assert json.loads(orders.row(4, named=True)["_rescued_data"]) == {
        "_corrupt_record": CORRUPT_ORDER
    }
    assert orders.get_column("_batch_id").unique().to_list() == [first.run_id]
    assert orders.get_column("_ingested_at").null_count() == 0

    customers = shop.read("bronze.customers")
    assert customers.select("customer_id", "name", "_source", "_rescued_data").rows() == [
        ("C1", "Ann", "customers/customers-1.csv:2", '{"tier":"gold"}'),
        ("C2", "Bob", "customers/customers-1.csv:3", '{"tier":"silver"}'),
        (None, None, "customers/customers-1.csv:4", '{"_corrupt_record":"C3"}'),
        ("C4", "Di", "customers/customers-1.csv:5", '{"tier":"bronze"}'),
    ]
    assert first.flow("bronze.orders").files == 1
    assert first.flow("bronze.orders").rows_written == 8


def test_rule_counts_warn_keeps_drop_removes(first: RunResult) -> None:
    flow = first.flow("silver.orders")
    counted = {r.name: (r.action, r.severity, r.passed, r.failed) for r in flow.rules}
    assert counted == {
        "well_formed": ("quarantine", "critical", 7, 1),
        "valid_order_id": ("quarantine", "medium", 6, 2),
        "positive_amount": ("drop", "medium", 6, 2),  # -3, and the corrupt line's null
        "big_order": ("warn", "low", 5, 3),
        "customer_exists": ("quarantine", "high", 6, 2),  # a null key passes, as in SQL
        "sane_amount": ("fail", "critical", 8, 0),
    }
    assert (flow.rows_read, flow.rows_dropped, flow.rows_quarantined) == (8, 1, 3)
    assert (flow.rows_duplicate, flow.rows_written) == (1, 3)


def test_silver_holds_the_latest_version_of_each_kept_key(shop: Lake, first: RunResult) -> None:
    # O2 fails only the warn rule and is kept; O3 is dropped; O1's line 7 wins.
    assert shop.tuples("silver.orders", "order_id", "customer_id", "amount", "_source") == [
        ("O1", "C1", 30.0, "orders/orders-1.jsonl:7"),
        ("O2", "C2", 5.0, "orders/orders-1.jsonl:2"),
        ("O6", "C2", 12.0, "orders/orders-1.jsonl:6"),
    ]
    assert shop.tuples("silver.customers", "customer_id") == [("C1",), ("C2",), ("C4",)]
    assert shop.tuples("gold.customer_totals", "customer_id", "total", "orders") == [
        ("C1", 30.0, 1),
        ("C2", 17.0, 2),
    ]


def test_quarantine_holds_removed_rows_with_rule_severity_source_and_record(
    shop: Lake, first: RunResult
) -> None:
    quarantine = shop.read("quarantine.orders").sort("_source")
    assert quarantine.columns == [
        "table", "rule", "failed_rules", "severity", "run_id", "quarantined_at", "_source",
        "_batch_id", "record",
    ]
    assert quarantine.select("table", "rule", "failed_rules", "severity", "_source").rows() == [
        ("silver.orders", "customer_exists", "customer_exists", "high",
         "orders/orders-1.jsonl:4"),
        ("silver.orders", "well_formed", "well_formed,valid_order_id", "critical",
         "orders/orders-1.jsonl:5"),
        ("silver.orders", "valid_order_id", "valid_order_id,customer_exists", "medium",
         "orders/orders-1.jsonl:8"),
    ]
    assert quarantine.get_column("run_id").unique().to_list() == [first.run_id]
    records = [json.loads(r) for r in quarantine.get_column("record")]
    assert records[0] == {
        "order_id": "O4", "customer_id": "C9", "amount": 40.0, "updated_at": "2024-01-01",
        "_rescued_data": None, "_source": "orders/orders-1.jsonl:4",
        "_batch_id": first.run_id,
    }
    assert json.loads(records[1]["_rescued_data"]) == {"_corrupt_record": CORRUPT_ORDER}
    assert records[2]["order_id"] == "X8"

    customers = shop.read("quarantine.customers")
    assert customers.select("rule", "severity", "_source").rows() == [
        ("well_formed", "critical", "customers/customers-1.csv:4")
    ]


def test_quality_score_weights_rules_by_severity(first: RunResult) -> None:
    weight = {"low": 1, "medium": 2, "high": 4, "critical": 8}

    def score(rules: list[Any]) -> float:
        passed = sum(weight[r.severity] * r.passed for r in rules)
        total = sum(weight[r.severity] * (r.passed + r.failed) for r in rules)
        return round(100 * passed / total, 2)

    orders = first.flow("silver.orders")
    # (8·7 + 2·6 + 2·6 + 1·5 + 4·6 + 8·8) / (8·8 + 2·8 + 2·8 + 1·8 + 4·8 + 8·8) = 173 / 200
    assert orders.quality_score == 86.5 == score(list(orders.rules))
    # silver.customers adds well_formed (critical) 3 of 4: (173 + 24) / (200 + 32)
    assert first.quality_score == round(100 * 197 / 232, 2) == 84.91
    assert first.flow("bronze.orders").quality_score is None


# --- fail ---------------------------------------------------------------------------------


def test_fail_rule_stops_the_flow_commits_nothing_and_skips_downstream(shop: Lake) -> None:
    shop.write_orders("orders-2.jsonl", [order("O666", "C1", 5000, "2024-01-01")])
    run = shop.run()
    assert run.status == "failed"
    flow = run.flow("silver.orders")
    assert flow.status == "failed"
    assert flow.message.startswith(
        "silver.orders: expectation 'sane_amount' failed for 1 row(s); nothing was committed."
    )
    assert "O666" in flow.message
    assert run.flow("silver.customers").status == "completed"
    gold = run.flow("gold.customer_totals")
    assert (gold.status, gold.message) == ("skipped", "upstream failed: silver.orders")
    assert not shop.exists("silver.orders")
    assert not shop.exists("quarantine.orders")
    assert not shop.exists("gold.customer_totals")


def test_fail_rule_leaves_every_table_at_its_version_on_a_rebuild(
    shop: Lake, first: RunResult
) -> None:
    before = shop.versions()
    shop.write_orders("orders-2.jsonl", [order("O666", "C1", 5000, "2024-01-01")])
    run = shop.run(full_refresh=True)
    assert run.flow("silver.orders").status == "failed"
    after = shop.versions()
    for ref in ("silver.orders", "quarantine.orders", "gold.customer_totals"):
        assert after[ref] == before[ref], ref
    assert shop.read("quarantine.orders").height == 3
    assert shop.read("silver.orders").height == 3


def test_fail_rule_on_an_incremental_run_commits_nothing(shop: Lake, first: RunResult) -> None:
    before = shop.versions()
    shop.write_orders("orders-2.jsonl", [order("O666", "C1", 5000, "2024-01-01")])
    run = shop.run()
    assert "expectation 'sane_amount' failed for 1 row(s)" in run.flow("silver.orders").message
    after = shop.versions()
    for ref in ("silver.orders", "quarantine.orders", "gold.customer_totals"):
        assert after[ref] == before[ref], ref
    assert run.flow("gold.customer_totals").status == "skipped"


# --- incremental runs ---------------------------------------------------------------------


def test_a_second_run_without_new_files_writes_nothing(shop: Lake, first: RunResult) -> None:
    before = shop.versions()
    run = shop.run()
    assert [(f.table, f.status, f.message) for f in run.flows] == [
        ("bronze.customers", "skipped", "no new files"),
        ("bronze.orders", "skipped", "no new files"),
        ("silver.customers", "skipped", "no new input"),
        ("silver.orders", "skipped", "no new input"),
        ("gold.customer_totals", "skipped", "inputs unchanged"),
    ]
    assert shop.versions() == before  # the event log included


def test_a_new_file_is_read_alone_and_upserted_by_sequence(shop: Lake, first: RunResult) -> None:
    """Regression: read_appended once returned a Series and failed every incremental run."""
    shop.write_orders("orders-2.jsonl", [
        order("O1", "C1", 99, "2023-12-31"),  # a late, older version: must not win
        order("O2", "C2", 7, "2024-02-01"),  # newer: replaces O2
        order("O9", "C4", 15, "2024-02-01"),  # new key
    ])
    before = shop.versions()
    run = shop.run()
    assert run.status == "completed"
    assert run.flow("bronze.orders").rows_written == 3
    flow = run.flow("silver.orders")
    assert flow.rows_read == 3
    assert (flow.rows_written, flow.rows_duplicate) == (2, 2)  # O9 inserted, O2 updated
    assert flow.version == before["silver.orders"] + 1
    assert shop.tuples("silver.orders", "order_id", "amount", "_source") == [
        ("O1", 30.0, "orders/orders-1.jsonl:7"),
        ("O2", 7.0, "orders/orders-2.jsonl:2"),
        ("O6", 12.0, "orders/orders-1.jsonl:6"),
        ("O9", 15.0, "orders/orders-2.jsonl:3"),
    ]
    assert shop.tuples("gold.customer_totals", "customer_id", "total") == [
        ("C1", 30.0), ("C2", 19.0), ("C4", 15.0),
    ]
    assert shop.read("quarantine.orders").height == 3
    assert run.flow("silver.customers").status == "skipped"
    settled = shop.versions()
    assert {f.status for f in shop.run().flows} == {"skipped"}
    assert shop.versions() == settled


def test_an_older_version_in_a_later_file_of_the_same_batch_does_not_win(
    make_lake: MakeLake,
) -> None:
    lake = make_lake()
    lake.write("customers/customers-1.csv", "customer_id,name\nC1,Ann\n")
    lake.write_orders("orders-1.jsonl", [order("O1", "C1", 30, "2024-01-03")])
    lake.write_orders("orders-2.jsonl", [
        order("O1", "C1", 20, "2024-01-01"),
        order("O2", "C1", 11, "2024-01-01"),
        order("O2", "C1", 11, "2024-01-01"),  # an exact duplicate
    ])
    run = lake.run()
    flow = run.flow("silver.orders")
    assert (flow.rows_read, flow.rows_written, flow.rows_duplicate) == (4, 2, 2)
    assert lake.tuples("silver.orders", "order_id", "amount", "updated_at") == [
        ("O1", 30.0, "2024-01-03"),
        ("O2", 11.0, "2024-01-01"),
    ]
    first_source = lake.tuples("silver.orders", "order_id", "_source")[0]
    assert first_source == ("O1", "orders/orders-1.jsonl:1")


@pytest.mark.parametrize(
    ("line", "counted"),
    [
        (order("O1", "C1", 99, "2023-12-31"), "rows_duplicate"),  # older than the table's O1
        (order("O7", "C9", 70, "2024-01-01"), "rows_quarantined"),  # unknown customer
        (order("O7", "C1", -7, "2024-01-01"), "rows_dropped"),
    ],
    ids=["stale", "quarantined", "dropped"],
)
def test_a_batch_that_changes_no_silver_row_is_consumed_once(
    shop: Lake, first: RunResult, line: str, counted: str
) -> None:
    """Regression: a merge that changed nothing committed nothing, so the batch was
    reprocessed (and logged) by every later run."""
    shop.write_orders("orders-2.jsonl", [line])
    run = shop.run()
    flow = run.flow("silver.orders")
    assert flow.status == "completed"
    assert getattr(flow, counted) == 1
    assert shop.tuples("silver.orders", "order_id", "amount") == [
        ("O1", 30.0), ("O2", 5.0), ("O6", 12.0),
    ]
    quarantined = 4 if counted == "rows_quarantined" else 3
    assert shop.read("quarantine.orders").height == quarantined
    before = shop.versions()
    again = shop.run()
    assert {f.status for f in again.flows} == {"skipped"}
    assert shop.versions() == before
    assert shop.read("quarantine.orders").height == quarantined


def test_a_bronze_rebuild_alone_makes_the_next_run_rebuild_silver(
    shop: Lake, first: RunResult
) -> None:
    shop.run(select=["bronze"], full_refresh=True)
    assert shop.read("bronze.orders").height == 8
    run = shop.run()
    assert run.flow("silver.orders").rows_read == 8
    assert shop.tuples("silver.orders", "order_id", "amount") == [
        ("O1", 30.0), ("O2", 5.0), ("O6", 12.0),
    ]
    assert shop.read("quarantine.orders").height == 3
    assert set(shop.read("silver.orders").get_column("_batch_id")) == {
        shop.read("bronze.orders").get_column("_batch_id")[0]
    }


def test_full_refresh_rebuilds_every_table_without_doubling(
    shop: Lake, first: RunResult
) -> None:
    before = shop.versions()
    run = shop.run(full_refresh=True)
    assert {f.status for f in run.flows} == {"completed"}
    after = shop.versions()
    for ref, version in before.items():
        assert after[ref] == version + 1, ref
    assert shop.read("bronze.orders").height == 8
    assert shop.read("bronze.customers").height == 4
    assert shop.read("quarantine.orders").height == 3
    assert shop.read("quarantine.customers").height == 1
    assert shop.tuples("silver.orders", "order_id", "amount") == [
        ("O1", 30.0), ("O2", 5.0), ("O6", 12.0),
    ]
    assert run.flow("silver.orders").rows_read == 8
    assert shop.read("bronze.orders").get_column("_batch_id").unique().to_list() == [run.run_id]


def test_select_runs_only_the_chosen_tables(shop: Lake) -> None:
    run = shop.run(select=["bronze"])
    assert [f.table for f in run.flows] == ["bronze.customers", "bronze.orders"]
    assert set(shop.versions()) == {"bronze.customers", "bronze.orders", "_system.event_log"}

    run = shop.run(select=["silver.orders"])
    assert [(f.table, f.status, f.message) for f in run.flows] == [
        ("silver.orders", "skipped", "silver.customers has no data yet"),
    ]

    run = shop.run(select=["customers"])  # a bare name: bronze.customers and silver.customers
    assert [(f.table, f.status) for f in run.flows] == [
        ("bronze.customers", "skipped"), ("silver.customers", "completed"),
    ]
    run = shop.run(select=["silver.orders"])
    assert [(f.table, f.status) for f in run.flows] == [("silver.orders", "completed")]
    assert shop.read("silver.orders").height == 3
    assert not shop.exists("gold.customer_totals")


def test_select_of_an_unknown_table_names_the_tables(shop: Lake) -> None:
    from shoplake import ShoplakeError

    with pytest.raises(ShoplakeError, match=r"^--select 'silver\.nope' matches no table; "
                       r"the tables are: bronze\.customers, bronze\.orders, "):
        shop.run(select=["silver.nope"])
    assert not shop.lake.exists()


def test_this_receives_the_tables_current_rows(make_lake: MakeLake) -> None:
    seen: list[Any] = []
    lake = make_lake(build(seen))
    lake.write("customers/customers-1.csv", CUSTOMERS_1)
    lake.write_orders("orders-1.jsonl", ORDERS_1)
    lake.run()
    assert seen == [None]  # no rows before the first commit
    assert lake.tuples("gold.roster", "customer_id") == [("C1",), ("C2",), ("C4",)]

    lake.write("customers/customers-2.csv", "customer_id,name\nC5,Eve\n")
    lake.run(select=["bronze.customers", "gold.roster"])
    assert seen == [None, ["C1", "C2", "C4"]]
    assert lake.read("gold.roster").height == 4

    lake.run(select=["gold.roster"], full_refresh=True)
    assert seen[-1] is None  # a rebuild starts from nothing


def test_rows_in_count_what_a_table_read_before_its_own_filters_and_joins(
    make_lake: MakeLake,
) -> None:
    p = build([])

    @p.table(layer="gold")
    def orders_named(silver_orders: nw.LazyFrame, silver_customers: nw.LazyFrame) -> nw.LazyFrame:
        names = silver_customers.select("customer_id", "name")
        return silver_orders.join(names, on="customer_id", how="inner").select("order_id", "name")

    lake = make_lake(p)
    lake.write("customers/customers-1.csv", CUSTOMERS_1)
    lake.write_orders("orders-1.jsonl", ORDERS_1)
    run = lake.run()

    # roster filters the unreadable customer line out of four bronze rows.
    roster = run.flow("gold.roster")
    assert (roster.rows_read, roster.rows_written) == (4, 3)
    assert roster.read_by_input == (("bronze.customers", 4),)
    joined = run.flow("gold.orders_named")
    silver_orders, silver_customers = lake.read("silver.orders"), lake.read("silver.customers")
    assert dict(joined.read_by_input) == {
        "silver.orders": silver_orders.height,
        "silver.customers": silver_customers.height,
    }
    assert joined.rows_read == silver_orders.height + silver_customers.height
    assert joined.rows_written == lake.read("gold.orders_named").height
    # An incremental table counts the new rows of the input it streams from.
    assert run.flow("silver.orders").read_by_input == (("bronze.orders", len(ORDERS_1)),)

    events = lake.read("_system.event_log").filter(pl.col("table") == "gold.roster")
    assert json.loads(events.get_column("rows_read_by_input")[0]) == {"bronze.customers": 4}
    assert events.get_column("rows_read")[0] == 4


# --- files --------------------------------------------------------------------------------


def test_a_copied_or_touched_file_adds_no_bronze_rows(shop: Lake, first: RunResult) -> None:
    shutil.copy(shop.landing / "orders/orders-1.jsonl", shop.landing / "orders/orders-9.jsonl")
    run = shop.run(select=["bronze"])
    flow = run.flow("bronze.orders")
    assert (flow.status, flow.rows_written, flow.files) == ("completed", 0, 0)
    assert flow.message == "1 file(s) already ingested under another name"
    assert shop.read("bronze.orders").height == 8

    original = shop.landing / "orders/orders-1.jsonl"
    stat = original.stat()
    os.utime(original, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    run = shop.run(select=["bronze"])
    assert run.flow("bronze.orders").rows_written == 0
    assert shop.read("bronze.orders").height == 8
    assert shop.run(select=["bronze"]).flow("bronze.orders").status == "skipped"


def test_a_copied_file_changes_nothing_downstream(shop: Lake, first: RunResult) -> None:
    """An empty bronze commit (the copy) must not make silver or gold commit, now or later."""
    before = shop.versions()
    shutil.copy(shop.landing / "orders/orders-1.jsonl", shop.landing / "orders/orders-9.jsonl")
    run = shop.run()
    assert run.status == "completed"
    after = shop.versions()
    for ref in ("silver.orders", "quarantine.orders", "gold.customer_totals"):
        assert after[ref] == before[ref], ref
    settled = shop.versions()
    shop.run()
    assert shop.versions() == settled


def test_a_copy_arriving_in_the_same_batch_adds_no_rows(make_lake: MakeLake) -> None:
    """Regression: identical files in one batch were both ingested."""
    lake = make_lake()
    lake.write_orders("orders-1.jsonl", ORDERS_1)
    lake.write_orders("orders-1-copy.jsonl", ORDERS_1)
    run = lake.run(select=["bronze.orders"])
    flow = run.flow("bronze.orders")
    assert (flow.rows_written, flow.files) == (8, 1)
    assert flow.message == "1 file(s) already ingested under another name"
    assert lake.read("bronze.orders").height == 8
    assert len({s.rpartition(":")[0] for s in lake.read("bronze.orders")["_source"]}) == 1


# --- malformed CSV lines ------------------------------------------------------------------


def bronze_items(make_lake: MakeLake, text: str) -> tuple[RunResult, Callable[[], list[Any]]]:
    p = Pipeline("csv")
    p.source("items", format="csv", columns=["id", "qty"])
    lake = make_lake(p)
    lake.write("items/items-1.csv", text)
    run = lake.run()
    return run, lambda: lake.read("bronze.items").select(
        "id", "qty", "_source", "_rescued_data"
    ).rows()


def test_malformed_csv_lines_keep_their_text_and_line(make_lake: MakeLake) -> None:
    run, rows = bronze_items(make_lake, 'id,qty\n1,2\n"2"\n3,4,5,6\n4,5\n')
    assert run.status == "completed"
    assert rows() == [
        ("1", "2", "items/items-1.csv:2", None),
        (None, None, "items/items-1.csv:3", '{"_corrupt_record":"\\"2\\""}'),
        (None, None, "items/items-1.csv:4", '{"_corrupt_record":"3,4,5,6"}'),
        ("4", "5", "items/items-1.csv:5", None),
    ]


def check_lines(make_lake: MakeLake, text: str) -> None:
    """Every line of ``text`` is one bronze row with its line number, malformed or not."""
    run, rows = bronze_items(make_lake, text)
    assert run.status == "completed", run.flows[0].message
    lines = text.replace("\r\n", "\n").split("\n")
    by_source = {source: (i, q, rescued) for i, q, source, rescued in rows()}
    for number, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        i, q, rescued = by_source.pop(f"items/items-1.csv:{number}")
        if line.count(",") == 1:
            assert (i, q, rescued) == (*line.split(","), None)
        else:
            assert json.loads(rescued) == {"_corrupt_record": line}
    assert by_source == {}


@pytest.mark.parametrize(
    "text",
    [
        "id,qty\n1,2\n3,4,5",  # the malformed line is last and has no newline
        "id,qty\r\n1,2\r\n3\r\n4,5\r\n",  # Windows line ends
        "id,qty\n3\n1,2\n3\n3\n4,5\n",  # the same malformed text three times
    ],
    ids=["no-final-newline", "crlf", "repeated"],
)
def test_malformed_csv_lines_in_awkward_files(make_lake: MakeLake, text: str) -> None:
    check_lines(make_lake, text)


@pytest.mark.parametrize(
    "text", ["id,qty\n1,2\n\n3,4\n", "id,qty\n1,2\n\n3\n4,5\n"], ids=["good", "malformed"]
)
def test_a_blank_csv_line_does_not_shift_line_numbers(make_lake: MakeLake, text: str) -> None:
    """Regression: pyarrow skips blank lines, which shifted every later line number."""
    check_lines(make_lake, text)


def test_csv_columns_are_matched_by_header_name(make_lake: MakeLake) -> None:
    p = Pipeline("csv")
    p.source("items", format="csv", columns=["id", "qty"])
    lake = make_lake(p)
    lake.write("items/items-1.csv", 'qty,"id"\n2,007\n')  # another order, a quoted name
    lake.write("items/items-2.csv", "id\n008\n")  # a declared column missing
    (lake.landing / "items/items-3.csv.gz").write_bytes(gzip.compress(b"id,qty\n009,4\n5\n"))
    assert lake.run().status == "completed"
    assert lake.tuples("bronze.items", "_source", "id", "qty", "_rescued_data") == [
        ("items/items-1.csv:2", "007", "2", None),
        ("items/items-2.csv:2", "008", None, None),
        ("items/items-3.csv.gz:2", "009", "4", None),
        ("items/items-3.csv.gz:3", None, None, '{"_corrupt_record":"5"}'),
    ]


def test_an_upsert_keeps_one_row_for_a_null_key_across_batches(make_lake: MakeLake) -> None:
    """Regression: the merge matched keys with =, so each batch added another null-key row."""
    p = Pipeline("nulls")
    p.source("orders", format="jsonl", columns=["order_id", "amount", "updated_at"])

    @p.table(layer="silver", kind=Upsert(keys=["order_id"], sequence_by="updated_at"))
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders.drop("_ingested_at")

    lake = make_lake(p)
    lake.write_orders(
        "orders-1.jsonl", [order(None, "C1", 1, "2024-01-01"), order(None, "C1", 2, "2024-01-02")]
    )
    assert lake.run().flow("silver.orders").rows_duplicate == 1
    assert lake.tuples("silver.orders", "amount") == [("2",)]  # one row, as in a batch
    lake.write_orders("orders-2.jsonl", [order(None, "C1", 3, "2024-01-03")])
    lake.run()
    assert lake.tuples("silver.orders", "amount") == [("3",)]


@pytest.mark.parametrize(
    ("name", "fmt", "text"),
    [
        ("items-1.csv", "csv", "\ufeffid,qty\n007,2\n"),
        ("items-1.jsonl", "jsonl", '\ufeff{"id": "007", "qty": "2"}\n'),
    ],
    ids=["csv", "jsonl"],
)
def test_a_byte_order_mark_changes_no_value(
    make_lake: MakeLake, name: str, fmt: str, text: str
) -> None:
    """Regression: a BOM turned '007' into '7' (CSV) or line 1 into a corrupt record."""
    p = Pipeline("bom")
    p.source("items", format=fmt, columns=["id", "qty"])
    lake = make_lake(p)
    lake.write(f"items/{name}", text)
    assert lake.run().status == "completed"
    line = 2 if fmt == "csv" else 1
    assert lake.tuples("bronze.items", "id", "qty", "_source", "_rescued_data") == [
        ("007", "2", f"items/{name}:{line}", None)
    ]
