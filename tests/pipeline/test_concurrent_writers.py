"""Another writer on the same tables: what a process reads of a table's log stays true
when someone else commits, and a commit another writer wins is planned again.

The rival here is a plain delta-rs write from the test, made between the moment the
flow loaded its snapshot of the table and its MERGE: the commit race ``watch`` and
``stream`` ran into (tests/streaming/test_watch_and_stream.py runs the real thing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, write_deltalake

from lakes import LakeHarness, MakeHarness
from shoplake import Pipeline, Upsert
from shoplake.engines.polars_delta import PolarsDeltaEngine
from shoplake.pipeline import runner


def _commit(uri: str, n: int, writer: str = "the test") -> None:
    # "O2~n" sorts between O2 and O3: inside the key range a MERGE of O2 and O3 reads.
    rows = pa.table({"order_id": [f"O2~{n}"], "amount": [float(n)]})
    meta = {"shoplake.writer": writer, "step": str(n)}
    write_deltalake(
        uri, rows, mode="append", commit_properties=CommitProperties(custom_metadata=meta)
    )


def test_a_kept_snapshot_reads_each_commit_under_its_own_version(tmp_path: Path) -> None:
    uri = str(tmp_path / "lake" / "silver" / "orders")
    for n in range(3):
        _commit(uri, n)
    engine = PolarsDeltaEngine(str(tmp_path / "lake"), reuse_snapshots=True)
    with engine.pinned_snapshots():
        assert engine.version("silver.orders") == 2
        for n in range(3, 6):  # another process commits past the pinned snapshot
            _commit(uri, n)
        # Inside the session: the pinned view, each commit under its own number (delta-rs'
        # history() would number the newest commits in storage down from 2).
        assert [(c["version"], c["step"]) for c in engine.history("silver.orders")] == [
            (2, "2"),
            (1, "1"),
            (0, "0"),
        ]
        assert engine.commit_metadata_since("silver.orders", "step", 0) == [(1, "1"), (2, "2")]
    with engine.pinned_snapshots():  # a new session reads the log up to date once
        assert engine.version("silver.orders") == 5
        assert engine.commit_metadata_since("silver.orders", "step", 3) == [(4, "4"), (5, "5")]
    # The rows appended in a range are those of its commits, not the newest ones.
    appended = engine.read_appended("silver.orders", 1, 3)
    assert appended is not None
    assert sorted(appended.collect().to_native()["order_id"].to_list()) == ["O2~2", "O2~3"]


def build() -> Pipeline:
    p = Pipeline("rivals")
    p.source("orders", format="jsonl", columns=["order_id", "amount"])

    @p.table(layer="silver", kind=Upsert(keys=["order_id"]))
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders.select("order_id", nw.col("amount").cast(nw.Float64))

    @p.table(layer="gold")
    def total(silver_orders: nw.LazyFrame) -> nw.LazyFrame:
        return silver_orders.select(nw.col("amount").sum().alias("total"), nw.len().alias("n"))

    return p


@pytest.fixture
def shop(lake_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch) -> LakeHarness:
    monkeypatch.setattr(runner, "_BACKOFF_S", 0.01)
    harness = lake_harness(build())
    harness.write(
        "orders/a.jsonl", '{"order_id": "O1", "amount": 1}\n{"order_id": "O2", "amount": 2}\n'
    )
    assert harness.run().status == "completed"
    harness.write(
        "orders/b.jsonl", '{"order_id": "O2", "amount": 20}\n{"order_id": "O3", "amount": 3}\n'
    )
    return harness


def _rival_wins(monkeypatch: pytest.MonkeyPatch, uri: str, times: int) -> list[int]:
    """The next ``times`` MERGEs into ``uri`` lose the race to a rival's append."""
    original = DeltaTable.merge
    won: list[int] = []

    def merge(table: DeltaTable, *args: Any, **kwargs: Any) -> Any:
        if table.table_uri.rstrip("/").endswith(uri) and len(won) < times:
            won.append(len(won))
            _commit(uri, 100 + len(won), writer="nightly backfill (pid 4242 on etl-7)")
        return original(table, *args, **kwargs)

    monkeypatch.setattr(DeltaTable, "merge", merge)
    return won


def test_a_commit_lost_to_another_writer_is_planned_again(
    shop: LakeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    won = _rival_wins(monkeypatch, str(shop.lake / "silver" / "orders"), times=2)
    engine = PolarsDeltaEngine(str(shop.lake))
    with engine.pinned_snapshots():  # as a batch holding the lake runs
        run = shop.run(engine)
    assert len(won) == 2
    assert run.status == "completed", [f.message for f in run.flows]
    rows = dict(shop.read("silver.orders").select("order_id", "amount").iter_rows())
    # Without a sequence_by the first row seen of a key stays (O2: 2.0), as in any run.
    assert rows == {"O1": 1.0, "O2": 2.0, "O3": 3.0, "O2~101": 101.0, "O2~102": 102.0}
    assert shop.read("gold.total").row(0) == (sum(rows.values()), 5)


def test_a_writer_that_always_wins_fails_the_flow_naming_it(
    shop: LakeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = shop.versions()
    won = _rival_wins(monkeypatch, str(shop.lake / "silver" / "orders"), times=99)
    run = shop.run()
    assert len(won) == runner.COMMIT_ATTEMPTS
    flows = {f.table: f for f in run.flows}
    failed = flows["silver.orders"]
    assert failed.status == "failed"
    assert "another writer won the commit 4 times in a row" in failed.message
    assert "by nightly backfill (pid 4242 on etl-7)" in failed.message
    assert "\n" not in failed.message
    assert flows["gold.total"].status == "skipped"
    # Nothing of the flow committed: only the rival's rows are new in silver.
    assert shop.versions()["silver.orders"] == before["silver.orders"] + runner.COMMIT_ATTEMPTS
    rows = shop.read("silver.orders")
    assert sorted(rows["order_id"].to_list()) == [
        "O1",
        "O2",
        "O2~101",
        "O2~102",
        "O2~103",
        "O2~104",
    ]
    assert rows.filter(pl.col("order_id") == "O2")["amount"].item() == 2.0
    # The rerun, once alone, takes the file exactly once.
    monkeypatch.undo()
    again = shop.run()
    assert again.status == "completed"
    assert json.dumps(sorted(shop.read("silver.orders")["order_id"].to_list())).count("O3") == 1


def test_a_file_archived_while_the_landing_is_listed_is_not_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing outside the lake lock (a progress bar's count, `watch`) can race the
    lock holder archiving a file: the file it named is gone, not an error."""
    from shoplake.sources import listing

    folder = tmp_path / "orders"
    folder.mkdir()
    for name in ("a.csv", "b.csv", "c.csv"):
        (folder / name).write_text("order_id\n1\n")
    real_walk = listing.os.walk

    def walk_then_archive(top: object, **kwargs: object) -> object:
        for entry in real_walk(top, **kwargs):  # type: ignore[call-overload]
            (folder / "b.csv").unlink(missing_ok=True)  # archived after the names were read
            yield entry

    monkeypatch.setattr(listing.os, "walk", walk_then_archive)
    found, rejected = listing.scan(tmp_path, "orders", "csv")
    assert [f.path for f in found] == ["orders/a.csv", "orders/c.csv"]
    assert rejected == []
