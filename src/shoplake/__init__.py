"""shoplake: a local-first lakehouse — declarative bronze/silver/gold Delta Lake pipelines.

The public API is what this module exports; everything else is internal.

Example::

    import narwhals as nw
    from shoplake import Pipeline, Upsert, expect

    pipeline = Pipeline("shop")
    pipeline.source("orders", format="jsonl", columns=["order_id", "amount"])

    @pipeline.table(
        layer="silver",
        kind=Upsert(keys=["order_id"]),
        expectations=[expect("positive_amount", nw.col("amount") > 0, action="quarantine")],
    )
    def orders(bronze_orders):
        return bronze_orders.with_columns(nw.col("amount").cast(nw.Float64))

    result = run(pipeline, lake="./lake", landing="./landing")

Besides the names below, ``shoplake.testing`` helps test a pipeline's tables.
"""

from shoplake.api import run, validate
from shoplake.engines import create_engine
from shoplake.errors import (
    ConfigError,
    DefinitionError,
    ExpectationFailed,
    FlowError,
    ShoplakeError,
    ValidationError,
)
from shoplake.pipeline.context import lazy_like
from shoplake.pipeline.expectations import (
    Action,
    Expectation,
    Severity,
    expect,
    expect_equals_sum,
    expect_exists,
    expect_unique,
)
from shoplake.pipeline.kinds import (
    Append,
    ApplyChanges,
    Materialized,
    Partitioned,
    PartitionPlan,
    ReplaceRows,
    ScdColumns,
    Upsert,
)
from shoplake.pipeline.metadata import Column
from shoplake.pipeline.results import FlowResult, RuleResult, RunResult
from shoplake.pipeline.table_rules import expect_fresh, expect_row_count, expect_volume
from shoplake.pipeline.tables import Pipeline
from shoplake.streaming.decode import decode_json

__all__ = [
    "Action",
    "Append",
    "ApplyChanges",
    "Column",
    "ConfigError",
    "DefinitionError",
    "Expectation",
    "ExpectationFailed",
    "FlowError",
    "FlowResult",
    "Materialized",
    "PartitionPlan",
    "Partitioned",
    "Pipeline",
    "ReplaceRows",
    "RuleResult",
    "RunResult",
    "ScdColumns",
    "Severity",
    "ShoplakeError",
    "Upsert",
    "ValidationError",
    "create_engine",
    "decode_json",
    "expect",
    "expect_equals_sum",
    "expect_exists",
    "expect_fresh",
    "expect_row_count",
    "expect_unique",
    "expect_volume",
    "lazy_like",
    "run",
    "validate",
]
__version__ = "0.1.0"
