"""Running one table's flow: read what is new, transform, check the rules, commit.

Exactly-once bookkeeping: each write records, as Delta app transactions, the
upstream versions it consumed (``<target><-<input>``). The quarantine write
records the same ids first, so a crash between the two commits is detected on
the rerun and the quarantine is not written twice.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

import narwhals as nw

from shoplake.engines.base import Engine
from shoplake.errors import FlowError
from shoplake.pipeline.context import (
    NO_DATA,
    FlowContext,
    app_id,
    as_lazy,
    evaluating,
    inputs_unchanged,
    quarantine_ref,
)
from shoplake.pipeline.expectations import add_rule_flags, referenced
from shoplake.pipeline.faults import fault
from shoplake.pipeline.graph import Graph
from shoplake.pipeline.partitioned import run_partitioned
from shoplake.pipeline.results import FlowResult
from shoplake.pipeline.rules import apply_rules, judge
from shoplake.pipeline.tables import THIS, TableDef
from shoplake.pipeline.writes import write_rows


def run_table(ctx: FlowContext, definition: TableDef, graph: Graph) -> FlowResult:
    """Run one table's flow and return what it did; raises FlowError on failure."""
    start = time.perf_counter()
    engine = ctx.engine
    target = definition.ref
    inputs = graph.inputs[target]
    versions: dict[str, int] = {}
    for ref in {*inputs.values(), *referenced(definition.rules)}:
        version = engine.version(ref)
        if version is None:
            return FlowResult(
                target, definition.kind.name, "skipped", message=f"{ref} has no data yet"
            )
        versions[ref] = version
    exists = engine.version(target) is not None
    full = ctx.full_refresh or not exists
    if definition.kind.partial and not full:
        partial = run_partitioned(ctx, definition, graph, versions, start)
        if partial is not None:
            return partial
        full = True

    frames: dict[str, nw.LazyFrame[Any] | None] = {}
    consumed: dict[str, int] = {}
    stream_rows: int | None = None
    replayed = ""
    if definition.kind.incremental:
        assert definition.stream is not None
        stream_ref = inputs[definition.stream]
        current = versions[stream_ref]
        last = None if full else engine.consumed(target, app_id(target, stream_ref))
        if not ctx.full_refresh:
            interrupted = engine.consumed(quarantine_ref(target), app_id(target, stream_ref))
            floor = -1 if last is None else last
            if interrupted is not None and floor < interrupted < current:
                # A crash came between this batch's quarantine commit and its target
                # commit: replay exactly that batch now; newer input waits for the next run.
                current = interrupted
                replayed = f"replayed the batch interrupted at {stream_ref} v{interrupted}"
        if last is not None and last >= current:
            return FlowResult(target, definition.kind.name, "skipped", message="no new input")
        stream_frame = None if last is None else engine.read_appended(stream_ref, last, current)
        if stream_frame is None:
            stream_frame = engine.read(stream_ref, version=current)
            if last is not None:
                # The input was rewritten (not only appended): start over from its full content.
                full = True
        stream_rows = _count(engine, stream_frame, stream_ref, current, None if full else last)
        if stream_rows == 0 and not full:
            # Only empty commits upstream (say, a file already ingested under another
            # name): nothing to do, and nothing worth a commit of our own.
            return FlowResult(target, definition.kind.name, "skipped", message="no new rows")
        frames[definition.stream] = stream_frame
        consumed[stream_ref] = current
    else:
        recorded = {ref: engine.consumed(target, app_id(target, ref)) for ref in versions}
        if not full and inputs_unchanged(engine, recorded, versions):
            return FlowResult(target, definition.kind.name, "skipped", message="inputs unchanged")
        consumed.update(versions)
    read_by_input: dict[str, int] = {}
    for param, ref in inputs.items():
        if param not in frames:
            frame = engine.read(ref, version=versions[ref])
            frames[param] = frame
            if stream_rows is None:
                # What the table's own code starts from, before its filters and joins.
                read_by_input[ref] = _count(engine, frame, ref, versions[ref])
    if definition.wants_this:
        frames[THIS] = None if not exists or full else engine.read(target)

    try:
        output = as_lazy(definition.fn(**frames), target)
        refs = {ref: engine.read(ref, version=versions[ref]) for ref in versions}
        planned = add_rule_flags(output, definition.rules, refs)
    except FlowError:
        raise
    except Exception as err:  # user code: report it against the table
        raise FlowError(target, f"{type(err).__name__}: {err}") from err

    if stream_rows is not None:
        read_by_input = {inputs[definition.stream or ""]: stream_rows}
    rows_read = sum(read_by_input.values())
    with ExitStack() as held:
        with evaluating(target):  # the engine runs the table's code from here on
            flagged = held.enter_context(engine.persist(planned))
            verdict, checked = judge(ctx, definition, flagged, int(rows_read))
        outcome = apply_rules(ctx, definition, verdict, checked, consumed, full)
        transactions = {app_id(target, ref): v for ref, v in consumed.items()}
        metadata = {"shoplake.run_id": ctx.run_id}
        if not full and outcome.kept_rows == 0:
            metadata[NO_DATA] = "true"  # only the consumed versions: nothing downstream to redo
        written = write_rows(
            engine,
            definition,
            outcome.kept,
            outcome.kept_rows,
            full=full,
            transactions=transactions,
            metadata=metadata,
        )
    fault(f"after_commit@{target}")
    return FlowResult(
        table=target,
        kind=definition.kind.name,
        status="completed",
        rows_read=int(rows_read),
        read_by_input=tuple((ref, int(n)) for ref, n in read_by_input.items()),
        rows_written=written.rows,
        rows_dropped=outcome.dropped,
        rows_quarantined=outcome.quarantined,
        rows_duplicate=written.duplicates,
        rules=outcome.rules,
        version=written.version,
        duration_s=time.perf_counter() - start,
        message=replayed,
    )


def _count(
    engine: Engine, frame: nw.LazyFrame[Any], ref: str, version: int, after: int | None = None
) -> int:
    """The rows of ``frame`` (``ref`` at ``version``, or what it appended after ``after``):
    from the Delta log's statistics when it has them, else counted by the engine."""
    known = engine.row_count(ref, version, after)
    if known is not None:
        return known
    return int(engine.collect(frame.select(nw.len())).item())
