"""Streaming benchmarks: topic → bronze throughput, and produce → ``realtime_sales`` latency.

Both run against a real Kafka protocol endpoint: ``--bootstrap``, or librdkafka's
in-process mock cluster when none is given.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from shoplake.ecommerce.events import EventFactory
from shoplake.ecommerce.pipeline import build_pipeline
from shoplake.engines import create_engine
from shoplake.names import utcnow
from shoplake.pipeline.results import RunResult
from shoplake.sources.kafka import Batch, mock_cluster, producer
from shoplake.streaming.runner import StreamOptions, StreamStats, run_kafka_stream

WARM_UP_EVENTS = 10_000


@dataclass(frozen=True)
class ThroughputResult:
    events: int
    seconds: float
    join_seconds: float
    batches: int

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class LatencyResult:
    events: int
    rate: float
    p50: float
    p95: float
    max: float
    batches: int


def _bootstrap(given: str | None) -> tuple[object | None, str]:
    if given:
        return None, given
    return mock_cluster()


def throughput(
    work: Path,
    *,
    events: int,
    bootstrap: str | None = None,
    max_records: int = 100_000,
    round_size: int = 30_000,
) -> ThroughputResult:
    """Time ``events`` order events from the topic into bronze (bronze only).

    The mock cluster keeps only a few MB per partition, so the events go in rounds of
    ``round_size``: produce a round, then drain it with ``--available-now`` into the
    same lake (each round resumes from the offsets in the Delta log). Only the draining
    counts: the consumer group join of each round is timed apart, and a first warm-up
    round of ``WARM_UP_EVENTS`` is not counted.
    """
    keeper, servers = _bootstrap(bootstrap)
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    factory = EventFactory(seed=7)
    now = utcnow()
    values = [factory.next(now) for _ in range(min(events, 5_000))]
    client = producer(servers)
    lake = work / "throughput"
    shutil.rmtree(lake, ignore_errors=True)
    engine = create_engine(str(lake), reuse_snapshots=True)
    pipeline = build_pipeline()

    def produce_and_drain(first: int, n: int) -> StreamStats:
        for i in range(first, first + n):
            key, value = values[i % len(values)]
            while True:
                try:
                    client.produce(topic, value=value, key=key)
                    break
                except BufferError:
                    client.poll(0.01)
        client.flush(60)
        return run_kafka_stream(
            pipeline,
            engine=engine,
            landing=work / "landing",
            source="order_events",
            topic=topic,
            kafka_config={"bootstrap.servers": servers, "group.id": f"bench-{uuid.uuid4()}"},
            options=StreamOptions(
                max_records=max_records, max_seconds=1.0, available_now=True, downstream=False
            ),
        )

    # A first, untimed round pays what a process pays once (pyarrow's first array
    # imports pandas, ~0.3 s; the Delta table is created): sustained rate is steady state.
    warm = produce_and_drain(0, min(WARM_UP_EVENTS, round_size))
    stored, drain, join, batches, sent = 0, 0.0, 0.0, 0, 0
    while sent < events:
        n = min(round_size, events - sent)
        stats = produce_and_drain(warm.events + sent, n)
        sent += n
        stored += stats.events
        batches += stats.batches
        join += stats.assigned_s or 0.0
        drain += stats.duration_s - (stats.assigned_s or 0.0)
    del keeper
    return ThroughputResult(stored, drain, join, batches)


def latency(
    work: Path,
    *,
    rate: float,
    seconds: float,
    bootstrap: str | None = None,
    max_seconds: float = 0.25,
) -> LatencyResult:
    """Produce at a steady ``rate`` for ``seconds`` while the stream runs topic → bronze →
    silver → gold; an event's latency is from its Kafka timestamp (when produced) to
    the commit of the ``realtime_sales`` version that includes it."""
    keeper, servers = _bootstrap(bootstrap)
    topic = f"latency-{uuid.uuid4().hex[:8]}"
    lake = work / "latency"
    shutil.rmtree(lake, ignore_errors=True)
    factory = EventFactory(seed=11)
    # One event first, so the topic exists before the consumer subscribes.
    warm = producer(servers)
    key, value = factory.next(utcnow())
    warm.produce(topic, value=value, key=key)
    warm.flush(10)
    total = int(rate * seconds)
    done = threading.Event()
    ready = threading.Event()

    def send() -> None:
        ready.wait(30)
        from shoplake.sources.produce import produce_events

        produce_events(factory, count=total, rate=rate, bootstrap=servers, topic=topic)
        done.set()

    latencies: list[float] = []
    seen = 0
    batches = 0

    def on_batch(batch: Batch, written: int, run: RunResult | None) -> None:
        nonlocal seen, batches
        if not ready.is_set():
            # The warm-up event waited for the consumer group to form: not steady state.
            ready.set()
            return
        seen += written
        if run is None or any(f.status == "failed" for f in run.flows):
            return
        committed = time.time() * 1000
        stamps = batch.rows["timestamp"].cast("int64").to_pylist()
        latencies.extend((committed - s) / 1000 for s in stamps)
        batches += 1

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    run_kafka_stream(
        build_pipeline(),
        engine=create_engine(str(lake), reuse_snapshots=True),
        landing=work / "landing",
        source="order_events",
        topic=topic,
        kafka_config={"bootstrap.servers": servers, "group.id": f"bench-{topic}"},
        options=StreamOptions(max_records=50_000, max_seconds=max_seconds),
        stop=lambda: done.is_set() and seen >= total,
        on_batch=on_batch,
    )
    thread.join(5)
    del keeper
    steady = sorted(latencies) or [0.0]

    def pct(q: float) -> float:
        return steady[min(len(steady) - 1, int(q * len(steady)))]

    return LatencyResult(len(latencies), rate, pct(0.50), pct(0.95), steady[-1], batches)
