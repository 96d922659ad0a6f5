"""Running one table's flow: read what is new, transform, check the rules, commit.

Exactly-once bookkeeping: each write records, as Delta app transactions, the
upstream versions it consumed (``<target><-<input>``). The quarantine write
records the same ids first, so a crash between the two commits is detected on
the rerun and the quarantine is not written twice.
"""

from __future__ import annotations

import time
from typing import Any

import narwhals as nw

from shoplake.engines.base import DELETE, CdcSpec, WriteResult
from shoplake.errors import FlowError
from shoplake.pipeline.context import FlowContext, app_id, as_lazy, quarantine_ref
from shoplake.pipeline.expectations import ExistsIn, add_rule_flags
from shoplake.pipeline.graph import Graph
from shoplake.pipeline.kinds import ApplyChanges, Upsert
from shoplake.pipeline.results import FlowResult
from shoplake.pipeline.rules import apply_rules
from shoplake.pipeline.tables import THIS, TableDef


def run_table(ctx: FlowContext, definition: TableDef, graph: Graph) -> FlowResult:
    """Run one table's flow and return what it did; raises FlowError on failure."""
    start = time.perf_counter()
    engine = ctx.engine
    target = definition.ref
    inputs = graph.inputs[target]
    versions: dict[str, int] = {}
    for ref in {*inputs.values(), *(r.ref for r in definition.rules if isinstance(r, ExistsIn))}:
        version = engine.version(ref)
        if version is None:
            return FlowResult(
                target, definition.kind.name, "skipped", message=f"{ref} has no data yet"
            )
        versions[ref] = version
    exists = engine.version(target) is not None
    full = ctx.full_refresh or not exists
    if definition.kind.partial and not full:
        from shoplake.pipeline.partitioned import run_partitioned

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
        stream_rows = engine.collect(stream_frame.select(nw.len())).item()
        if stream_rows == 0 and not full:
            # Only empty commits upstream (say, a file already ingested under another
            # name): nothing to do, and nothing worth a commit of our own.
            return FlowResult(target, definition.kind.name, "skipped", message="no new rows")
        frames[definition.stream] = stream_frame
        consumed[stream_ref] = current
    else:
        recorded = {ref: engine.consumed(target, app_id(target, ref)) for ref in versions}
        if not full and all(recorded[ref] == v for ref, v in versions.items()):
            return FlowResult(target, definition.kind.name, "skipped", message="inputs unchanged")
        consumed.update(versions)
    for param, ref in inputs.items():
        if param not in frames:
            frames[param] = engine.read(ref, version=versions[ref])
    if definition.wants_this:
        frames[THIS] = None if not exists or full else engine.read(target)

    try:
        output = as_lazy(definition.fn(**frames), target)
        refs = {ref: engine.read(ref, version=versions[ref]) for ref in versions}
        flagged = engine.collect(add_rule_flags(output, definition.rules, refs))
    except FlowError:
        raise
    except Exception as err:  # user code: report it against the table
        raise FlowError(target, f"{type(err).__name__}: {err}") from err

    rows_read = len(flagged) if stream_rows is None else stream_rows
    outcome = apply_rules(ctx, definition, flagged, consumed, full)
    kept = outcome.kept
    transactions = {app_id(target, ref): v for ref, v in consumed.items()}
    metadata = {"shoplake.run_id": ctx.run_id}
    duplicates = 0
    kind = definition.kind
    if isinstance(kind, Upsert):
        unique = _latest_per_key(kept, kind)
        duplicates = len(kept) - len(unique)
        if full:
            written = engine.overwrite(
                target,
                unique,
                partition_by=definition.partition_by,
                transactions=transactions,
                metadata=metadata,
            )
        else:
            written = engine.upsert(
                target,
                unique,
                keys=kind.keys,
                sequence_by=kind.sequence_by,
                transactions=transactions,
                metadata=metadata,
            )
            duplicates += len(unique) - written.rows_inserted
        rows_written = written.rows_inserted + written.rows_updated
    elif isinstance(kind, ApplyChanges):
        applied = engine.apply_changes(
            target,
            kept.with_columns(_delete_flag(kind).alias(DELETE)),
            spec=cdc_spec(kind),
            full=full,
            transactions=transactions,
            metadata=metadata,
        )
        written = WriteResult(applied.version, applied.rows_inserted, applied.rows_updated)
        rows_written = applied.rows_inserted + applied.rows_updated + applied.rows_deleted
        # A change that opened no version and deleted nothing repeated what was known. (A
        # late change splitting a version opens two: never report fewer than none.)
        duplicates = max(0, len(kept) - applied.opened - applied.deleted_keys)
    else:
        replace = full or kind.replaces
        write = engine.overwrite if replace else engine.append
        written = write(
            target,
            kept,
            partition_by=kind.partition_by if kind.partial else definition.partition_by,
            transactions=transactions,
            metadata=metadata,
        )
        rows_written = written.rows_inserted
    return FlowResult(
        table=target,
        kind=kind.name,
        status="completed",
        rows_read=int(rows_read),
        rows_written=rows_written,
        rows_dropped=outcome.dropped,
        rows_quarantined=outcome.quarantined,
        rows_duplicate=duplicates,
        rules=outcome.rules,
        version=written.version,
        duration_s=time.perf_counter() - start,
        message=replayed,
    )


def cdc_spec(kind: ApplyChanges) -> CdcSpec:
    """The engine's view of an ApplyChanges kind."""
    names = kind.columns
    return CdcSpec(
        keys=kind.keys,
        sequence_by=kind.sequence_by,
        scd_type=kind.scd_type,
        track=kind.track,
        track_except=kind.track_except,
        ignore_null_updates=kind.ignore_null_updates,
        snapshot=kind.snapshot,
        missing_as_delete=kind.missing_as_delete,
        buckets=kind.buckets,
        valid_from=names.valid_from,
        valid_to=names.valid_to,
        is_current=names.is_current,
        surrogate_key=names.surrogate_key,
    )


def _delete_flag(kind: ApplyChanges) -> nw.Expr:
    rule = kind.delete_when
    if rule is None:
        return nw.lit(False)
    expr = nw.col(rule) if isinstance(rule, str) else rule
    if not isinstance(expr, nw.Expr):
        raise TypeError(f"delete_when must be a column name or a narwhals expression, not {rule!r}")
    return expr.cast(nw.Boolean).fill_null(value=False)


def _latest_per_key(frame: nw.DataFrame[Any], kind: Upsert) -> nw.DataFrame[Any]:
    if kind.sequence_by is None:
        return frame.unique(list(kind.keys), keep="first", maintain_order=True)
    ordered = frame.sort(kind.sequence_by, nulls_last=False)
    return ordered.unique(list(kind.keys), keep="last", maintain_order=True)
