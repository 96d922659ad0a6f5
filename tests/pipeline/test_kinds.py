"""Kinds are validated values: checked when built, not renamable, and they say what they
can do."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest
from deltalake import DeltaTable

import shoplake
from shoplake import (
    Append,
    ApplyChanges,
    DefinitionError,
    Materialized,
    Partitioned,
    Pipeline,
    ReplaceRows,
    ScdColumns,
    Upsert,
)


class Months:
    """A plan that recomputes everything (enough to build a kind)."""

    def affected(self, changed: Mapping[str, Any], inputs: Mapping[str, Any]) -> Any:
        return next(iter(inputs.values()))

    def restrict(self, keys: Any, inputs: Mapping[str, Any]) -> Mapping[str, Any]:
        return inputs


def exactly(message: str) -> Any:
    return pytest.raises(DefinitionError, match=f"^{re.escape(message)}$")


def test_a_kind_cannot_be_renamed_by_an_argument() -> None:
    with pytest.raises(TypeError):
        Append(name="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Materialized(name="x")  # type: ignore[call-arg]
    assert Append().name == "append"
    assert ReplaceRows(by=["id"], plan=Months()).name == "replace_rows"


def test_upsert_checks_its_keys_and_sequence() -> None:
    with exactly("Upsert(keys=[...]) needs at least one column"):
        Upsert(keys=[])
    with exactly("Upsert(keys=...) takes a list of column names, not 'order_id'"):
        Upsert(keys="order_id")
    with exactly("Upsert(sequence_by=...) takes a column name, not 3"):
        Upsert(keys=["id"], sequence_by=3)  # type: ignore[arg-type]
    assert Upsert(keys=["a", "b"]).keys == ("a", "b")


def test_partitioned_kinds_check_by_and_plan() -> None:
    with exactly("Partitioned(by=[...]) needs at least one column"):
        Partitioned(by=[], plan=Months())
    with exactly("ReplaceRows(by=[...]) needs at least one column"):
        ReplaceRows(by=[], plan=Months())
    with pytest.raises(DefinitionError, match=r"^Partitioned\(plan=\.\.\.\) needs an object"):
        Partitioned(by=["month"], plan=object())  # type: ignore[arg-type]
    # Several rows per key: the row identity must include the key it is replaced by.
    assert ReplaceRows(by=["c"], plan=Months()).rows == ("c",)
    assert ReplaceRows(by=["c"], plan=Months(), rows=["c", "r"]).rows == ("c", "r")
    with exactly("ReplaceRows(rows=[...]) must include the by columns; add c"):
        ReplaceRows(by=["c"], plan=Months(), rows=["r"])


def test_apply_changes_names_every_problem_at_once() -> None:
    with exactly(
        "ApplyChanges: scd_type must be 1 or 2, not 3; "
        "give track=[...] or track_except=[...], not both; "
        "buckets must be between 1 and 4096, not 0"
    ):
        ApplyChanges(["id"], "seq", scd_type=3, track=["a"], track_except=["b"], buckets=0)


@pytest.mark.parametrize(
    ("kind", "incremental", "replaces", "partial", "keys", "partition_by"),
    [
        (Append(), True, False, False, (), ()),
        (Upsert(keys=["id"], sequence_by="ts"), True, False, False, ("id",), ()),
        (Materialized(), False, True, False, (), ()),
        (Partitioned(by=["month"], plan=Months()), False, True, True, ("month",), ("month",)),
        (ReplaceRows(by=["customer"], plan=Months()), False, True, True, ("customer",), ()),
        (ApplyChanges(["id"], "seq"), True, False, False, ("id",), ()),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, bool | tuple) else None,
)
def test_kinds_say_what_they_can_do(
    kind: Any,
    incremental: bool,
    replaces: bool,
    partial: bool,
    keys: tuple[str, ...],
    partition_by: tuple[str, ...],
) -> None:
    assert kind.incremental is incremental
    assert kind.replaces is replaces
    assert kind.partial is partial
    assert kind.keys == keys
    assert kind.partition_by == partition_by


def test_kinds_are_equal_by_value_and_hashable() -> None:
    plan = Months()
    assert Upsert(keys=["id"]) == Upsert(keys=("id",))
    assert Upsert(keys=["id"]) != Upsert(keys=["id"], sequence_by="ts")
    assert Partitioned(by=["m"], plan=plan) != ReplaceRows(by=["m"], plan=plan)
    kinds = {Append(), Append(), Materialized(), Upsert(keys=["id"]), Upsert(keys=["id"])}
    assert len(kinds) == 3
    with pytest.raises(AttributeError):
        Upsert(keys=["id"]).sequence_by = "x"  # type: ignore[misc]


def test_delete_when_accepts_an_expression() -> None:
    kind = ApplyChanges(["id"], "seq", delete_when=nw.col("op") == "D")
    assert kind.keys == ("id",)


def test_apply_changes_with_an_expression_is_a_hashable_value() -> None:
    rule = nw.col("op") == "D"
    kind = ApplyChanges(["id"], "seq", delete_when=rule)
    assert kind == ApplyChanges(["id"], "seq", delete_when=rule)
    assert hash(kind) == hash(ApplyChanges(["id"], "seq", delete_when=rule))
    # Expressions have no value equality: another expression is another rule.
    assert kind != ApplyChanges(["id"], "seq", delete_when=nw.col("op") == "D")
    assert kind != ApplyChanges(["id"], "seq")
    assert ApplyChanges(["id"], "seq", delete_when="gone") == ApplyChanges(
        ["id"], "seq", delete_when="gone"
    )
    assert (
        len({kind, ApplyChanges(["id"], "seq", delete_when=rule), ApplyChanges(["id"], "s")}) == 2
    )


@pytest.mark.parametrize(
    ("kind", "required"),
    [
        (Append(), ()),
        (Upsert(keys=["id"]), ("id",)),
        (Upsert(keys=["id", "line"], sequence_by="ts"), ("id", "line", "ts")),
        (Materialized(), ()),
        (Partitioned(by=["year", "month"], plan=Months()), ("year", "month")),
        (ReplaceRows(by=["customer"], plan=Months()), ("customer",)),
        (ApplyChanges(["id"], "seq"), ("id", "seq")),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, tuple) else None,
)
def test_kinds_name_the_columns_their_output_needs(kind: Any, required: tuple[str, ...]) -> None:
    assert kind.required_columns == required


def test_only_history_adds_stored_columns() -> None:
    output = {"id": nw.String(), "seq": nw.Datetime("us")}
    assert Upsert(keys=["id"]).stored_schema(output) == output
    assert ApplyChanges(["id"], "seq", scd_type=1).stored_schema(output) == output
    history = ApplyChanges(["id"], "seq", columns=ScdColumns(valid_from="since", valid_to="until"))
    assert history.tracks_history
    assert history.stored_schema(output) == {
        **output,
        "since": nw.Datetime("us"),
        "until": nw.Datetime("us"),
        "is_current": nw.Boolean(),
        "surrogate_key": nw.Int64(),
    }


def test_only_apply_changes_implies_rules() -> None:
    rules = ApplyChanges(["id"], "seq").implied_rules()
    assert [(r.name, r.action.value, r.severity) for r in rules] == [
        ("keys_present", "quarantine", "critical"),
        ("sequence_by_present", "quarantine", "high"),
    ]
    assert Upsert(keys=["id"]).implied_rules() == ()
    assert ReplaceRows(by=["id"], plan=Months()).implied_rules() == ()


def test_validate_reports_a_partition_key_the_output_lacks(tmp_path: Path) -> None:
    p = Pipeline("shop")
    p.source("orders", format="jsonl", columns=["order_id", "customer_id"])

    @p.table(layer="gold", kind=ReplaceRows(by=["customer"], plan=Months()))
    def totals(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders.group_by("customer_id").agg(nw.len().alias("orders"))

    assert shoplake.validate(p, lake=tmp_path / "lake") == [
        "gold.totals: column 'customer' (a key, sequence or partition column) is not in the "
        "output; it has: customer_id, orders"
    ]


# --- ReplaceRows end to end ---------------------------------------------------------------


class Customers:
    """The customers whose orders changed, and only their orders."""

    def affected(
        self, changed: Mapping[str, nw.LazyFrame], inputs: Mapping[str, nw.LazyFrame]
    ) -> nw.LazyFrame:
        return changed["silver_orders"].select("customer_id")

    def restrict(
        self, keys: nw.LazyFrame, inputs: Mapping[str, nw.LazyFrame]
    ) -> Mapping[str, nw.LazyFrame]:
        return {"silver_orders": inputs["silver_orders"].join(keys, on="customer_id", how="semi")}


def replace_rows_pipeline(calls: list[list[str]]) -> Pipeline:
    p = Pipeline("rows")
    p.source("orders", format="jsonl", columns=["order_id", "customer_id", "amount"])

    @p.table(layer="silver", kind=Append())
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders.select("order_id", "customer_id", nw.col("amount").cast(nw.Float64))

    @p.table(layer="gold", kind=ReplaceRows(by=["customer_id"], plan=Customers()))
    def balances(silver_orders: nw.LazyFrame) -> nw.LazyFrame:
        calls.append(sorted(silver_orders.collect().get_column("customer_id").unique()))
        # A customer whose refunds cancel their orders has no balance row.
        totals = silver_orders.group_by("customer_id").agg(nw.col("amount").sum())
        return totals.filter(nw.col("amount") != 0)

    return p


def orders_file(root: Path, name: str, *rows: tuple[str, str, float]) -> None:
    folder = root / "landing" / "orders"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"order_id": o, "customer_id": c, "amount": a}) for o, c, a in rows]
    (folder / name).write_text("\n".join(lines) + "\n")


def test_replace_rows_replaces_exactly_the_rows_of_the_keys_a_batch_touched(
    tmp_path: Path,
) -> None:
    calls: list[list[str]] = []
    p = replace_rows_pipeline(calls)
    lake = tmp_path / "lake"

    def run() -> Any:
        return shoplake.run(p, lake=lake, landing=tmp_path / "landing")

    def balances() -> list[tuple[str, float]]:
        return pl.read_delta(str(lake / "gold" / "balances")).sort("customer_id").rows()

    orders_file(tmp_path, "1.jsonl", ("O1", "C1", 10), ("O2", "C2", 20), ("O3", "C3", 30))
    first = run().flow("gold.balances")
    assert (first.kind, first.status) == ("replace_rows", "completed")
    assert balances() == [("C1", 10.0), ("C2", 20.0), ("C3", 30.0)]

    # C1 orders again and C3's order is refunded; C2 is not touched.
    orders_file(tmp_path, "2.jsonl", ("O4", "C1", 5), ("R3", "C3", -30))
    second = run().flow("gold.balances")

    assert second.message == "2 key(s) recomputed"
    assert calls[-1] == ["C1", "C3"]  # the function saw only the touched customers
    assert balances() == [("C1", 15.0), ("C2", 20.0)]  # C3's row is gone, C2's kept
    assert DeltaTable(str(lake / "gold" / "balances")).metadata().partition_columns == []
    assert run().flow("gold.balances").status == "skipped"
