"""shoplake.testing: what a user needs to test their own tables."""

from __future__ import annotations

import math
import sys
import tempfile
import types
from pathlib import Path

import narwhals as nw
import polars as pl
import pytest

from backends import Backend
from shoplake import ExpectationFailed, Materialized, Pipeline, Upsert, expect, expect_exists
from shoplake.testing import TempLake, assert_rows_equal, lazy_frame, rows_of, run_table


def shop() -> Pipeline:
    pipeline = Pipeline("shop")
    pipeline.source("orders", format="jsonl", columns=["order_id", "customer_id", "amount"])
    pipeline.source("customers", format="csv", columns=["customer_id", "name"])

    @pipeline.table(layer="silver", kind=Upsert(keys=["customer_id"]))
    def customers(bronze_customers: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_customers.select("customer_id", "name")

    @pipeline.table(
        layer="silver",
        kind=Upsert(keys=["order_id"]),
        expectations=[
            expect("positive_amount", nw.col("amount") > 0, action="quarantine", severity="high"),
            expect_exists("customer_exists", "customer_id", ref="silver.customers", action="warn"),
            expect("has_id", ~nw.col("order_id").is_null(), action="drop"),
        ],
    )
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders.select("order_id", "customer_id", nw.col("amount").cast(nw.Float64))

    @pipeline.table(layer="gold", kind=Materialized())
    def revenue_by_customer(silver_orders: nw.LazyFrame) -> nw.LazyFrame:
        return silver_orders.group_by("customer_id").agg(nw.col("amount").sum())

    return pipeline


ORDERS = [
    {"order_id": "O1", "customer_id": "C1", "amount": "5"},
    {"order_id": "O2", "customer_id": "C1", "amount": "-1"},
    {"order_id": "O3", "customer_id": "C9", "amount": "2.5"},
    {"order_id": None, "customer_id": "C1", "amount": "1"},
]
CUSTOMERS = [{"customer_id": "C1", "name": "Ada"}]


@pytest.mark.parametrize("backend", ["polars", "duckdb"])
def test_run_table_applies_the_function_and_its_rules(backend: str) -> None:
    out = run_table(
        shop(),
        "silver.orders",
        {"bronze.orders": ORDERS, "silver.customers": CUSTOMERS},
        backend=backend,  # type: ignore[arg-type]
    )

    assert_rows_equal(
        out.rows,
        [
            {"order_id": "O1", "customer_id": "C1", "amount": 5.0},
            {"order_id": "O3", "customer_id": "C9", "amount": 2.5},
        ],
    )
    assert [(r["order_id"], r["_rule"]) for r in out.quarantined] == [("O2", "positive_amount")]
    assert out.dropped == 1
    assert [(r["customer_id"], r["_rule"]) for r in out.dropped_rows] == [("C1", "has_id")]
    assert (out.rule("customer_exists").passed, out.rule("customer_exists").failed) == (3, 1)


def test_run_table_shows_the_dropped_rows_and_every_rule_they_failed(backend: Backend) -> None:
    p = Pipeline("p")
    p.source("orders", format="jsonl", columns=["order_id", "amount"])

    @p.table(
        layer="silver",
        expectations=[
            expect("has_id", ~nw.col("order_id").is_null(), action="drop"),
            expect("positive", nw.col("amount") > 0, action="drop"),
        ],
    )
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders

    rows = [{"order_id": "O1", "amount": 1}, {"order_id": None, "amount": -1},
            {"order_id": "O3", "amount": 0}]  # fmt: skip
    out = run_table(p, "silver.orders", {"bronze.orders": backend.lazy(rows)},
                    backend=backend.name)  # type: ignore[arg-type]  # fmt: skip

    assert out.rows == [{"order_id": "O1", "amount": 1}]
    assert (out.dropped, out.quarantined) == (2, [])
    assert out.dropped_rows == [
        {"order_id": None, "amount": -1, "_rule": "has_id", "_failed_rules": "has_id,positive"},
        {"order_id": "O3", "amount": 0, "_rule": "positive", "_failed_rules": "positive"},
    ]
    with pytest.raises(KeyError, match="no rule 'nope'"):
        out.rule("nope")


def test_run_table_takes_a_bare_table_name_and_parameter_names() -> None:
    out = run_table(
        shop(),
        "revenue_by_customer",
        {
            "silver_orders": [
                {"customer_id": "C1", "amount": 2.0},
                {"customer_id": "C1", "amount": 3.0},
            ]
        },
    )

    assert out.rows == [{"customer_id": "C1", "amount": 5.0}]


def test_run_table_names_a_missing_input() -> None:
    with pytest.raises(KeyError, match=r"silver\.orders reads bronze\.orders"):
        run_table(shop(), "silver.orders", {"silver.customers": CUSTOMERS})


def test_a_fail_rule_raises_as_in_a_run() -> None:
    p = Pipeline("p")
    p.source("orders", format="jsonl", columns=["order_id"])

    @p.table(
        layer="silver", expectations=[expect("known", nw.col("order_id") != "X", action="fail")]
    )
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders

    with pytest.raises(ExpectationFailed, match="known"):
        run_table(p, "silver.orders", {"bronze.orders": [{"order_id": "X"}]})


def test_assert_rows_equal_shows_missing_and_unexpected_rows() -> None:
    with pytest.raises(AssertionError) as info:
        assert_rows_equal(
            [{"id": 1, "v": 7.0}, {"id": 3, "v": 1.0}],
            [{"id": 1, "v": 7.0}, {"id": 2, "v": 8.0}],
        )

    assert str(info.value) == (
        "rows differ (2 expected, 2 actual):\n"
        "  missing     {id: 2, v: 8.0}\n"
        "  unexpected  {id: 3, v: 1.0}"
    )


def test_assert_rows_equal_on_keys_shows_the_changed_values() -> None:
    with pytest.raises(AssertionError) as info:
        assert_rows_equal(
            [{"id": 1, "v": 7.5, "w": "a"}, {"id": 4, "v": 0.0, "w": "z"}],
            [{"id": 1, "v": 7.0, "w": "b"}, {"id": 2, "v": 8.0, "w": "c"}],
            keys=["id"],
        )

    assert str(info.value) == (
        "rows differ (2 expected, 2 actual):\n"
        "  changed     id=1: v 7.0 → 7.5, w 'b' → 'a'\n"
        "  missing     id=2: {id: 2, v: 8.0, w: 'c'}\n"
        "  unexpected  id=4: {id: 4, v: 0.0, w: 'z'}"
    )


def test_assert_rows_equal_ignores_extra_columns_order_and_float_noise() -> None:
    assert_rows_equal(
        [{"id": 2, "v": 0.1 + 0.2, "_source": "x"}, {"id": 1, "v": 1.0, "_source": "y"}],
        [{"id": 1, "v": 1.0}, {"id": 2, "v": 0.3}],
    )
    with pytest.raises(AssertionError, match="another order"):
        assert_rows_equal([{"id": 2}, {"id": 1}], [{"id": 1}, {"id": 2}], ignore_order=False)


def test_assert_rows_equal_reports_a_key_found_twice() -> None:
    with pytest.raises(AssertionError) as info:
        assert_rows_equal(
            [{"id": 1, "v": 1.0}, {"id": 1, "v": 2.0}], [{"id": 1, "v": 1.0}], keys=["id"]
        )

    assert str(info.value) == (
        "rows differ (1 expected, 2 actual):\n"
        "  unexpected  id=1: {id: 1, v: 2.0}"
    )


def test_assert_rows_equal_takes_frames_and_a_tolerance() -> None:
    frame = pl.DataFrame({"id": [1, 2], "v": [1.0005, math.nan]})
    assert_rows_equal(frame, [{"id": 1, "v": 1.0}, {"id": 2, "v": math.nan}], rel_tol=1e-3)
    with pytest.raises(AssertionError, match=r"changed     id=1: v 1.0 → 1.0005"):
        assert_rows_equal(frame, [{"id": 1, "v": 1.0}, {"id": 2, "v": math.nan}], keys=["id"])
    with pytest.raises(AssertionError, match="another order"):
        assert_rows_equal(
            nw.from_native(frame).lazy(), list(reversed(rows_of(frame))), keys=["id"],
            ignore_order=False,
        )  # fmt: skip


def test_lazy_frame_and_rows_of_round_trip(backend: Backend) -> None:
    columns = {"id": [1, 2], "name": ["a", None]}
    frame = lazy_frame(columns, backend.name)  # type: ignore[arg-type]

    assert isinstance(frame, nw.LazyFrame)
    assert frame.implementation.name.lower() == backend.name
    assert rows_of(frame) == [{"id": 1, "name": "a"}, {"id": 2, "name": None}]
    assert rows_of(lazy_frame(rows_of(frame))) == rows_of(frame)
    with pytest.raises(ValueError, match="use one of polars, duckdb"):
        lazy_frame(columns, "spark")  # type: ignore[arg-type]


def test_temp_lake_runs_the_whole_pipeline() -> None:
    with TempLake(shop()) as lake:
        lake.land("customers", CUSTOMERS)
        lake.land("orders", ORDERS[:3])
        result = lake.run()

        assert result.status == "completed"
        assert_rows_equal(
            lake.rows("gold.revenue_by_customer"),
            [{"customer_id": "C1", "amount": 5.0}, {"customer_id": "C9", "amount": 2.5}],
        )
        assert [r["rule"] for r in lake.quarantine("silver.orders")] == ["positive_amount"]
        lake.land("orders", [{"order_id": "O4", "customer_id": "C1", "amount": "1"}])
        assert lake.run().flow("bronze.orders").rows_written == 1
        root = lake.root
    assert not root.exists()


# Mirrors the example in README.md's "Writing your own tables".
def test_the_readme_example() -> None:
    out = run_table(
        shop(),
        "silver.orders",
        {
            "bronze.orders": [
                {"order_id": "O1", "customer_id": "C1", "amount": "5"},
                {"order_id": "O2", "customer_id": "C1", "amount": "-1"},
            ],
            "silver.customers": [{"customer_id": "C1", "name": "Ada"}],
        },
    )
    assert_rows_equal(out.rows, [{"order_id": "O1", "customer_id": "C1", "amount": 5.0}])
    assert [r["_rule"] for r in out.quarantined] == ["positive_amount"]


def readme_block(heading: str, index: int = 0) -> str:
    """The ``index``-th python block under ``heading`` in README.md."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split(f"\n{heading}\n", 1)[1]
    return section.split("```python\n")[index + 1].split("\n```", 1)[0]


def test_the_readme_testing_example_runs_as_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    myshop = types.ModuleType("myshop")
    exec(readme_block("## Writing your own tables"), myshop.__dict__)
    monkeypatch.setitem(sys.modules, "myshop", myshop)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    tests: dict[str, object] = {}
    exec(readme_block("### Testing your tables"), tests)

    names = [name for name in tests if name.startswith("test_")]
    assert names == [
        "test_orders_cast_the_amount_and_quarantine_negatives",
        "test_the_whole_pipeline",
    ]
    for name in names:
        tests[name]()  # type: ignore[operator]
    assert list(tmp_path.iterdir()) == []  # the TempLake cleaned up after itself
