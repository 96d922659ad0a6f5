"""Exactly-once delivery through crashes, and the event log that records each run.

A crash is simulated by making one engine write raise — before its commit (the
quarantine batch is already committed) or after it (the next bookkeeping step never
happens) — and then running again with a healthy engine. Whatever happened, every
bronze row must end in its silver table or in quarantine exactly once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest
from deltalake import DeltaTable

from lakes import LakeHarness, MakeHarness
from shoplake import Append, Pipeline, Upsert, expect
from shoplake.engines.polars_delta import PolarsDeltaEngine
from shoplake.pipeline.event_log import write_run_events

Versions = Callable[[Path], dict[str, int]]


class DiskFull(OSError):
    """The simulated crash."""


def build() -> Pipeline:
    p = Pipeline("once")
    p.source("orders", format="jsonl", columns=["order_id", "amount"])
    positive = expect("positive_amount", nw.col("amount") > 0, action="quarantine",
                      severity="high")

    @p.table(
        layer="silver",
        kind=Upsert(keys=["order_id"]),
        expectations=[
            positive,
            expect("small", nw.col("amount") < 100, action="warn", severity="low"),
            expect("not_blocked", nw.col("order_id") != "BLOCKED", action="fail",
                   severity="critical"),
        ],
    )
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders.with_columns(nw.col("amount").cast(nw.Float64))

    @p.table(layer="silver", kind=Append(), expectations=[positive])
    def order_log(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders.with_columns(nw.col("amount").cast(nw.Float64))

    @p.table(layer="gold")
    def total(silver_orders: nw.LazyFrame) -> nw.LazyFrame:
        return silver_orders.select(nw.col("amount").sum().alias("total"), nw.len().alias("n"))

    return p


def write_orders(landing: Path, name: str, rows: list[tuple[str, float]]) -> None:
    folder = landing / "orders"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"order_id": o, "amount": a}) for o, a in rows]
    (folder / name).write_text("\n".join(lines) + "\n")


FIRST = [("O1", 10), ("O2", -5), ("O3", 20), ("O4", 0), ("O5", 150)]
SECOND = [("O6", 7), ("O7", -1), ("O8", 30)]
THIRD = [("O9", -2), ("O10", 40)]


class Shop(LakeHarness):
    def sources(self, ref: str) -> list[str]:
        return self.read(ref).get_column("_source").to_list()

    def assert_exactly_once(self, target: str) -> None:
        """Every bronze row is in ``target`` or its quarantine, once (keys are unique)."""
        quarantine = "quarantine." + target.partition(".")[2]
        placed = Counter(self.sources(target) + self.sources(quarantine))
        assert placed == Counter(self.sources("bronze.orders"))
        assert set(placed.values()) == {1}
        amounts = self.read(quarantine).get_column("record").map_elements(
            lambda r: json.loads(r)["amount"], return_dtype=pl.Float64
        )
        assert (amounts <= 0).all()
        assert (self.read(target).get_column("amount") > 0).all()


def crashing(engine: PolarsDeltaEngine, method: str, target: str, *, after_commit: bool) -> None:
    """Make ``engine.<method>`` raise for ``target``, before or after its real commit."""
    real = getattr(engine, method)

    def write(ref: str, *args: Any, **kwargs: Any) -> Any:
        if ref != target:
            return real(ref, *args, **kwargs)
        if after_commit:
            real(ref, *args, **kwargs)
        raise DiskFull("disk full")

    setattr(engine, method, write)


@pytest.fixture
def shop(lake_harness: MakeHarness) -> Shop:
    shop = lake_harness(build(), Shop)
    write_orders(shop.landing, "orders-1.jsonl", FIRST)
    return shop


TARGETS = pytest.mark.parametrize(
    ("target", "incremental_write"),
    [("silver.orders", "upsert"), ("silver.order_log", "append")],
    ids=["upsert", "append"],
)


# --- crashes on the first run (the target's first write is an overwrite) -------------------


@TARGETS
def test_crash_after_the_quarantine_commit_is_repaired_exactly_once(
    shop: Shop, target: str, incremental_write: str
) -> None:
    engine = shop.new_engine()
    crashing(engine, "overwrite", target, after_commit=False)
    run = shop.run(engine)
    flow = run.flow(target)
    assert (flow.status, flow.message) == ("failed", f"{target}: DiskFull: disk full")
    quarantine = "quarantine." + target.partition(".")[2]
    assert shop.read(quarantine).height == 2  # committed before the crash
    assert not (shop.lake / "silver" / target.partition(".")[2]).exists()

    rerun = shop.run()
    assert rerun.flow(target).status == "completed"
    assert rerun.flow(target).rows_quarantined == 2
    shop.assert_exactly_once(target)
    assert shop.read(quarantine).height == 2


@TARGETS
def test_crash_after_the_target_commit_is_not_redone(
    shop: Shop, target: str, incremental_write: str
) -> None:
    engine = shop.new_engine()
    crashing(engine, "overwrite", target, after_commit=True)
    assert shop.run(engine).flow(target).status == "failed"
    version = DeltaTable(str(shop.lake / "silver" / target.partition(".")[2])).version()

    rerun = shop.run()
    assert (rerun.flow(target).status, rerun.flow(target).message) == ("skipped", "no new input")
    shop.assert_exactly_once(target)
    assert DeltaTable(str(shop.lake / "silver" / target.partition(".")[2])).version() == version


def test_crash_before_the_event_log_is_written(shop: Shop, versions_of: Versions) -> None:
    engine = shop.new_engine()
    crashing(engine, "append", "_system.event_log", after_commit=False)
    with pytest.raises(DiskFull):
        shop.run(engine)
    before = versions_of(shop.lake)
    assert "_system.event_log" not in before

    rerun = shop.run()
    assert {f.status for f in rerun.flows} == {"skipped"}
    assert versions_of(shop.lake) == before
    shop.assert_exactly_once("silver.orders")
    shop.assert_exactly_once("silver.order_log")


# --- crashes on an incremental run --------------------------------------------------------


@TARGETS
def test_incremental_crash_after_the_quarantine_commit_is_repaired_exactly_once(
    shop: Shop, target: str, incremental_write: str
) -> None:
    shop.run()
    write_orders(shop.landing, "orders-2.jsonl", SECOND)
    engine = shop.new_engine()
    crashing(engine, incremental_write, target, after_commit=False)
    assert shop.run(engine).flow(target).status == "failed"
    quarantine = "quarantine." + target.partition(".")[2]
    assert shop.read(quarantine).height == 3  # the second batch's quarantine is committed

    rerun = shop.run()
    assert rerun.flow(target).status == "completed"
    assert rerun.flow(target).rows_read == 3
    shop.assert_exactly_once(target)
    assert shop.read(target).height == 5


@TARGETS
def test_incremental_crash_after_the_target_commit_is_not_redone(
    shop: Shop, target: str, incremental_write: str
) -> None:
    shop.run()
    write_orders(shop.landing, "orders-2.jsonl", SECOND)
    engine = shop.new_engine()
    crashing(engine, incremental_write, target, after_commit=True)
    assert shop.run(engine).flow(target).status == "failed"

    rerun = shop.run()
    assert rerun.flow(target).status == "skipped"
    shop.assert_exactly_once(target)


@TARGETS
def test_new_files_arriving_before_the_rerun_do_not_double_quarantine(
    shop: Shop, target: str, incremental_write: str
) -> None:
    """Regression: the rerun read (last, current] and wrote the crashed batch's quarantine
    rows a second time."""
    shop.run()
    write_orders(shop.landing, "orders-2.jsonl", SECOND)
    engine = shop.new_engine()
    crashing(engine, incremental_write, target, after_commit=False)
    assert shop.run(engine).flow(target).status == "failed"
    write_orders(shop.landing, "orders-3.jsonl", THIRD)

    rerun = shop.run()
    assert rerun.flow(target).status == "completed"
    shop.assert_exactly_once(target)
    quarantine = "quarantine." + target.partition(".")[2]
    assert sorted(shop.read(quarantine).get_column("_source")) == [
        "orders/orders-1.jsonl:2", "orders/orders-1.jsonl:4", "orders/orders-2.jsonl:2",
        "orders/orders-3.jsonl:1",
    ]


# --- the event log ------------------------------------------------------------------------


def events(shop: Shop) -> pl.DataFrame:
    return shop.read("_system.event_log")


def test_event_log_brackets_a_run_and_records_each_flow(shop: Shop) -> None:
    run = shop.run()
    log = events(shop)
    assert log.get_column("run_id").unique().to_list() == [run.run_id]
    assert log.get_column("event_type").to_list() == (
        ["run_start"] + ["flow_progress"] * 4 + ["run_end"]
    )
    flows = {r["table"]: r for r in log.filter(pl.col("event_type") == "flow_progress").to_dicts()}
    assert list(flows) == ["bronze.orders", "silver.orders", "silver.order_log", "gold.total"]
    for ref, row in flows.items():
        layer, _, name = ref.partition(".")
        assert row["delta_version"] == DeltaTable(str(shop.lake / layer / name)).version() == 0
        assert row["status"] == "completed"
        assert row["layer"] == layer

    bronze = flows["bronze.orders"]
    assert (bronze["kind"], bronze["rows_read"], bronze["rows_written"], bronze["files"]) == (
        "source", 5, 5, 1
    )
    assert bronze["expectations"] is None

    orders = flows["silver.orders"]
    assert (orders["kind"], orders["rows_read"], orders["rows_written"]) == ("upsert", 5, 3)
    assert (orders["rows_quarantined"], orders["rows_dropped"], orders["rows_duplicate"]) == (
        2, 0, 0
    )
    assert json.loads(orders["expectations"]) == [
        {"name": "positive_amount", "action": "quarantine", "severity": "high",
         "passed": 3, "failed": 2},
        {"name": "small", "action": "warn", "severity": "low", "passed": 4, "failed": 1},
        {"name": "not_blocked", "action": "fail", "severity": "critical",
         "passed": 5, "failed": 0},
    ]
    # (4·3 + 1·4 + 8·5) / (4·5 + 1·5 + 8·5) = 56 / 65
    assert orders["quality_score"] == round(100 * 56 / 65, 2) == 86.15
    assert orders["message"] is None

    start, end = log.row(0, named=True), log.row(-1, named=True)
    assert start["status"] == "running"
    assert end["status"] == "completed"
    assert end["rows_read"] == 5  # rows landed in bronze
    assert end["rows_written"] == 5 + 3 + 3 + 1
    assert end["rows_quarantined"] == 2 + 2
    # both silver tables' rules: (56 + 4·3) / (65 + 4·5)
    assert end["quality_score"] == run.quality_score == round(100 * 68 / 85, 2)
    assert start["timestamp"] <= end["timestamp"]


def test_event_log_records_a_failed_flow_and_what_it_blocked(shop: Shop) -> None:
    first = shop.run()
    write_orders(shop.landing, "orders-2.jsonl", [("BLOCKED", 1)])
    run = shop.run(full_refresh=True)
    assert run.status == "failed"
    log = events(shop).filter(pl.col("run_id") == run.run_id)
    rows = {r["table"]: r for r in log.to_dicts() if r["event_type"] == "flow_progress"}
    failed = rows["silver.orders"]
    assert failed["status"] == "failed"
    assert failed["message"].startswith(
        "silver.orders: expectation 'not_blocked' failed for 1 row(s); nothing was committed."
    )
    assert failed["delta_version"] is None
    assert (rows["gold.total"]["status"], rows["gold.total"]["message"]) == (
        "skipped", "upstream failed: silver.orders"
    )
    assert rows["silver.order_log"]["status"] == "completed"
    assert log.filter(pl.col("event_type") == "run_end").get_column("status").to_list() == [
        "failed"
    ]
    assert set(events(shop).get_column("run_id")) == {first.run_id, run.run_id}


def test_a_run_with_nothing_to_do_logs_nothing(shop: Shop) -> None:
    shop.run()
    version = DeltaTable(str(shop.lake / "_system" / "event_log")).version()
    assert {f.status for f in shop.run().flows} == {"skipped"}
    assert DeltaTable(str(shop.lake / "_system" / "event_log")).version() == version
    assert events(shop).height == 6


def test_writing_a_runs_events_twice_does_not_double_them(shop: Shop) -> None:
    """The event-log write is keyed by the run id, so a retried write adds nothing."""
    run = shop.run()
    rows = events(shop).height
    start = events(shop).get_column("timestamp").min()
    write_run_events(shop.new_engine(), run, start, start)
    assert events(shop).height == rows


@TARGETS
def test_a_first_run_crash_then_new_files_is_repaired_exactly_once(
    shop: Shop, target: str, incremental_write: str
) -> None:
    engine = shop.new_engine()
    crashing(engine, "overwrite", target, after_commit=False)
    assert shop.run(engine).flow(target).status == "failed"
    write_orders(shop.landing, "orders-2.jsonl", SECOND)

    rerun = shop.run()
    flow = rerun.flow(target)
    assert flow.status == "completed"
    assert (flow.rows_read, flow.rows_quarantined) == (8, 3)
    shop.assert_exactly_once(target)


def test_a_replayed_flow_logs_each_expectation_once(shop: Shop) -> None:
    shop.run()
    write_orders(shop.landing, "orders-2.jsonl", SECOND)
    engine = shop.new_engine()
    crashing(engine, "upsert", "silver.orders", after_commit=False)
    assert shop.run(engine).flow("silver.orders").status == "failed"
    write_orders(shop.landing, "orders-3.jsonl", THIRD)

    rerun = shop.run()
    flow = rerun.flow("silver.orders")
    assert (flow.rows_read, flow.rows_quarantined) == (5, 2)
    log = events(shop).filter(
        (pl.col("run_id") == rerun.run_id) & (pl.col("table") == "silver.orders")
    ).row(0, named=True)
    assert json.loads(log["expectations"]) == [
        {"name": "positive_amount", "action": "quarantine", "severity": "high",
         "passed": 3, "failed": 2},
        {"name": "small", "action": "warn", "severity": "low", "passed": 5, "failed": 0},
        {"name": "not_blocked", "action": "fail", "severity": "critical",
         "passed": 5, "failed": 0},
    ]
