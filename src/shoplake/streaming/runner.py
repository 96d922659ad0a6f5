"""The streaming flow: a topic into its bronze table exactly once, then its downstream
tables, one micro-batch at a time.

Exactly once: every bronze commit carries, as Delta app transactions, the next
offset of each topic-partition it holds (``kafka:<topic>:<partition>``). The
reader seeks from those on start and on every partition assignment, and rows at
offsets already recorded are dropped before a write, so a crash anywhere, a
restart or a rebalance can neither lose nor repeat a message. The downstream
tables are ordinary incremental flows that record the bronze version they
consumed, so they catch up after a crash the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import narwhals as nw
import pyarrow as pa
import pyarrow.compute as pc

from shoplake.engines.base import Engine
from shoplake.errors import ShoplakeError
from shoplake.ingest.bronze import FILES_KEY, landing_app_id
from shoplake.pipeline.flows import FlowContext
from shoplake.pipeline.graph import build_graph
from shoplake.pipeline.results import FlowResult, RunResult
from shoplake.pipeline.tables import Pipeline, StreamSourceDef
from shoplake.sources.files import discover
from shoplake.sources.kafka import BRONZE_SCHEMA, Batch, KafkaBatchReader, offset_app_id

PAUSE_ENV = "SHOPLAKE_PAUSE_AT"
"""Fault injection for tests: the streaming flow stops (sleeps) at this named point."""
PAUSE_POINTS = ("bronze_before_commit", "bronze_after_commit")


def pause_point(name: str) -> None:
    if os.environ.get(PAUSE_ENV) == name:
        print(f"paused at {name}", file=sys.stderr, flush=True)
        while True:
            time.sleep(60)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class StreamOptions:
    """Micro-batch bounds and mode.

    ``max_records`` and ``max_seconds`` bound one micro-batch (whichever is reached
    first); ``available_now`` reads to the end the topic had at start, then stops;
    ``downstream`` runs the tables fed by the stream after each bronze commit.
    """

    max_records: int = 50_000
    max_seconds: float = 0.5
    available_now: bool = False
    downstream: bool = True
    feed_every_s: float = 2.0
    """How often feeds (e.g. streamed orders into the batch order tables) run; they
    come after the stream's own tables, so they never delay those."""


@dataclass
class StreamStats:
    batches: int = 0
    events: int = 0
    replayed: int = 0
    duration_s: float = 0.0
    assigned_s: float | None = None
    """Seconds from start until partitions were first assigned (group join)."""
    runs: list[RunResult] = field(default_factory=list)


def write_bronze(
    engine: Engine,
    ref: str,
    topic: str,
    rows: pa.Table,
    next_offsets: Mapping[int, int],
    run_id: str,
    first_offsets: Mapping[int, int] | None = None,
) -> tuple[int, int]:
    """Append a micro-batch and its offsets in one commit; (rows written, rows skipped).

    Rows at offsets the table already holds are dropped first, which also makes a
    retry after an "outcome unknown" commit error safe. ``first_offsets`` (each
    partition's lowest offset in ``rows``) lets the usual case skip that filter.
    """
    first_offsets = first_offsets or {}
    for attempt in (1, 2):
        recorded = {p: engine.consumed(ref, offset_app_id(topic, p)) for p in next_offsets}
        fresh = rows
        behind = {
            p: start
            for p, start in recorded.items()
            if start is not None and start > first_offsets.get(p, -1)
        }
        if behind:  # only after a restart or rebalance: drop what is already stored
            stale = None
            for p, start in behind.items():
                old = pc.and_(pc.equal(rows["partition"], p), pc.less(rows["offset"], start))
                stale = old if stale is None else pc.or_(stale, old)
            fresh = rows.filter(pc.invert(stale))
        transactions = {
            offset_app_id(topic, p): n
            for p, n in next_offsets.items()
            if recorded[p] is None or n > recorded[p]  # type: ignore[operator]
        }
        if not transactions:
            return 0, rows.num_rows
        try:
            engine.append(
                ref,
                nw.from_native(fresh, eager_only=True),
                transactions=transactions,
                metadata={"shoplake.run_id": run_id},
            )
        except Exception:
            if attempt == 2:
                raise
            continue  # the commit may have landed: the next pass re-reads the offsets
        return fresh.num_rows, rows.num_rows - fresh.num_rows
    raise AssertionError("unreachable")


def downstream_of(pipeline: Pipeline, ref: str) -> list[str]:
    """Every table fed by ``ref``, directly or not, in dependency order."""
    graph = build_graph(pipeline)
    if graph.problems:
        from shoplake.errors import ValidationError

        raise ValidationError(list(graph.problems))
    reached = {ref}
    for candidate in graph.order:
        if graph.upstream(candidate) & reached:
            reached.add(candidate)
    return [r for r in graph.order if r in reached and r != ref]


def run_feeds(engine: Engine, pipeline: Pipeline, sources: set[str], run_id: str) -> set[str]:
    """Append what each feed derives from the new rows of its stream (for streams in
    ``sources``); returns the tables that got rows. Exactly once: the stream version a
    feed consumed is recorded in the same commit as its rows."""
    from shoplake.pipeline.flows import app_id, as_lazy

    fed: set[str] = set()
    for feed in pipeline.feeds:
        if feed.stream not in sources:
            continue
        current = engine.version(feed.stream)
        if current is None:
            continue
        key = app_id(feed.target, feed.stream)
        last = engine.consumed(feed.target, key)
        if last is not None and last >= current:
            continue
        frame = None if last is None else engine.read_appended(feed.stream, last, current)
        if frame is None:
            # First run, or the stream was rewritten: derive from its full content; the
            # target's keyed upserts downstream make a repeat harmless.
            frame = engine.read(feed.stream, version=current)
        rows = engine.collect(as_lazy(feed.fn(frame), feed.target))
        engine.append(
            feed.target, rows, transactions={key: current}, metadata={"shoplake.run_id": run_id}
        )
        if len(rows):
            fed.add(feed.target)
    return fed


def feed_followers(pipeline: Pipeline, fed: set[str]) -> list[str]:
    """The silver tables reading a fed table: refreshed in the same micro-batch (gold
    marts built on them catch up on the next pipeline run)."""
    graph = build_graph(pipeline)
    return [
        r
        for r in graph.order
        if r.startswith("silver.") and set(graph.inputs.get(r, {}).values()) & fed
    ]


def stream_source(pipeline: Pipeline, name: str) -> StreamSourceDef:
    definition = pipeline.definitions.get(f"bronze.{name}")
    if not isinstance(definition, StreamSourceDef):
        streams = [d.name for d in pipeline.definitions.values() if isinstance(d, StreamSourceDef)]
        raise ShoplakeError(
            f"pipeline '{pipeline.name}' has no stream source {name!r}; "
            f"its stream sources are: {', '.join(streams) or 'none'}"
        )
    return definition


def run_kafka_stream(
    pipeline: Pipeline,
    *,
    engine: Engine,
    landing: str | Path,
    source: str,
    topic: str,
    kafka_config: Mapping[str, object],
    options: StreamOptions = StreamOptions(),
    stop: Callable[[], bool] = lambda: False,
    on_batch: Callable[[Batch, int, RunResult | None], None] | None = None,
) -> StreamStats:
    """Consume ``topic`` into ``bronze.<source>`` and run its downstream tables per
    micro-batch, until ``stop()`` (checked between batches) or, with
    ``available_now``, the end the topic had at start."""
    from shoplake.ingest.update import run_update
    from shoplake.pipeline.runner import new_run_id

    ref = stream_source(pipeline, source).ref
    downstream = downstream_of(pipeline, ref) if options.downstream else []
    stats = StreamStats()
    clock = time.perf_counter()

    def run_downstream(bronze: FlowResult | None = None) -> RunResult | None:
        if not downstream:
            return None
        done = [bronze] if bronze is not None else []
        run = run_update(pipeline, engine=engine, landing=landing, select=downstream, done=done)
        stats.runs.append(run)
        return run

    fed_at = 0.0

    def refresh_fed(run_id: str, *, due: bool = False) -> None:
        nonlocal fed_at
        if not downstream or not pipeline.feeds:
            return
        if not due and time.monotonic() - fed_at < options.feed_every_s:
            return
        fed_at = time.monotonic()
        fed = run_feeds(engine, pipeline, set(downstream), run_id)
        followers = feed_followers(pipeline, fed)
        if followers:
            stats.runs.append(
                run_update(pipeline, engine=engine, landing=landing, select=followers)
            )

    def assigned(partitions: list[int]) -> None:
        if stats.assigned_s is None and partitions:
            stats.assigned_s = time.perf_counter() - clock

    reader = KafkaBatchReader(
        kafka_config,
        topic,
        recorded=lambda p: engine.consumed(ref, offset_app_id(topic, p)),
        on_assign=assigned,
    )
    try:
        ends = reader.high_watermarks() if options.available_now else {}
        # A crash may have come after a bronze commit and before its downstream runs.
        first = run_downstream()
        refresh_fed(first.run_id if first else new_run_id(_now()), due=True)
        while not stop():
            started = _now()
            batch = reader.next_batch(
                max_records=options.max_records,
                max_seconds=options.max_seconds,
                batch_id=new_run_id(started),
                ingested_at=started,
                stop=stop,
            )
            if batch.count:
                pause_point("bronze_before_commit")
                clock_batch = time.perf_counter()
                written, skipped = write_bronze(
                    engine,
                    ref,
                    topic,
                    batch.rows,
                    batch.next_offsets,
                    new_run_id(started),
                    batch.first_offsets,
                )
                pause_point("bronze_after_commit")
                bronze = FlowResult(
                    table=ref,
                    kind="stream",
                    status="completed",
                    rows_read=batch.count,
                    rows_written=written,
                    rows_duplicate=skipped,
                    version=engine.version(ref),
                    duration_s=time.perf_counter() - clock_batch,
                    message=f"kafka {topic}: offsets {dict(sorted(batch.next_offsets.items()))}",
                )
                reader.advanced(batch.next_offsets)
                stats.batches += 1
                stats.events += written
                stats.replayed += skipped
                run = run_downstream(bronze) if written else None
                if on_batch:
                    on_batch(batch, written, run)
                if run is not None:
                    refresh_fed(run.run_id)
            if options.available_now and (reader.reached(ends) or not ends):
                break
        refresh_fed(new_run_id(_now()), due=True)  # nothing fed is left behind on stop
    finally:
        reader.close()
        stats.duration_s = time.perf_counter() - clock
    return stats


def run_stream_files(ctx: FlowContext, source: StreamSourceDef, landing: Path) -> FlowResult:
    """The no-broker mode: new JSON-lines files of ``<landing>/<name>/`` into the stream's
    bronze table, one message per line, exactly once (file identities in the commit)."""
    start = time.perf_counter()
    engine = ctx.engine
    target = source.ref
    full = ctx.full_refresh or engine.version(target) is None
    seen: set[tuple[str, int, int]] = set()
    if not full:
        for value in engine.commit_metadata(target, FILES_KEY):
            seen |= {(r["path"], r["size"], r["mtime_ns"]) for r in json.loads(value)}
    new = [f for f in discover(landing, source.name, "jsonl") if f.stat_key not in seen]
    if not new:
        return FlowResult(target, "stream", "skipped", message="no new files")
    tables: list[pa.Table] = []
    records: list[dict[str, object]] = []
    for f in new:
        raw = (landing / f.path).read_bytes()
        lines = [line for line in raw.split(b"\n")]
        numbered = [(i + 1, line.rstrip(b"\r")) for i, line in enumerate(lines) if line.strip()]
        n = len(numbered)
        stamp = datetime.fromtimestamp(f.mtime_ns / 1e9, tz=UTC).replace(tzinfo=None)
        tables.append(
            pa.table(
                [
                    pa.nulls(n, pa.string()),
                    pa.nulls(n, pa.int32()),
                    pa.array([i for i, _ in numbered], pa.int64()),
                    pa.nulls(n, pa.binary()),
                    pa.array([stamp] * n, pa.timestamp("ms")),
                    pa.array([line for _, line in numbered], pa.binary()),
                    pa.array([f"{f.path}:{i}" for i, _ in numbered], pa.string()),
                    pa.array([ctx.run_id] * n, pa.string()),
                    pa.array([ctx.started_at] * n, pa.timestamp("us")),
                ],
                schema=BRONZE_SCHEMA,
            )
        )
        records.append(
            {
                "path": f.path,
                "size": f.size,
                "mtime_ns": f.mtime_ns,
                "sha256": hashlib.sha256(raw).hexdigest(),
                "rows": n,
            }
        )
    rows = pa.concat_tables(tables)
    sequence = (engine.consumed(target, landing_app_id(source.name)) or 0) + 1
    written = (engine.overwrite if full else engine.append)(
        target,
        nw.from_native(rows, eager_only=True),
        transactions={landing_app_id(source.name): sequence},
        metadata={"shoplake.run_id": ctx.run_id, FILES_KEY: json.dumps(records)},
    )
    return FlowResult(
        table=target,
        kind="stream",
        status="completed",
        rows_read=rows.num_rows,
        rows_written=written.rows_inserted,
        version=written.version,
        duration_s=time.perf_counter() - start,
        files=len(new),
    )
