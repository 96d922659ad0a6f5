"""Definition-time errors and graph problems, with the exact messages users read."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest

import shoplake
from shoplake import (
    Append,
    DefinitionError,
    Materialized,
    Pipeline,
    Upsert,
    ValidationError,
    expect,
    expect_exists,
)
from shoplake.engines.polars_delta import PolarsDeltaEngine
from shoplake.pipeline.graph import build_graph


def raises_exactly(message: str) -> Any:
    """``pytest.raises`` for a DefinitionError whose whole message is ``message``."""
    return pytest.raises(DefinitionError, match=f"^{re.escape(message)}$")


def _named(name: str) -> Callable[[nw.LazyFrame], nw.LazyFrame]:
    """A one-input table function called ``name`` (its parameter is ``frame``)."""

    def function(frame: nw.LazyFrame) -> nw.LazyFrame:
        return frame

    function.__name__ = name
    return function


# --- tables -----------------------------------------------------------------------------


def test_unknown_layer_is_rejected_naming_the_layers() -> None:
    p = Pipeline("p")
    with raises_exactly("unknown layer 'platinum'; use one of bronze, silver, gold"):
        p.table(layer="platinum")


@pytest.mark.parametrize("kind", ["upsert", Upsert, 42])
def test_unknown_kind_is_rejected(kind: object) -> None:
    p = Pipeline("p")
    with raises_exactly(
        "kind must be Append(), Upsert(keys=[...]), ApplyChanges(keys=[...], sequence_by=...), "
        f"Materialized(), Partitioned(by=[...], plan=...) or ReplaceRows(by=[...], plan=...), "
        f"not {kind!r}"
    ):
        p.table(layer="silver", kind=kind)  # type: ignore[arg-type]


def test_stream_must_name_a_parameter() -> None:
    p = Pipeline("p")
    p.source("orders", format="jsonl", columns=["order_id"])
    decorate = p.table(layer="silver", kind=Append(), stream="bronze_oders")
    with raises_exactly(
        "table 'silver.orders': stream='bronze_oders' is not a parameter of orders()"
    ):

        @decorate
        def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
            return bronze_orders

    assert list(p.definitions) == ["bronze.orders"]


def test_stream_on_a_materialized_table_is_rejected() -> None:
    p = Pipeline("p")
    with raises_exactly(
        "table 'gold.totals': stream= only applies to Append, Upsert and ApplyChanges tables"
    ):

        @p.table(layer="gold", kind=Materialized(), stream="silver_orders")
        def totals(silver_orders: nw.LazyFrame) -> nw.LazyFrame:
            return silver_orders


def test_incremental_table_needs_an_input() -> None:
    p = Pipeline("p")
    with raises_exactly(
        "table 'silver.orders': an incremental table needs at least one input parameter"
    ):

        @p.table(layer="silver", kind=Upsert(keys=["order_id"]))
        def orders(this: nw.LazyFrame | None) -> nw.LazyFrame:
            raise AssertionError("never called")


def test_inputs_must_name_a_parameter() -> None:
    p = Pipeline("p")
    with raises_exactly(
        "table 'silver.orders': inputs names parameter 'raw', but orders() has no such "
        "parameter (it has: frame)"
    ):
        p.table(layer="silver", inputs={"raw": "bronze.orders"})(_named("orders"))


def test_duplicate_table_is_rejected_and_the_first_is_kept() -> None:
    p = Pipeline("shop")

    @p.table(layer="silver")
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders

    first = p.definitions["silver.orders"]
    with raises_exactly(
        "table 'silver.orders' is defined twice in pipeline 'shop'; rename one of them"
    ):
        p.table(layer="silver", name="orders")(_named("other"))
    assert p.definitions["silver.orders"] is first


def test_a_source_and_a_bronze_table_of_the_same_name_collide() -> None:
    p = Pipeline("shop")
    p.source("orders", format="csv", columns=["order_id"])
    with raises_exactly(
        "table 'bronze.orders' is defined twice in pipeline 'shop'; rename one of them"
    ):
        p.table(layer="bronze", name="orders")(_named("orders"))
    with raises_exactly(
        "table 'bronze.orders' is defined twice in pipeline 'shop'; rename one of them"
    ):
        p.source("orders", format="jsonl", columns=["order_id"])


@pytest.mark.parametrize("bad", ["Orders", "order-items", "2024_orders", "order items", "ørders"])
def test_table_and_source_names_must_be_lower_snake_case(bad: str) -> None:
    p = Pipeline("p")
    reason = "must be lower_snake_case (letters, digits, '_'), because it becomes a folder " \
        "and a column-safe identifier"
    with raises_exactly(f"table name {bad!r} {reason}"):
        p.table(layer="silver", name=bad)(_named("ok"))
    with raises_exactly(f"source name {bad!r} {reason}"):
        p.source(bad, format="csv", columns=["a"])
    assert p.definitions == {}


def test_a_trailing_newline_is_not_a_valid_name() -> None:
    """Regression: re.match with '$' also matched before a trailing newline."""
    p = Pipeline("p")
    with pytest.raises(DefinitionError, match="must be lower_snake_case"):
        p.source("orders\n", format="csv", columns=["a"])
    with pytest.raises(DefinitionError, match="must be lower_snake_case"):
        p.table(layer="silver", name="orders\n")(_named("ok"))
    with pytest.raises(DefinitionError, match="is not an identifier"):
        expect("positive\n", nw.col("x") > 0)


def test_source_format_and_columns_are_checked() -> None:
    p = Pipeline("p")
    with raises_exactly("source 'orders': unknown format 'xml'; use one of csv, jsonl, parquet"):
        p.source("orders", format="xml", columns=["a"])
    with raises_exactly("source 'orders': declare at least one column"):
        p.source("orders", format="csv", columns=[])


def test_table_takes_its_name_inputs_and_stream_from_the_function() -> None:
    p = Pipeline("p")

    @p.table(layer="silver", kind=Upsert(keys=["id"]), stream="bronze_b")
    def joined(bronze_a: nw.LazyFrame, bronze_b: nw.LazyFrame, this: object) -> nw.LazyFrame:
        """Joined rows."""
        return bronze_a

    definition = p.definitions["silver.joined"]
    assert definition.params == ("bronze_a", "bronze_b", "this")
    assert definition.stream == "bronze_b"
    assert definition.wants_this
    assert definition.description == "Joined rows."
    assert definition.kind == Upsert(keys=["id"])


# --- expectations -----------------------------------------------------------------------


def test_expect_rejects_an_unknown_action() -> None:
    with raises_exactly(
        "expectation 'positive': unknown action 'explode'; use one of warn, drop, quarantine, fail"
    ):
        expect("positive", nw.col("x") > 0, action="explode")


def test_expect_rejects_an_unknown_severity() -> None:
    with raises_exactly(
        "expectation 'positive': unknown severity 'urgent'; use one of low, medium, high, "
        "critical"
    ):
        expect("positive", nw.col("x") > 0, severity="urgent")


@pytest.mark.parametrize(
    ("condition", "type_name"),
    [(True, "bool"), ("x > 0", "str"), (pl.col("x") > 0, "Expr"), (None, "NoneType")],
)
def test_expect_needs_a_narwhals_expression(condition: object, type_name: str) -> None:
    with raises_exactly(
        "expectation 'positive': the condition must be a narwhals expression such as "
        f"nw.col('quantity') > 0, not {type_name}"
    ):
        expect("positive", condition)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["valid email", "1st", "a-b", ""])
def test_expectation_names_must_be_identifiers(bad: str) -> None:
    message = (
        f"expectation name {bad!r} is not an identifier: use letters, digits and '_' "
        "(for example 'valid_email')"
    )
    with raises_exactly(message):
        expect(bad, nw.col("x") > 0)
    with raises_exactly(message):
        expect_exists(bad, "x", ref="silver.x")


def test_expect_defaults_and_values() -> None:
    rule = expect("positive", nw.col("x") > 0)
    assert (rule.action.value, rule.severity.value) == ("warn", "medium")
    exists = expect_exists("known", ["a", "b"], ref="silver.t", ref_columns=["x", "y"])
    assert (exists.action.value, exists.severity.value) == ("quarantine", "high")
    assert exists.columns == ("a", "b") and exists.ref_columns == ("x", "y")


def test_expect_exists_checks_ref_and_columns() -> None:
    with raises_exactly(
        "expectation 'known': ref 'customers' must name a table as 'layer.name', "
        "for example 'silver.customers'"
    ):
        expect_exists("known", "customer_id", ref="customers")
    with raises_exactly(
        "expectation 'known': give as many ref_columns as columns (('a', 'b') vs ('x',))"
    ):
        expect_exists("known", ["a", "b"], ref="silver.t", ref_columns="x")
    with raises_exactly("expectation 'known': unknown action 'maybe'; use one of warn, drop, "
                        "quarantine, fail"):
        expect_exists("known", "a", ref="silver.t", action="maybe")


# --- graph problems -----------------------------------------------------------------------


def test_missing_input_is_a_problem() -> None:
    p = Pipeline("p")

    @p.table(layer="gold")
    def totals(silver_orders: nw.LazyFrame) -> nw.LazyFrame:
        return silver_orders

    @p.table(layer="gold", inputs={"raw": "bronze.nothing"})
    def other(raw: nw.LazyFrame) -> nw.LazyFrame:
        return raw

    assert build_graph(p).problems == (
        "gold.totals: parameter 'silver_orders' names no table; declare it, or use "
        "inputs={'silver_orders': 'layer.name'}",
        "gold.other: input 'raw' refers to 'bronze.nothing', which is not defined",
    )


def test_ambiguous_bare_name_is_a_problem_and_prefixed_names_resolve() -> None:
    p = Pipeline("p")
    p.source("orders", format="jsonl", columns=["order_id"])

    @p.table(layer="silver")
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders

    @p.table(layer="gold")
    def totals(orders: nw.LazyFrame) -> nw.LazyFrame:
        return orders

    @p.table(layer="gold")
    def counts(silver_orders: nw.LazyFrame, totals: nw.LazyFrame) -> nw.LazyFrame:
        return silver_orders

    graph = build_graph(p)
    assert graph.problems == (
        "gold.totals: parameter 'orders' is ambiguous: it could be bronze.orders or "
        "silver.orders; name it bronze_orders or silver_orders",
    )
    assert graph.inputs["silver.orders"] == {"bronze_orders": "bronze.orders"}
    assert graph.inputs["gold.counts"] == {
        "silver_orders": "silver.orders",
        "totals": "gold.totals",
    }


def test_cycle_is_reported_with_its_path() -> None:
    p = Pipeline("p")

    @p.table(layer="silver")
    def a(silver_c: nw.LazyFrame) -> nw.LazyFrame:
        return silver_c

    @p.table(layer="silver")
    def b(silver_a: nw.LazyFrame) -> nw.LazyFrame:
        return silver_a

    @p.table(layer="silver")
    def c(silver_b: nw.LazyFrame) -> nw.LazyFrame:
        return silver_b

    @p.table(layer="gold")
    def d(silver_a: nw.LazyFrame) -> nw.LazyFrame:
        return silver_a

    graph = build_graph(p)
    assert graph.problems == (
        "cycle between tables: silver.a -> silver.c -> silver.b -> silver.a",
    )


def test_cycle_through_a_cross_table_rule() -> None:
    p = Pipeline("p")

    @p.table(layer="silver", expectations=[expect_exists("known", "k", ref="silver.b")])
    def a(silver_x: nw.LazyFrame) -> nw.LazyFrame:
        return silver_x

    @p.table(layer="silver")
    def b(silver_a: nw.LazyFrame) -> nw.LazyFrame:
        return silver_a

    @p.table(layer="silver")
    def x() -> nw.LazyFrame:
        raise AssertionError("never called")

    assert build_graph(p).problems == ("cycle between tables: silver.a -> silver.b -> silver.a",)


def test_reading_itself_is_a_problem() -> None:
    p = Pipeline("p")

    @p.table(layer="silver", inputs={"me": "silver.a"})
    def a(me: nw.LazyFrame) -> nw.LazyFrame:
        return me

    assert build_graph(p).problems == (
        "silver.a: reads itself; use the parameter name 'this' for its current rows",
    )


def test_exists_in_an_unknown_table_and_duplicate_rule_names_are_problems() -> None:
    p = Pipeline("p")
    p.source("orders", format="jsonl", columns=["order_id", "customer_id"])

    @p.table(
        layer="silver",
        kind=Upsert(keys=["order_id"]),
        expectations=[
            expect("present", ~nw.col("order_id").is_null()),
            expect("present", ~nw.col("customer_id").is_null()),
            expect_exists("customer_exists", "customer_id", ref="silver.customers"),
        ],
    )
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders

    assert build_graph(p).problems == (
        "silver.orders: expectation 'present' is declared twice",
        "silver.orders: expectation 'customer_exists' refers to table 'silver.customers', "
        "which is not defined",
    )


def test_a_sound_graph_has_no_problems_and_a_dependency_order() -> None:
    p = Pipeline("p")

    @p.table(layer="gold")
    def report(silver_orders: nw.LazyFrame, silver_customers: nw.LazyFrame) -> nw.LazyFrame:
        return silver_orders

    @p.table(layer="silver", expectations=[
        expect_exists("customer_exists", "customer_id", ref="silver.customers")
    ])
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders

    @p.table(layer="silver")
    def customers(bronze_customers: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_customers

    p.source("orders", format="jsonl", columns=["order_id"])
    p.source("customers", format="csv", columns=["customer_id"])
    graph = build_graph(p)
    assert graph.problems == ()
    order = list(graph.order)
    assert order.index("silver.customers") < order.index("silver.orders") < order.index(
        "gold.report"
    )
    assert order.index("bronze.orders") < order.index("silver.orders")
    assert graph.upstream("silver.orders") == {"bronze.orders", "silver.customers"}
    assert graph.downstream("silver.customers") == ["silver.orders", "gold.report"]


def test_run_pipeline_raises_validation_error_listing_every_problem(tmp_path: Path) -> None:
    p = Pipeline("p")
    p.source("orders", format="jsonl", columns=["order_id"])

    @p.table(
        layer="silver",
        kind=Upsert(keys=["order_id"]),
        expectations=[expect_exists("known", "order_id", ref="silver.nowhere")],
    )
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders

    @p.table(layer="gold")
    def totals(silver_order: nw.LazyFrame) -> nw.LazyFrame:
        return silver_order

    (tmp_path / "landing" / "orders").mkdir(parents=True)
    (tmp_path / "landing" / "orders" / "o.jsonl").write_text('{"order_id": "O1"}\n')
    lake = tmp_path / "lake"
    with pytest.raises(ValidationError) as info:
        shoplake.run(p, engine=PolarsDeltaEngine(str(lake)), landing=tmp_path / "landing")
    problems = [
        "silver.orders: expectation 'known' refers to table 'silver.nowhere', which is not "
        "defined",
        "gold.totals: parameter 'silver_order' names no table; declare it, or use "
        "inputs={'silver_order': 'layer.name'}",
    ]
    assert info.value.problems == problems
    assert str(info.value) == "the pipeline has 2 problem(s):\n" + "\n".join(
        f"  - {p}" for p in problems
    )
    assert not lake.exists(), "nothing may be written when the graph has problems"
