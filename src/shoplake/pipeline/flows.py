"""Running one table's flow: read what is new, transform, check the rules, commit.

Exactly-once bookkeeping: each write records, as Delta app transactions, the
upstream versions it consumed (``<target><-<input>``). The quarantine write
records the same ids first, so a crash between the two commits is detected on
the rerun and the quarantine is not written twice.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import narwhals as nw

from shoplake.engines.base import DELETE, CdcSpec, Engine, WriteResult
from shoplake.errors import ExpectationFailed, FlowError
from shoplake.names import PROVENANCE
from shoplake.pipeline.expectations import Action, ExistsIn, add_rule_flags, flag_column
from shoplake.pipeline.graph import Graph
from shoplake.pipeline.kinds import Append, ApplyChanges, Materialized, Partitioned, Upsert
from shoplake.pipeline.results import FlowResult, RuleResult
from shoplake.pipeline.tables import THIS, TableDef

SAMPLE_ROWS = 5


@dataclass(frozen=True)
class FlowContext:
    engine: Engine
    run_id: str
    started_at: datetime
    full_refresh: bool


def app_id(target: str, source: str) -> str:
    return f"{target}<-{source}"


def quarantine_ref(table: str) -> str:
    return f"quarantine.{table.partition('.')[2]}"


def as_lazy(value: object, table: str) -> nw.LazyFrame:
    if isinstance(value, nw.LazyFrame):
        return value
    if isinstance(value, nw.DataFrame):
        return value.lazy()
    try:
        return nw.from_native(value).lazy()  # type: ignore[call-overload,no-any-return]
    except TypeError:
        raise FlowError(
            table, f"the table function returned {type(value).__name__}; return a narwhals frame"
        ) from None


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
    if isinstance(definition.kind, Partitioned) and not full:
        from shoplake.pipeline.partitioned import run_partitioned

        partial = run_partitioned(ctx, definition, graph, versions, start)
        if partial is not None:
            return partial
        full = True

    frames: dict[str, nw.LazyFrame | None] = {}
    consumed: dict[str, int] = {}
    stream_rows: int | None = None
    replayed = ""
    if isinstance(definition.kind, Append | Upsert | ApplyChanges):
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
    outcome = _apply_rules(ctx, definition, flagged, consumed, full)
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
        replace = full or isinstance(kind, Materialized | Partitioned)
        write = engine.overwrite if replace else engine.append
        written = write(
            target,
            kept,
            partition_by=kind.partition_by
            if isinstance(kind, Partitioned)
            else definition.partition_by,
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


def _latest_per_key(frame: nw.DataFrame[object], kind: Upsert) -> nw.DataFrame[object]:
    if kind.sequence_by is None:
        return frame.unique(list(kind.keys), keep="first", maintain_order=True)
    ordered = frame.sort(kind.sequence_by, nulls_last=False)
    return ordered.unique(list(kind.keys), keep="last", maintain_order=True)


@dataclass(frozen=True)
class _Outcome:
    kept: nw.DataFrame[object]
    dropped: int
    quarantined: int
    rules: tuple[RuleResult, ...]


def _apply_rules(
    ctx: FlowContext,
    definition: TableDef,
    flagged: nw.DataFrame[object],
    consumed: Mapping[str, int],
    full: bool,
) -> _Outcome:
    rules = definition.rules
    if not rules:
        return _Outcome(flagged, 0, 0, ())
    flags = [flag_column(i) for i in range(len(rules))]
    total = len(flagged)
    passed_counts = flagged.select(*[nw.col(f).sum().alias(f) for f in flags]).row(0)
    results = tuple(
        RuleResult(r.name, r.action.value, r.severity.value, int(p or 0), total - int(p or 0))
        for r, p in zip(rules, passed_counts, strict=True)
    )
    data_columns = [c for c in flagged.columns if c not in flags]
    for rule, flag, result in zip(rules, flags, results, strict=True):
        if rule.action is Action.FAIL and result.failed:
            sample = flagged.filter(~nw.col(flag)).select(data_columns).head(SAMPLE_ROWS)
            raise ExpectationFailed(
                definition.ref, rule.name, result.failed, sample.rows(named=True)
            )

    def failing(action: Action) -> nw.Expr:
        cols = [~nw.col(f) for r, f in zip(rules, flags, strict=True) if r.action is action]
        return nw.any_horizontal(*cols, ignore_nulls=True) if cols else nw.lit(False)

    in_quarantine = failing(Action.QUARANTINE)
    removed = in_quarantine | failing(Action.DROP)
    marked = flagged.with_columns(
        in_quarantine.alias("__shoplake_q"), removed.alias("__shoplake_removed")
    )
    quarantined = marked.filter(nw.col("__shoplake_q"))
    kept = marked.filter(~nw.col("__shoplake_removed")).select(data_columns)
    dropped = total - len(kept) - len(quarantined)
    if len(quarantined) or full:
        _write_quarantine(ctx, definition, quarantined, flags, data_columns, consumed, full)
    return _Outcome(kept, dropped, len(quarantined), results)


def _write_quarantine(
    ctx: FlowContext,
    definition: TableDef,
    rows: nw.DataFrame[object],
    flags: list[str],
    data_columns: list[str],
    consumed: Mapping[str, int],
    full: bool,
) -> None:
    engine = ctx.engine
    target = quarantine_ref(definition.ref)
    transactions = {app_id(definition.ref, ref): v for ref, v in consumed.items()}
    replace = full or isinstance(definition.kind, Materialized)
    recorded = {key: engine.consumed(target, key) for key in transactions}
    if not replace and all(
        recorded[key] is not None and recorded[key] >= v for key, v in transactions.items()
    ):
        return  # an earlier attempt already wrote this quarantine batch
    q_rules = [
        (r, f)
        for r, f in zip(definition.rules, flags, strict=True)
        if r.action is Action.QUARANTINE
    ]
    if not q_rules:
        return
    names = [nw.when(~nw.col(f)).then(nw.lit(r.name)) for r, f in q_rules]
    severities = [nw.when(~nw.col(f)).then(nw.lit(r.severity.value)) for r, f in q_rules]
    provenance = [c for c in PROVENANCE if c in data_columns]
    record = engine.rows_as_json(rows, data_columns)
    frame = rows.with_columns(
        nw.lit(definition.ref).alias("table"),
        nw.coalesce(*names).alias("rule"),
        nw.concat_str(names, separator=",", ignore_nulls=True).alias("failed_rules"),
        nw.coalesce(*severities).alias("severity"),
        nw.lit(ctx.run_id).alias("run_id"),
        nw.lit(ctx.started_at).alias("quarantined_at"),
        record.alias("record"),
    ).select(
        "table",
        "rule",
        "failed_rules",
        "severity",
        "run_id",
        "quarantined_at",
        *provenance,
        "record",
    )
    write = engine.overwrite if replace else engine.append
    write(target, frame, transactions=transactions, metadata={"shoplake.run_id": ctx.run_id})
