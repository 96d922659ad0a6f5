"""A run with nothing new ends after comparing the lake with the note of the last settled
run (``ingest/quiet.py``), without opening a table; anything that changed since sends it
down the usual path."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest

from shoplake import Pipeline, Upsert, expect
from shoplake.engines.polars_delta import PolarsDeltaEngine
from shoplake.ingest.archive import ArchivePolicy
from shoplake.ingest.loader import LoaderConfig, run_available
from shoplake.ingest.quiet import NOTE


def build(*, with_count: bool = False, broken: bool = False) -> Pipeline:
    p = Pipeline("quiet")
    p.source("orders", format="jsonl", columns=["order_id", "amount"])

    @p.table(
        layer="silver",
        kind=Upsert(keys=["order_id"]),
        expectations=[expect("positive", nw.col("amount") > 0, action="quarantine")],
    )
    def orders(bronze_orders: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        return bronze_orders.with_columns(nw.col("amount").cast(nw.Float64))

    @p.table(layer="gold")
    def totals(silver_orders: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
        if broken:
            raise ValueError("broken on purpose")
        return silver_orders.select(nw.len().alias("n"), nw.col("amount").sum().alias("sum"))

    if with_count:

        @p.table(layer="gold")
        def order_count(silver_orders: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
            return silver_orders.select(nw.len().alias("n"))

    return p


def land(landing: Path, name: str, amounts: list[int]) -> None:
    folder = landing / "orders"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [f'{{"order_id": "{name}-{i}", "amount": "{a}"}}' for i, a in enumerate(amounts)]
    (folder / f"{name}.jsonl").write_text("\n".join(rows) + "\n")


class Counting(PolarsDeltaEngine):
    """Counts every table it opens from the log."""

    opened = 0

    def _load(self, ref: str, version: int | None) -> Any:
        Counting.opened += 1
        return super()._load(ref, version)


@pytest.fixture
def lake(tmp_path: Path) -> tuple[Path, Path]:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    land(landing, "a", [5, 0, 7])
    return landing, lake


def run(landing: Path, lake: Path, pipeline: Pipeline | None = None) -> list[Any]:
    config = LoaderConfig(archive=ArchivePolicy(mode="leave"))
    return run_available(pipeline or build(), Counting(str(lake)), landing, config=config)


def totals(lake: Path) -> tuple[int, float]:
    row = pl.read_delta(str(lake / "gold" / "totals")).row(0)
    return int(row[0]), float(row[1])


def test_a_run_with_nothing_new_opens_no_table(lake: tuple[Path, Path]) -> None:
    landing, root = lake
    assert [r.status for r in run(landing, root)] == ["succeeded"]
    assert (root / NOTE).is_file()
    Counting.opened = 0
    assert run(landing, root) == []
    assert Counting.opened == 0
    assert totals(root) == (2, 12.0)

    land(landing, "b", [1])  # a new file is seen at once
    assert [r.status for r in run(landing, root)] == ["succeeded"]
    assert totals(root) == (3, 13.0)


def test_a_commit_from_another_process_is_processed(lake: tuple[Path, Path]) -> None:
    landing, root = lake
    run(landing, root)
    # As a stream's micro-batch would: rows appended to bronze behind the loader's back.
    other = PolarsDeltaEngine(str(root))
    extra = other.read("bronze.orders").collect().to_native().head(1)
    extra = extra.with_columns(pl.lit("x-1").alias("order_id"), pl.lit("4").alias("amount"))
    other.append("bronze.orders", nw.from_native(extra, eager_only=True))
    run(landing, root)
    assert totals(root) == (3, 16.0)


def test_a_removed_table_is_built_again(lake: tuple[Path, Path]) -> None:
    landing, root = lake
    run(landing, root)
    shutil.rmtree(root / "gold" / "totals")
    run(landing, root)
    assert totals(root) == (2, 12.0)


def test_a_table_added_to_the_pipeline_is_built(lake: tuple[Path, Path]) -> None:
    landing, root = lake
    run(landing, root)
    run(landing, root, build(with_count=True))
    assert pl.read_delta(str(root / "gold" / "order_count"))["n"].to_list() == [2]


def test_a_failed_run_leaves_no_note_to_trust(lake: tuple[Path, Path]) -> None:
    landing, root = lake
    run(landing, root)
    land(landing, "c", [3])
    broken = build(broken=True)
    assert [r.status for r in run(landing, root, broken)] == ["failed"]
    assert totals(root) == (2, 12.0)
    run(landing, root)  # fixed: the table catches up, though nothing new landed
    assert totals(root) == (3, 15.0)
