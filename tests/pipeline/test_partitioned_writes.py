"""The engine's atomic replacements behind Partitioned tables."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import narwhals as nw
import polars as pl

from shoplake.engines.delta_tables import partition_predicate
from shoplake.engines.polars_delta import PolarsDeltaEngine


def _frame(data: dict[str, list[object]]) -> nw.DataFrame[object]:
    return nw.from_native(pl.DataFrame(data), eager_only=True)


def test_replace_rows_updates_inserts_and_deletes_only_the_given_keys(tmp_path: Path) -> None:
    engine = PolarsDeltaEngine(str(tmp_path))
    engine.overwrite("gold.t", _frame({"k": ["a", "b", "c"], "v": [1, 2, 3]}))
    written = engine.replace_rows(
        "gold.t",
        _frame({"k": ["a", "d"], "v": [10, 40]}),
        _frame({"k": ["a", "b", "d"]}),  # b is affected and gone now; c is not affected
        partition_by=["k"],
        transactions={"gold.t<-silver.x": 7},
    )
    rows = pl.read_delta(str(tmp_path / "gold" / "t")).sort("k").rows()
    assert rows == [("a", 10), ("c", 3), ("d", 40)]
    assert engine.consumed("gold.t", "gold.t<-silver.x") == 7
    assert written.version == 1


def test_replace_rows_without_a_change_still_records_the_input(tmp_path: Path) -> None:
    engine = PolarsDeltaEngine(str(tmp_path))
    engine.overwrite("gold.t", _frame({"k": ["a"], "v": [1]}))
    engine.replace_rows(
        "gold.t",
        _frame({"k": ["a"], "v": [1]}).head(0),
        _frame({"k": ["z"]}),
        partition_by=["k"],
        transactions={"gold.t<-silver.x": 3},
    )
    assert engine.consumed("gold.t", "gold.t<-silver.x") == 3
    assert pl.read_delta(str(tmp_path / "gold" / "t")).rows() == [("a", 1)]


def test_partition_predicates_quote_values_and_handle_nulls() -> None:
    assert partition_predicate([(date(2026, 1, 1),), (None,)], ["month"]) == (
        '("month" IN (\'2026-01-01\') OR "month" IS NULL)'
    )
    assert partition_predicate([(2026, "it's")], ["year", "name"], alias="t") == (
        "((t.\"year\" = 2026 AND t.\"name\" = 'it''s'))"
    )
