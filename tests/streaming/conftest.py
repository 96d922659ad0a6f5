"""A real Kafka protocol endpoint on loopback: librdkafka's mock cluster (3 brokers,
topics auto-created with 4 partitions on first produce)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from shoplake.sources.kafka import mock_cluster, producer


@dataclass
class Kafka:
    bootstrap: str
    keeper: Any

    def topic(self) -> str:
        return f"t-{uuid.uuid4().hex[:8]}"

    def send(
        self, topic: str, values: Sequence[bytes], keys: Sequence[bytes] | None = None
    ) -> None:
        client = producer(self.bootstrap)
        for i, value in enumerate(values):
            key = keys[i] if keys is not None else str(i).encode()
            client.produce(topic, value=value, key=key)
        assert client.flush(10) == 0


@pytest.fixture(scope="session")
def kafka() -> Iterator[Kafka]:
    keeper, bootstrap = mock_cluster(3)
    yield Kafka(bootstrap, keeper)
    del keeper


@dataclass
class RealKafka(Kafka):
    """The real broker (``broker.py``): ``keeper`` is the :class:`~broker.Broker`."""

    def admin(self) -> Any:
        from confluent_kafka.admin import AdminClient

        return AdminClient({"bootstrap.servers": self.bootstrap})


@pytest.fixture(scope="session")
def real_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealKafka]:
    """One Apache Kafka 4 broker (KRaft) for the session; the test command fetches its
    jars (scripts/kafka-broker.sh)."""
    import broker

    if not broker.available():
        pytest.skip("no Kafka broker jars: run scripts/kafka-broker.sh (scripts/test.sh does)")
    server = broker.Broker(tmp_path_factory.mktemp("kafka"))
    server.start()
    try:
        yield RealKafka(server.bootstrap, server)
    finally:
        server.stop()


def event(
    n: int,
    *,
    when: str = "2026-05-01T12:00:30.000Z",
    order: str | None = None,
    kind: str = "order_created",
    price: float | None = 10.0,
    quantity: int | None = 2,
    state: str = "Texas",
) -> bytes:
    """One order event as the producer writes it."""
    item: dict[str, object] = {"product_id": "P00001", "category": "Electronics"}
    if price is not None:
        item["price"] = price
    if quantity is not None:
        item["quantity"] = quantity
    return orjson.dumps(
        {
            "event_id": f"e-{n}",
            "event_type": kind,
            "order_id": order or f"O{90000000 + n:08d}",
            "order_time": when,
            "customer_id": "C000001",
            "status": "placed" if kind == "order_created" else "cancelled",
            "channel": "web",
            "payment_method": "card",
            "currency": "USD",
            "state": state,
            "country": "United States",
            "items": [item],
            "total_amount": 20.0,
            "event_time": when,
        }
    )


@pytest.fixture
def make_event() -> Any:
    """``make_event(n, when=..., ...)``: the bytes of one order event."""
    return event
