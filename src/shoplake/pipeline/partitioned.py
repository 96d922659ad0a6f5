"""Running a :class:`~shoplake.pipeline.kinds.Partitioned` table: recompute only the
partitions a batch touched, and replace them in one commit.

The flow reads, per input, the rows that may have changed since the versions the
table last consumed (its app transactions), asks the table's plan which partition
keys they affect, runs the table function on the inputs the plan narrows to those
partitions, keeps only those partitions of its output, and replaces them with a
Delta replaceWhere commit that records the input versions consumed. A crash
before that commit leaves the table and its app transactions as they were, so the
rerun recomputes the same partitions; a crash after it finds the inputs consumed.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any, NoReturn

import narwhals as nw

from shoplake.errors import FlowError
from shoplake.pipeline.context import (
    NO_DATA,
    FlowContext,
    app_id,
    as_lazy,
    evaluating,
    inputs_unchanged,
    lazy_like,
)
from shoplake.pipeline.expectations import add_rule_flags
from shoplake.pipeline.graph import Graph
from shoplake.pipeline.kinds import Partitioned
from shoplake.pipeline.results import FlowResult
from shoplake.pipeline.rules import apply_rules, judge
from shoplake.pipeline.tables import THIS, TableDef
from shoplake.pipeline.writes import replace_affected


def run_partitioned(
    ctx: FlowContext, definition: TableDef, graph: Graph, versions: dict[str, int], start: float
) -> FlowResult | None:
    """Recompute the affected partitions; None when only a full recompute is correct
    (a first run, an input recreated or vacuumed past the version last consumed)."""
    kind = definition.kind
    assert isinstance(kind, Partitioned)  # only partial kinds come here (kind.partial)
    engine = ctx.engine
    target = definition.ref
    inputs = graph.inputs[target]
    recorded = {ref: engine.consumed(target, app_id(target, ref)) for ref in versions}
    if any(v is None or v > versions[ref] for ref, v in recorded.items()):
        return None
    if inputs_unchanged(engine, recorded, versions):
        return FlowResult(target, kind.name, "skipped", message="inputs unchanged")

    full_frames = {param: engine.read(ref, version=versions[ref]) for param, ref in inputs.items()}
    changed: dict[str, nw.LazyFrame[Any]] = {}
    for param, ref in inputs.items():
        last = recorded[ref]
        assert last is not None
        if last < versions[ref]:
            rows = engine.read_changes(ref, last, versions[ref])
            if rows is None:
                return None
            changed[param] = rows
    by = list(kind.by)
    try:
        affected = kind.plan.affected(changed, full_frames).select(by)
        # A null key names no partition a predicate can replace: such rows only change on
        # a full recompute.
        known = ~nw.any_horizontal(*[nw.col(c).is_null() for c in by], ignore_nulls=False)
        keys = engine.collect(affected.filter(known).unique())
    except Exception as err:  # user code: report it against the table
        raise_flow_error(target, err)
    transactions = {app_id(target, ref): v for ref, v in versions.items()}
    metadata = {"shoplake.run_id": ctx.run_id}
    if len(keys) == 0:
        # Nothing this table shows changed; the consumed versions still need a commit.
        empty = engine.collect(engine.read(target).head(0))
        metadata[NO_DATA] = "true"
        written = engine.append(target, empty, transactions=transactions, metadata=metadata)
        return FlowResult(
            target,
            kind.name,
            "completed",
            version=written.version,
            duration_s=time.perf_counter() - start,
            message="no partition affected",
        )

    # The keys join the inputs, so they go to the inputs' backend (a Spark session, say).
    keys_lazy = lazy_like(keys, next(iter(full_frames.values())))
    try:
        narrowed = dict(kind.plan.restrict(keys_lazy, full_frames))
        frames: dict[str, nw.LazyFrame[Any] | None] = {
            param: narrowed.get(param, full_frames[param]) for param in inputs
        }
        if definition.wants_this:
            frames[THIS] = engine.read(target)
        output = as_lazy(definition.fn(**frames), target).join(keys_lazy, on=by, how="semi")
        refs = {ref: engine.read(ref, version=versions[ref]) for ref in versions}
        planned = add_rule_flags(output, definition.rules, refs)
    except Exception as err:
        raise_flow_error(target, err)
    with ExitStack() as held:
        with evaluating(target):  # the engine runs the table's code from here on
            flagged = held.enter_context(engine.persist(planned))
            verdict, checked = judge(ctx, definition, flagged, None)
        outcome = apply_rules(ctx, definition, verdict, checked, versions, False)
        replaced = replace_affected(
            engine, target, kind, outcome.kept, keys, transactions=transactions, metadata=metadata
        )
    return FlowResult(
        table=target,
        kind=kind.name,
        status="completed",
        rows_read=verdict.total,
        rows_written=replaced.rows,
        rows_dropped=outcome.dropped,
        rows_quarantined=outcome.quarantined,
        rules=outcome.rules,
        version=replaced.version,
        duration_s=time.perf_counter() - start,
        message=f"{len(keys)} {kind.unit}(s) recomputed",
    )


def raise_flow_error(target: str, err: Exception) -> NoReturn:
    """Report an error in the table's own code (or plan) against the table."""
    if isinstance(err, FlowError):
        raise err
    raise FlowError(target, f"{type(err).__name__}: {err}") from err
