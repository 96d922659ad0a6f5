"""Kinds are validated values: checked when built, not renamable, and they say what they
can do."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import narwhals as nw
import pytest

from shoplake import (
    Append,
    ApplyChanges,
    DefinitionError,
    Materialized,
    Partitioned,
    ReplaceRows,
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
