"""The streaming flow: a topic into its bronze table exactly once, then its downstream
tables, one micro-batch at a time.

Exactly once: every bronze commit carries, as Delta app transactions, the next
offset of each topic-partition it holds (``kafka:<topic>:<partition>``). The
reader seeks from those on start and on every partition assignment, and rows at
offsets already recorded are dropped before a write, so a crash anywhere, a
restart or a rebalance can neither lose nor repeat a message. The downstream
tables are ordinary incremental flows that record the bronze version they
consumed, so they catch up after a crash the same way.

One writer per table: the stream's own bronze table is written by the stream alone,
without the lake lock, so a batch run never delays an event's commit. Every other
table it writes (downstream, feeds and the tables fed) is shared with ``run`` and
``watch``, so the stream writes them only while it holds the lake lock. It does not
queue for it: when the lake is busy, that work waits for a later micro-batch (the
flows are incremental, so nothing is lost; a batch run meanwhile does the same work).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import narwhals as nw

from shoplake.engines.base import Engine
from shoplake.errors import ShoplakeError
from shoplake.names import utcnow
from shoplake.pipeline.faults import fault
from shoplake.pipeline.graph import build_graph
from shoplake.pipeline.results import FlowResult, RunResult
from shoplake.pipeline.tables import Pipeline, StreamSourceDef
from shoplake.sources.kafka import Batch, BrokerUnreachable, KafkaBatchReader, offset_app_id


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
    final_wait_s: float = 30.0
    """On stop, how long to queue for the lake lock so the downstream tables and feeds
    catch up with the last micro-batch (a busy lake otherwise leaves them to the next
    start, or to a batch run)."""
    lock_ttl_s: float = 30.0  # an object-store lake's lease (ingest/lease.py)
    connect_timeout_s: float = 5.0
    """How long the broker has to answer at start before the stream stops with an error."""
    wait_for_broker: bool = False
    """Keep trying an unreachable broker (saying so each time) instead of stopping."""


@dataclass
class StreamStats:
    batches: int = 0
    events: int = 0
    replayed: int = 0
    duration_s: float = 0.0
    assigned_s: float | None = None
    """Seconds from start until partitions were first assigned (group join)."""
    gaps: list[str] = field(default_factory=list)
    """Events retention deleted before they were read (``sources.kafka.Gap``), described."""
    runs: list[RunResult] = field(default_factory=list)
    deferred: int = 0
    """Micro-batches whose downstream work waited: another process held the lake."""


@contextmanager
def lake_turn(engine: Engine, wait_s: float = 0.0, ttl_s: float = 30.0) -> Iterator[bool]:
    """The lake lock if it can be had within ``wait_s``: True inside when held."""
    from shoplake.ingest.lock import LakeBusy, lake_lock

    with ExitStack() as stack:
        try:
            stack.enter_context(lake_lock(engine.lake, wait_s, ttl_s))
        except LakeBusy:
            yield False
            return
        yield True


def write_bronze(
    engine: Engine,
    ref: str,
    topic: str,
    rows: Any,
    next_offsets: Mapping[int, int],
    run_id: str,
    first_offsets: Mapping[int, int] | None = None,
) -> tuple[int, int]:
    """Append a micro-batch and its offsets in one commit; (rows written, rows skipped).

    ``rows`` is a native frame of the stream bronze schema (any library narwhals
    reads). Rows at offsets the table already holds are dropped first, which also
    makes a retry after an "outcome unknown" commit error safe. ``first_offsets``
    (each partition's lowest offset in ``rows``) lets the usual case skip that filter.
    """
    first_offsets = first_offsets or {}
    rows = nw.from_native(rows, eager_only=True)
    for attempt in (1, 2):
        recorded = {p: engine.consumed(ref, offset_app_id(topic, p)) for p in next_offsets}
        fresh = rows
        behind = {
            p: start
            for p, start in recorded.items()
            if start is not None and start > first_offsets.get(p, -1)
        }
        if behind:  # only after a restart or rebalance: drop what is already stored
            stale = nw.any_horizontal(
                *[
                    (nw.col("partition") == p) & (nw.col("offset") < start)
                    for p, start in behind.items()
                ],
                ignore_nulls=True,
            )
            fresh = rows.filter(~stale)
        transactions = {
            offset_app_id(topic, p): n
            for p, n in next_offsets.items()
            if recorded[p] is None or n > recorded[p]  # type: ignore[operator]
        }
        if not transactions:
            return 0, len(rows)
        try:
            engine.append(
                ref,
                fresh,
                transactions=transactions,
                metadata={"shoplake.run_id": run_id},
            )
        except Exception:
            if attempt == 2:
                raise
            continue  # the commit may have landed: the next pass re-reads the offsets
        return len(fresh), len(rows) - len(fresh)
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
    from shoplake.pipeline.context import app_id, as_lazy

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
        rows = as_lazy(feed.fn(frame), feed.target)  # written from the plan, never collected
        written = engine.append(
            feed.target, rows, transactions={key: current}, metadata={"shoplake.run_id": run_id}
        )
        if written.rows_inserted:
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


def choose_stream_source(pipeline: Pipeline, name: str | None = None) -> StreamSourceDef:
    """The stream source called ``name``, or the pipeline's only one when no name is given."""
    if name is not None:
        return stream_source(pipeline, name)
    streams = [d for d in pipeline.definitions.values() if isinstance(d, StreamSourceDef)]
    if len(streams) != 1:
        names = ", ".join(d.name for d in streams) or "none"
        raise ShoplakeError(
            f"pipeline '{pipeline.name}' has {len(streams)} stream sources ({names}); "
            "name one with --source"
        )
    return streams[0]


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
    on_wait: Callable[[str], None] | None = None,
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

    behind = False  # a bronze commit whose downstream work waits for the lake lock
    fed_at = 0.0

    def catch_up(bronze: FlowResult | None = None, *, wait_s: float = 0.0) -> RunResult | None:
        """Downstream tables and, when due, feeds, under the lake lock; None when there
        is nothing downstream or the lake was busy (then ``behind`` stays set)."""
        nonlocal behind, fed_at
        if not downstream:
            behind = False
            return None
        with lake_turn(engine, wait_s, options.lock_ttl_s) as held:
            if not held:
                behind = True
                stats.deferred += 1
                return None
            done = [bronze] if bronze is not None else []
            run = run_update(pipeline, engine=engine, landing=landing, select=downstream, done=done)
            stats.runs.append(run)
            behind = False
            due = wait_s > 0 or time.monotonic() - fed_at >= options.feed_every_s
            if pipeline.feeds and due and run.status != "failed":
                fed_at = time.monotonic()
                fed = run_feeds(engine, pipeline, set(downstream), run.run_id)
                followers = feed_followers(pipeline, fed)
                if followers:
                    stats.runs.append(
                        run_update(pipeline, engine=engine, landing=landing, select=followers)
                    )
            return run

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
        while not stop():
            try:
                reader.reach(options.connect_timeout_s)
                break
            except BrokerUnreachable as err:
                if not options.wait_for_broker:
                    raise
                if on_wait is not None:
                    on_wait(f"{err}; trying again")
        ends = reader.high_watermarks() if options.available_now else {}
        # A crash may have come after a bronze commit and before its downstream runs.
        fed_at = -options.feed_every_s
        catch_up()
        while not stop():
            started = utcnow()
            batch = reader.next_batch(
                max_records=options.max_records,
                max_seconds=options.max_seconds,
                batch_id=new_run_id(started),
                ingested_at=started,
                stop=stop,
            )
            if batch.count:
                fault("stream_before_bronze_commit")
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
                fault("stream_after_bronze_commit")
                gaps = [g.describe(topic) for g in reader.gaps[len(stats.gaps) :]]
                stats.gaps += gaps
                offsets = f"kafka {topic}: offsets {dict(sorted(batch.next_offsets.items()))}"
                bronze = FlowResult(
                    table=ref,
                    kind="stream",
                    status="completed",
                    rows_read=batch.count,
                    rows_written=written,
                    rows_duplicate=skipped,
                    version=engine.version(ref),
                    duration_s=time.perf_counter() - clock_batch,
                    # In the event log too: a gap is a fact about this batch's input.
                    message="; ".join([offsets, *gaps]),
                )
                reader.advanced(batch.next_offsets)
                stats.batches += 1
                stats.events += written
                stats.replayed += skipped
                run = catch_up(bronze) if written or behind else None
                if on_batch:
                    on_batch(batch, written, run)
            elif behind:
                catch_up()
            if options.available_now and (reader.reached(ends) or not ends):
                break
        if downstream:  # nothing downstream or fed is left behind on stop
            catch_up(wait_s=options.final_wait_s)
        stats.gaps += [g.describe(topic) for g in reader.gaps[len(stats.gaps) :]]
    finally:
        reader.close()
        stats.duration_s = time.perf_counter() - clock
    return stats
