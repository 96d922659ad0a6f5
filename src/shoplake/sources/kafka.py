"""Kafka (or Event Hubs, Redpanda, anything speaking the Kafka protocol) as a source.

A thin layer over confluent-kafka: a batch reader that turns ``consume()`` batches
into Arrow columns for bronze, seeking from offsets the caller keeps (in Delta),
and a producer helper. Configuration passes through untouched, so SASL/SSL for
Event Hubs or Confluent Cloud is only more keys (see docs/streaming.md).
"""

from __future__ import annotations

import contextlib
import operator
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from shoplake.errors import ShoplakeError
from shoplake.names import STREAM_BRONZE

_ARROW_TYPES = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "binary": pa.binary(),
    "datetime[ms]": pa.timestamp("ms"),
    "datetime[us]": pa.timestamp("us"),
}
BRONZE_SCHEMA = pa.schema([(column, _ARROW_TYPES[kind]) for column, kind in STREAM_BRONZE.items()])
"""``shoplake.names.STREAM_BRONZE`` as Arrow."""
CONSUME_CHUNK = 10_000
_SECOND = operator.itemgetter(1)


def _kafka() -> Any:
    try:
        import confluent_kafka
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise ShoplakeError(
            "Kafka needs the confluent-kafka package: pip install confluent-kafka"
        ) from err
    return confluent_kafka


class BrokerUnreachable(ShoplakeError):
    """No Kafka broker answered at the bootstrap address in time."""


def offset_app_id(topic: str, partition: int) -> str:
    """The Delta app transaction that holds a partition's next offset to read."""
    return f"kafka:{topic}:{partition}"


def mock_cluster(brokers: int = 3) -> tuple[Any, str]:
    """Start librdkafka's in-process mock cluster (real Kafka protocol on loopback).

    Returns the handle that keeps it alive, and its bootstrap servers. Topics are
    created on first produce, with 4 partitions.
    """
    keeper = _kafka().Producer({"test.mock.num.brokers": brokers})
    metadata = keeper.list_topics(timeout=10)
    bootstrap = ",".join(f"{b.host}:{b.port}" for b in metadata.brokers.values())
    return keeper, bootstrap


def producer(
    bootstrap: str, config: Mapping[str, object] | None = None, *, connect_timeout_s: float = 5.0
) -> Any:
    """A confluent-kafka Producer whose broker answered within ``connect_timeout_s``
    (:class:`BrokerUnreachable` otherwise: librdkafka would queue and retry silently);
    ``config`` adds or overrides librdkafka settings."""
    settings: dict[str, object] = {
        "bootstrap.servers": bootstrap,
        "linger.ms": 5,
        "queue.buffering.max.messages": 1_000_000,
    }
    settings.update(config or {})
    kafka = _kafka()
    client = kafka.Producer(settings)
    try:
        client.list_topics(timeout=connect_timeout_s)
    except kafka.KafkaException as err:
        raise BrokerUnreachable(
            f"Kafka: no broker answered at {bootstrap} within {connect_timeout_s:g}s "
            f"({err.args[0].str()}); check --bootstrap HOST:PORT, that the broker runs and "
            "is reachable from here, and security.protocol"
        ) from None
    return client


@dataclass(frozen=True)
class Gap:
    """Events a partition no longer holds that were never read: the topic's retention
    deleted offsets ``expected`` up to ``available`` (exclusive) before shoplake got to
    them. They cannot be recovered from Kafka; the stream says so and goes on."""

    partition: int
    expected: int
    available: int

    @property
    def events(self) -> int:
        return self.available - self.expected

    def describe(self, topic: str) -> str:
        return (
            f"gap in {topic} partition {self.partition}: offsets {self.expected:,} to "
            f"{self.available - 1:,} ({self.events:,} events) were deleted by the topic's "
            "retention before they were read"
        )


@dataclass
class Batch:
    """One micro-batch: bronze rows and, per partition, the next offset to read."""

    rows: pa.Table
    next_offsets: dict[int, int] = field(default_factory=dict)
    first_offsets: dict[int, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return int(self.rows.num_rows)


class KafkaBatchReader:
    """Reads a topic in micro-batches, from offsets the caller recorded.

    ``recorded(partition)`` returns the next offset stored with the data (in the
    Delta log) or None; on start and on every partition assignment the reader
    seeks there, never to the broker's committed offsets, which it commits only
    so that lag can be monitored. Messages of a revoked partition that were read
    but not yet written are dropped: the new owner reads them again from the
    recorded offset.

    Example::

        reader = KafkaBatchReader({"bootstrap.servers": "localhost:9092", "group.id": "g"},
                                  "orders", recorded=lambda p: None)
        batch = reader.next_batch(max_records=10_000, max_seconds=1.0)
    """

    def __init__(
        self,
        config: Mapping[str, object],
        topic: str,
        *,
        recorded: Callable[[int], int | None],
        on_assign: Callable[[list[int]], None] | None = None,
    ) -> None:
        kafka = _kafka()
        self._kafka = kafka
        settings: dict[str, object] = {
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        }
        settings.update(config)
        if "group.id" not in settings:
            settings["group.id"] = f"shoplake-{topic}"
        if "bootstrap.servers" not in settings:
            raise ShoplakeError("Kafka: set bootstrap.servers (--bootstrap HOST:PORT)")
        # librdkafka reports a refused login only through this callback (then retries
        # forever): keep it, to stop with a message saying what to check.
        self._refused: str | None = None
        settings.setdefault("error_cb", self._on_error)
        self._where = f"{settings['bootstrap.servers']} as {settings.get('sasl.username', '?')}"
        self.topic = topic
        self._recorded = recorded
        self._notify = on_assign
        self.assigned: set[int] = set()
        self.position: dict[int, int] = {}
        self.gaps: list[Gap] = []
        strategy = str(settings.get("partition.assignment.strategy", ""))
        self._incremental = "cooperative" in strategy.lower()
        self.consumer = kafka.Consumer(settings)
        self.consumer.subscribe([topic], on_assign=self._assign, on_revoke=self._revoke)
        self._pending: list[Any] = []

    def _on_error(self, err: Any) -> None:
        kafka = self._kafka
        refused = (kafka.KafkaError._AUTHENTICATION, kafka.KafkaError.SASL_AUTHENTICATION_FAILED)
        if err.code() in refused:
            self._refused = err.str()

    def _check_login(self) -> None:
        if self._refused is not None:
            raise ShoplakeError(
                f"Kafka: the broker refused the login ({self._where}): {self._refused}; "
                "check sasl.username, sasl.password (SHOPLAKE_KAFKA_SASL_PASSWORD) and "
                "sasl.mechanism"
            )

    # -- rebalance callbacks (run inside consume()) --------------------------------------
    def _assign(self, consumer: Any, partitions: list[Any]) -> None:
        for tp in partitions:
            start = self._recorded(tp.partition)
            if start is not None:
                # Where the last stored batch ended may be gone: never skip it silently.
                available = self._first_offset(tp)
                if available > start:
                    self.gaps.append(Gap(tp.partition, start, available))
                    start = available
            tp.offset = self._kafka.OFFSET_BEGINNING if start is None else start
            self.position[tp.partition] = self._first_offset(tp) if start is None else start
            self.assigned.add(tp.partition)
        if self._cooperative(consumer):
            consumer.incremental_assign(partitions)
        else:
            consumer.assign(partitions)
        if self._notify:
            self._notify(sorted(self.assigned))

    def _first_offset(self, tp: Any) -> int:
        # Retention may have deleted the start of a partition: reading "from the
        # beginning" starts at its low watermark, which --available-now must know.
        try:
            low, _ = self.consumer.get_watermark_offsets(tp, timeout=5, cached=False)
        except self._kafka.KafkaException:
            return 0
        return max(int(low), 0)

    def _revoke(self, consumer: Any, partitions: list[Any]) -> None:
        lost = {tp.partition for tp in partitions}
        self.assigned -= lost
        for p in lost:
            self.position.pop(p, None)
        self._pending = [m for m in self._pending if m.partition() not in lost]
        if self._cooperative(consumer):
            consumer.incremental_unassign(partitions)
        else:
            consumer.unassign()

    def _cooperative(self, _consumer: Any) -> bool:
        # cooperative-sticky hands over partitions one by one; eager strategies all at once.
        return self._incremental

    # -- reading -------------------------------------------------------------------------
    def next_batch(
        self,
        *,
        max_records: int,
        max_seconds: float,
        batch_id: str = "",
        ingested_at: datetime | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Batch:
        """Consume until ``max_records`` or ``max_seconds``, whichever comes first, or
        until the topic has nothing more for now."""
        deadline = time.monotonic() + max_seconds
        self._check_login()
        while len(self._pending) < max_records:
            left = deadline - time.monotonic()
            if left <= 0 or (stop and stop()):
                break
            want = min(CONSUME_CHUNK, max_records - len(self._pending))
            messages = self.consumer.consume(num_messages=want, timeout=min(left, 0.05))
            self._check_login()
            if messages:
                self._pending.extend(self._check(messages))
            elif self._pending:
                break  # caught up with the topic: no reason to hold what we have
        messages, self._pending = self._pending, []
        return self._to_batch(messages, batch_id, ingested_at)

    def _check(self, messages: list[Any]) -> list[Any]:
        message = self._kafka.Message
        if any(map(message.error, messages)):
            for m in messages:
                err = m.error()
                if err is not None and err.fatal():
                    raise ShoplakeError(f"Kafka: {err.str()}; check the connection settings")
            messages = [m for m in messages if m.error() is None]
        if not set(map(message.partition, messages)) <= self.assigned:
            # A message of a partition we no longer own (revoked while buffered) is dropped.
            messages = [m for m in messages if m.partition() in self.assigned]
        return messages

    def _to_batch(self, messages: list[Any], batch_id: str, ingested_at: datetime | None) -> Batch:
        # One C-level pass per column (map over unbound methods): no per-field Python work.
        message = self._kafka.Message
        n = len(messages)
        partitions = pa.array(list(map(message.partition, messages)), pa.int32())
        offsets = pa.array(list(map(message.offset, messages)), pa.int64())
        stamps = list(map(_SECOND, map(message.timestamp, messages)))
        topic = pa.repeat(pa.scalar(self.topic, pa.string()), n)
        source = pc.binary_join_element_wise(
            topic, pc.cast(partitions, pa.string()), pc.cast(offsets, pa.string()), ":"
        )
        rows = pa.table(
            [
                topic,
                partitions,
                offsets,
                pa.array(list(map(message.key, messages)), pa.binary()),
                pa.array(stamps, pa.timestamp("ms")),
                pa.array(list(map(message.value, messages)), pa.binary()),
                source,
                pa.repeat(pa.scalar(batch_id, pa.string()), n),
                pa.repeat(pa.scalar(ingested_at, pa.timestamp("us")), n),
            ],
            schema=BRONZE_SCHEMA,
        )
        next_offsets: dict[int, int] = {}
        first_offsets: dict[int, int] = {}
        if n:
            grouped = rows.group_by("partition").aggregate([("offset", "min"), ("offset", "max")])
            for p, first, last in zip(
                grouped["partition"].to_pylist(),
                grouped["offset_min"].to_pylist(),
                grouped["offset_max"].to_pylist(),
                strict=True,
            ):
                next_offsets[int(p)] = int(last) + 1
                first_offsets[int(p)] = int(first)
        return Batch(rows, next_offsets, first_offsets)

    def advanced(self, next_offsets: Mapping[int, int]) -> None:
        """Record that data up to ``next_offsets`` is stored; commit them to the broker
        too, for lag monitoring only (the Delta log stays the source of truth)."""
        tps = []
        for p, offset in next_offsets.items():
            if p in self.assigned:
                self.position[p] = offset
                tps.append(self._kafka.TopicPartition(self.topic, p, offset))
        if tps:
            # Lag monitoring only: if this commit fails, the next one catches up.
            with contextlib.suppress(self._kafka.KafkaException):
                self.consumer.commit(offsets=tps, asynchronous=True)

    def reach(self, timeout_s: float = 10.0) -> Any:
        """The topic's metadata, or :class:`BrokerUnreachable` naming the address when no
        broker answers within ``timeout_s`` (librdkafka itself would retry silently)."""
        try:
            return self.consumer.list_topics(self.topic, timeout=timeout_s)
        except self._kafka.KafkaException as err:
            # Callbacks (a refused login) are only served while consuming; keep anything read.
            self._pending.extend(self._check(self.consumer.consume(num_messages=1, timeout=1.0)))
            self._check_login()
            raise BrokerUnreachable(
                f"Kafka: no broker answered at {self._where.split(' as ')[0]} within "
                f"{timeout_s:g}s ({err.args[0].str()}); check --bootstrap HOST:PORT, that the "
                "broker runs and is reachable from here, and security.protocol "
                "(--connect-timeout waits longer, --wait keeps trying)"
            ) from None

    def high_watermarks(self) -> dict[int, int]:
        """Each partition's current end offset (what ``--available-now`` reads up to)."""
        metadata = self.reach()
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None:
            return {}
        ends: dict[int, int] = {}
        for p in topic.partitions:
            tp = self._kafka.TopicPartition(self.topic, p)
            _, high = self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            ends[p] = high
        return ends

    def reached(self, ends: Mapping[int, int]) -> bool:
        """Whether every assigned partition is read up to ``ends`` (nothing buffered)."""
        if not self.assigned or self._pending:
            return False
        return all(self.position.get(p, 0) >= ends.get(p, 0) for p in self.assigned)

    def close(self) -> None:
        self.consumer.close()


def file_messages(
    files: Sequence[tuple[str, datetime, Sequence[tuple[int, bytes]]]],
    batch_id: str,
    ingested_at: datetime,
) -> pa.Table:
    """Lines of JSON-lines files as stream bronze rows (the no-broker mode): one message
    per ``(line number, bytes)`` of each ``(path, modified time, lines)``, with no topic,
    partition or key, and ``_source`` = ``path:line``."""
    tables = []
    for path, stamp, numbered in files:
        n = len(numbered)
        tables.append(
            pa.table(
                [
                    pa.nulls(n, pa.string()),
                    pa.nulls(n, pa.int32()),
                    pa.array([i for i, _ in numbered], pa.int64()),
                    pa.nulls(n, pa.binary()),
                    pa.array([stamp] * n, pa.timestamp("ms")),
                    pa.array([line for _, line in numbered], pa.binary()),
                    pa.array([f"{path}:{i}" for i, _ in numbered], pa.string()),
                    pa.array([batch_id] * n, pa.string()),
                    pa.array([ingested_at] * n, pa.timestamp("us")),
                ],
                schema=BRONZE_SCHEMA,
            )
        )
    return pa.concat_tables(tables) if tables else BRONZE_SCHEMA.empty_table()
