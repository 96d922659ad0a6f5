"""One triggered update: every selected table, in dependency order, then the event log.

The runner knows tables and the graph, not where source rows come from: a stage
(``ingest/`` for landing files, ``streaming/`` for event streams) hands it a
:data:`SourceFlow` that runs the source definitions.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime

from shoplake.engines.base import Engine
from shoplake.errors import (
    ExpectationFailed,
    FlowError,
    ShoplakeError,
    ValidationError,
    first_line,
)
from shoplake.names import utcnow
from shoplake.pipeline.context import FlowContext
from shoplake.pipeline.event_log import write_run_events
from shoplake.pipeline.flows import run_table
from shoplake.pipeline.graph import Graph, build_graph
from shoplake.pipeline.listeners import RunListener, tell
from shoplake.pipeline.results import FlowResult, RuleResult, RunResult
from shoplake.pipeline.schedule import default_parallelism, run_flows
from shoplake.pipeline.tables import Definition, Pipeline, SourceDef, StreamSourceDef

Progress = Callable[[str, FlowResult | None], None]
SourceFlow = Callable[[FlowContext, SourceDef | StreamSourceDef], FlowResult]
"""Runs one source definition into its bronze table (one commit, exactly once)."""


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def select_tables(graph: Graph, select: Iterable[str] | None) -> list[str]:
    """Refs matching ``select`` (``layer.name``, a bare name, or a whole layer), in order."""
    wanted = list(select or [])
    if not wanted:
        return list(graph.order)
    chosen: set[str] = set()
    for item in wanted:
        matches = {ref for ref, d in graph.definitions.items() if item in (ref, d.name, d.layer)}
        if not matches:
            names = ", ".join(graph.order)
            raise ShoplakeError(f"--select {item!r} matches no table; the tables are: {names}")
        chosen |= matches
    return [ref for ref in graph.order if ref in chosen]


def run_pipeline(
    pipeline: Pipeline,
    *,
    engine: Engine,
    sources: SourceFlow | None = None,
    select: Iterable[str] | None = None,
    full_refresh: bool = False,
    progress: Progress | None = None,
    run_id: str | None = None,
    done: Iterable[FlowResult] = (),
    parallelism: int | None = None,
    listener: RunListener | None = None,
) -> RunResult:
    """Process what is new for the selected tables and log the run.

    ``sources`` runs the source definitions (a stage's reader, e.g. the landing
    folder's); without it a selected source fails with a message saying so.

    ``done`` are flows already run for this update outside the graph (a stream's
    micro-batch into bronze): they are reported and logged with it.

    A failing flow stops only the tables downstream of it; the run is then
    reported as failed, and every table stays at its last committed version.
    ``run_id`` names the batch (default: a new id).

    Independent flows run concurrently, up to ``parallelism`` at once (default: the
    cores available; 1 runs them one after another in graph order). Each flow still
    starts only after the tables it reads have committed; results and the event log
    stay in graph order, and ``progress`` hears of each flow as it starts and ends.
    ``listener`` hears of the run and each flow starting and ending (lineage events).
    """
    graph = build_graph(pipeline)
    if graph.problems:
        raise ValidationError(list(graph.problems))
    refs = select_tables(graph, select)
    started = utcnow()
    ctx = FlowContext(engine, run_id or new_run_id(started), started, full_refresh)
    # Flows run outside the graph (a stream's micro-batch into bronze) get their metadata too.
    run = RunResult(
        ctx.run_id,
        [
            _sync_metadata(engine, graph.definitions[f.table], f)
            if f.table in graph.definitions
            else f
            for f in done
        ],
    )
    clock = time.perf_counter()

    for ref in refs:
        engine.declare_metadata(ref, graph.definitions[ref].metadata)

    def run_one(ref: str) -> FlowResult:
        result = _run_flow(ctx, graph, graph.definitions[ref], sources)
        # Before any reader of the table starts, so they consume the same version.
        return _sync_metadata(engine, graph.definitions[ref], result)

    tell(listener, "run_started", ctx.run_id, refs, graph, started)

    def flow_started(ref: str) -> None:
        if progress:
            progress(ref, None)
        tell(listener, "flow_started", ctx.run_id, ref)

    def flow_finished(ref: str, result: FlowResult | None) -> None:
        if progress:
            progress(ref, result)
        if result is not None:
            tell(listener, "flow_finished", ctx.run_id, result)

    def blocked(ref: str, inputs_failed: list[str]) -> FlowResult:
        message = f"upstream failed: {', '.join(inputs_failed)}"
        return FlowResult(ref, graph.definitions[ref].kind.name, "skipped", message=message)

    run.flows += run_flows(
        refs,
        {ref: graph.upstream(ref) for ref in refs},
        run_one,
        parallelism=parallelism or default_parallelism(),
        blocked=blocked,
        started=flow_started,
        finished=flow_finished,
    )
    run.duration_s = time.perf_counter() - clock
    ended = utcnow()
    if any(f.status != "skipped" for f in run.flows):
        write_run_events(engine, run, started, ended)
    tell(listener, "run_finished", run, ended)
    return run


COMMIT_ATTEMPTS = 4
"""How often a flow is planned and committed again when another writer of one of its
tables won the commit (Delta's optimistic concurrency), before it fails."""
_BACKOFF_S = 0.2


def _run_flow(
    ctx: FlowContext,
    graph: Graph,
    definition: Definition,
    sources: SourceFlow | None,
) -> FlowResult:
    """One flow, its failure recorded as a result: a failed flow never stops the run.

    A commit lost to another writer is retried from the start (re-read, re-plan,
    commit): nothing of the lost attempt was committed but what records its own
    progress (a quarantine commit is replayed, never repeated), so a retry is what a
    rerun would do. After ``COMMIT_ATTEMPTS`` the flow fails naming the other writer.
    """
    ref = definition.ref
    for attempt in range(1, COMMIT_ATTEMPTS + 1):
        try:
            return _flow_once(ctx, graph, definition, sources)
        except ExpectationFailed as err:
            return FlowResult(
                ref,
                definition.kind.name,
                "failed",
                message=str(err),
                failed_rule=err.rule,
                failed_rows=err.failed,
            )
        except ShoplakeError as err:
            return FlowResult(ref, definition.kind.name, "failed", message=str(err))
        except Exception as err:  # an engine or storage error: record it, keep going
            winner = ctx.engine.commit_conflict(ref, err)
            if winner is not None and attempt < COMMIT_ATTEMPTS:
                time.sleep(_BACKOFF_S * 2 ** (attempt - 1) * (0.5 + random.random()))
                continue
            if winner is not None:
                message = (
                    f"{ref}: another writer won the commit {COMMIT_ATTEMPTS} times in a row "
                    f"(the table's newest commit: {winner}); run one writer at a time on "
                    "this table, then rerun: nothing of this flow was committed"
                )
                return FlowResult(ref, definition.kind.name, "failed", message=message)
            explained = ctx.engine.explain_error(ref, err)
            first = first_line(err, default="")
            message = str(FlowError(ref, explained or f"{type(err).__name__}: {first}"))
            return FlowResult(ref, definition.kind.name, "failed", message=message)
    raise AssertionError("unreachable")


def _flow_once(
    ctx: FlowContext,
    graph: Graph,
    definition: Definition,
    sources: SourceFlow | None,
) -> FlowResult:
    ref = definition.ref
    if isinstance(definition, SourceDef | StreamSourceDef):
        if sources is None:
            raise ShoplakeError(
                f"{ref} is a source and this run was given no reader for "
                "sources: run the pipeline with a landing folder "
                "(shoplake.run(pipeline, landing=...))"
            )
        return sources(ctx, definition)
    result = run_table(ctx, definition, graph)
    if result.message.startswith("replayed"):
        # The interrupted batch is repaired; now what arrived since.
        result = _combine(result, run_table(ctx, definition, graph))
    return result


def _sync_metadata(engine: Engine, definition: Definition, result: FlowResult) -> FlowResult:
    """The declared metadata onto the table (a metadata-only commit when it changed); a
    failure to do so is reported with the flow, whose data stays committed."""
    if result.status == "failed":
        return result
    try:
        engine.update_metadata(definition.ref, definition.metadata)
    except Exception as err:  # the rows are committed: say so, do not fail the flow
        note = f"metadata not updated: {type(err).__name__}: {first_line(err, default='')}"
        return replace(result, message="; ".join(m for m in (result.message, note) if m))
    return result


def _combine(first: FlowResult, second: FlowResult) -> FlowResult:
    """One flow's two passes in a run (a replayed batch, then the new one) as one result."""
    if second.status == "skipped":
        return first
    return FlowResult(
        table=first.table,
        kind=first.kind,
        status=second.status,
        rows_read=first.rows_read + second.rows_read,
        read_by_input=_add_counts(first.read_by_input, second.read_by_input),
        rows_written=first.rows_written + second.rows_written,
        rows_dropped=first.rows_dropped + second.rows_dropped,
        rows_quarantined=first.rows_quarantined + second.rows_quarantined,
        rows_duplicate=first.rows_duplicate + second.rows_duplicate,
        rules=_merge_rules(first.rules, second.rules),
        version=second.version,
        duration_s=first.duration_s + second.duration_s,
        message=first.message,
    )


def _merge_rules(
    first: tuple[RuleResult, ...], second: tuple[RuleResult, ...]
) -> tuple[RuleResult, ...]:
    later = {r.name: r for r in second}
    merged = [
        RuleResult(
            r.name,
            r.action,
            r.severity,
            r.passed + later[r.name].passed,
            r.failed + later[r.name].failed,
        )
        if r.name in later
        else r
        for r in first
    ]
    return tuple(merged) + tuple(r for r in second if r.name not in {m.name for m in first})


def _add_counts(
    first: tuple[tuple[str, int], ...], second: tuple[tuple[str, int], ...]
) -> tuple[tuple[str, int], ...]:
    total = dict(first)
    for ref, n in second:
        total[ref] = total.get(ref, 0) + n
    return tuple(total.items())
