"""Testing a pipeline's tables, the way dbt unit tests and SQLMesh tests do: given rows in,
expected rows out, with a readable diff when they differ.

- :func:`run_table` runs ONE table function (and its expectations) on rows you give,
  with no lake at all, on Polars or DuckDB;
- :class:`TempLake` runs a WHOLE pipeline on source rows you land, in a throwaway lake,
  through the same ``shoplake.run`` as production;
- :func:`assert_rows_equal` compares rows and says what is missing, what is unexpected
  and, matched on keys, which values changed.
- :func:`lazy_frame` and :func:`rows_of` turn rows into a narwhals LazyFrame of a
  backend and any frame back into rows, for calling a transformation directly.

Example (pytest)::

    from shoplake.testing import assert_rows_equal, run_table
    from myshop import pipeline

    def test_orders_cast_the_amount_and_quarantine_negatives():
        out = run_table(pipeline, "silver.orders", {
            "bronze.orders": [{"order_id": "O1", "amount": "5"},
                              {"order_id": "O2", "amount": "-1"}],
        })
        assert_rows_equal(out.rows, [{"order_id": "O1", "amount": 5.0}])
        assert [r["_rule"] for r in out.quarantined] == ["positive_amount"]
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import narwhals as nw

from shoplake.api import run as run_pipeline
from shoplake.engines import create_engine
from shoplake.names import CSV, JSONL
from shoplake.pipeline.context import as_lazy
from shoplake.pipeline.expectations import Action, add_rule_flags, referenced
from shoplake.pipeline.graph import build_graph
from shoplake.pipeline.results import RuleResult, RunResult
from shoplake.pipeline.rules import RuleVerdict, failing, judge_rows, quarantine_labels
from shoplake.pipeline.tables import THIS, Pipeline, SourceDef, TableDef
from shoplake.rows import assert_rows_equal, rows_of

__all__ = [
    "BACKENDS",
    "TableRun",
    "TempLake",
    "assert_engines_agree",
    "assert_rows_equal",
    "lazy_frame",
    "rows_of",
    "run_table",
]

Rows = Sequence[Mapping[str, Any]]
Backend = Literal["polars", "duckdb", "pyspark"]
BACKENDS: tuple[Backend, ...] = ("polars", "duckdb")
"""The backends :func:`run_table` and :func:`lazy_frame` run on without extras;
``"pyspark"`` also works with ``shoplake[spark]`` installed (it starts, or reuses, a
local Spark session)."""


@dataclass(frozen=True)
class TableRun:
    """What one table function and its expectations made of the given rows."""

    rows: list[dict[str, Any]]
    """The rows the table would write."""
    quarantined: list[dict[str, Any]]
    """The rows its rules send to quarantine, each with ``_rule`` (the first failing
    quarantine rule) and ``_failed_rules`` (all of them, comma-separated)."""
    dropped: int
    """How many rows its ``drop`` rules removed."""
    rules: tuple[RuleResult, ...]
    """Each rule's passed and failed counts, in declaration order."""
    dropped_rows: list[dict[str, Any]]
    """The rows its ``drop`` rules removed (and no quarantine rule took), labelled like
    the quarantined ones: ``_rule`` and ``_failed_rules``."""

    def rule(self, name: str) -> RuleResult:
        """The counts of the rule called ``name``."""
        found = [r for r in self.rules if r.name == name]
        if not found:
            raise KeyError(f"no rule {name!r}; the rules are: {[r.name for r in self.rules]}")
        return found[0]


def lazy_frame(rows: Rows | Mapping[str, Sequence[Any]] | Any, backend: Backend = "polars") -> Any:
    """A narwhals LazyFrame on ``backend`` from rows (dicts), columns (a dict of lists),
    a Polars frame or a narwhals frame of any backend."""
    from shoplake.engines import parity

    parity.install()  # the same answers as a run on that backend's engine
    import polars as pl

    if isinstance(rows, nw.LazyFrame | nw.DataFrame):
        rows = pl.DataFrame(rows_of(rows))
    if isinstance(rows, pl.LazyFrame):
        rows = rows.collect()
    if not isinstance(rows, pl.DataFrame):
        rows = pl.DataFrame(rows if isinstance(rows, Mapping) else list(rows))
    if backend == "polars":
        return nw.from_native(rows).lazy()
    if backend == "duckdb":
        import duckdb

        return nw.from_native(duckdb.from_arrow(rows.to_arrow()))
    if backend == "pyspark":
        from shoplake.engines.spark_commits import to_spark
        from shoplake.engines.spark_session import build_session, spark_settings

        return nw.from_native(to_spark(build_session(spark_settings()), rows))
    raise ValueError(f"backend {backend!r}: use one of {', '.join(BACKENDS)}, pyspark")


def _table(pipeline: Pipeline, table: str) -> tuple[TableDef, dict[str, str]]:
    graph = build_graph(pipeline)
    refs = [r for r, d in graph.definitions.items() if table in (r, d.name)]
    if len(refs) != 1:
        known = ", ".join(r for r, d in graph.definitions.items() if isinstance(d, TableDef))
        raise KeyError(f"{table!r} names {len(refs)} tables; the pipeline's tables are: {known}")
    definition = graph.definitions[refs[0]]
    if not isinstance(definition, TableDef):
        raise KeyError(f"{refs[0]} is a source: give its rows as an input of a table instead")
    return definition, graph.inputs.get(refs[0], {})


def run_table(
    pipeline: Pipeline,
    table: str,
    inputs: Mapping[str, Rows | Any],
    *,
    this: Rows | None = None,
    backend: Backend = "polars",
) -> TableRun:
    """Run ``table``'s function on ``inputs`` (rows, or frames, by input ref such as
    ``"bronze.orders"`` or by parameter name) and apply its expectations.

    Tables that ``expect_exists`` rules refer to are inputs too. ``this`` is the table's
    own current rows for functions that take ``this``. A ``fail`` rule raises
    :class:`~shoplake.errors.ExpectationFailed` as it would in a run. Nothing is written.
    """
    definition, params = _table(pipeline, table)
    frames: dict[str, Any] = {}
    for param, ref in params.items():
        given = inputs.get(ref, inputs.get(param))
        if given is None:
            raise KeyError(f"{definition.ref} reads {ref} (parameter {param!r}): give its rows")
        frames[param] = lazy_frame(given, backend)
    if definition.wants_this:
        frames[THIS] = None if this is None else lazy_frame(this, backend)
    refs: dict[str, nw.LazyFrame[Any]] = {}
    for ref in sorted(referenced(definition.rules)):
        if ref not in inputs:
            raise KeyError(f"a rule of {definition.ref} checks {ref}: give its rows too")
        refs[ref] = lazy_frame(inputs[ref], backend)
    output = as_lazy(definition.fn(**frames), definition.ref)
    flagged = add_rule_flags(output, definition.rules, refs)
    # The same judgement as a run's, on the backend the rows were given in.
    verdict = judge_rows(definition, flagged, _collect)
    flags = verdict.flags
    dropped = flagged.head(0)
    if verdict.dropped:
        dropped = flagged.filter(
            failing(definition, flags, Action.DROP) & ~failing(definition, flags, Action.QUARANTINE)
        )
    return TableRun(
        rows=_collect(verdict.kept).rows(named=True),
        quarantined=_labelled(
            definition, verdict.quarantined, verdict, Action.QUARANTINE, verdict.quarantined_rows
        ),
        dropped=verdict.dropped,
        rules=verdict.rules,
        dropped_rows=_labelled(definition, dropped, verdict, Action.DROP, verdict.dropped),
    )


def _collect(frame: nw.LazyFrame[Any]) -> nw.DataFrame[Any]:
    return frame.collect()


def _labelled(
    definition: TableDef,
    rows: nw.LazyFrame[Any],
    verdict: RuleVerdict,
    action: Action,
    count: int,
) -> list[dict[str, Any]]:
    """``rows`` (``count`` of them, with their rule flags) with the rules of ``action``
    they failed."""
    if not count:
        return []
    first, failed, _ = quarantine_labels(definition, verdict.flags, action)
    labelled = rows.with_columns(first.alias("_rule"), failed.alias("_failed_rules"))
    chosen = labelled.select(*verdict.data_columns, "_rule", "_failed_rules")
    return _collect(chosen).rows(named=True)


class TempLake:
    """A throwaway landing folder and lake for running a whole pipeline in a test.

    Example::

        with TempLake(pipeline) as lake:
            lake.land("orders", [{"order_id": "O1", "amount": "5"}])
            assert lake.run().status == "completed"
            assert_rows_equal(lake.rows("silver.orders"), [{"order_id": "O1", "amount": 5.0}])
    """

    def __init__(
        self, pipeline: Pipeline, *, root: str | Path | None = None, engine: str = "polars"
    ) -> None:
        self.pipeline = pipeline
        self._owned = root is None
        self.root = Path(tempfile.mkdtemp(prefix="shoplake-test-")) if root is None else Path(root)
        self.landing = self.root / "landing"
        self.lake = self.root / "lake"
        self.engine = create_engine(str(self.lake), engine)
        self._files = 0

    def __enter__(self) -> TempLake:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._owned:
            shutil.rmtree(self.root, ignore_errors=True)

    def land(self, source: str, rows: Rows, *, name: str | None = None) -> Path:
        """Write ``rows`` as one file of ``source``, in the format the source declares."""
        definition = self.pipeline.definitions.get(f"bronze.{source}")
        if not isinstance(definition, SourceDef):
            raise KeyError(f"the pipeline has no file source {source!r}")
        self._files += 1
        path = self.landing / source / (name or f"part-{self._files:04d}.{definition.format}")
        path.parent.mkdir(parents=True, exist_ok=True)
        if definition.format == JSONL:
            path.write_text("".join(json.dumps(dict(r), default=str) + "\n" for r in rows))
        else:
            import polars as pl

            frame = pl.DataFrame([dict(r) for r in rows])
            if definition.format == CSV:
                frame.write_csv(path)
            else:
                frame.write_parquet(path)
        return path

    def run(self, **options: Any) -> RunResult:
        """One update of the pipeline over what was landed (``shoplake.run``'s options)."""
        return run_pipeline(self.pipeline, engine=self.engine, landing=self.landing, **options)

    def rows(self, ref: str) -> list[dict[str, Any]]:
        """A table's current rows ([] when it does not exist yet)."""
        if self.engine.version(ref) is None:
            return []
        return self.engine.collect(self.engine.read(ref)).rows(named=True)

    def quarantine(self, table: str) -> list[dict[str, Any]]:
        """The quarantined rows of ``table`` (``layer.name``), with rule and record."""
        return self.rows(f"quarantine.{table.partition('.')[2] or table}")


def assert_engines_agree(
    pipeline: Pipeline,
    landing: str | Path,
    engines: Sequence[str] = ("polars", "spark"),
    *,
    root: str | Path | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, int]:
    """Run ``pipeline`` over ``landing`` on each of ``engines`` and fail with the first
    difference unless every table holds the same rows on all of them (run ids and clocks
    aside); returns each table's row count. Proves a pipeline portable::

        assert_engines_agree(pipeline, "tests/landing", ("polars", "spark"))
    """
    from shoplake.parity import compare_engines

    results = compare_engines(pipeline, landing, engines, root=root, options=options)
    differing = [f"{r.table}: {r.difference}" for r in results if not r.equal]
    if differing:
        raise AssertionError(f"{len(differing)} table(s) differ\n" + "\n".join(differing))
    return {r.table: next(iter(r.rows.values()), 0) for r in results}
