"""Sending events: to a Kafka topic, or as JSON-lines files into the landing folder.

What the events are is the caller's business (``ecommerce/events.py`` makes order
events): anything with ``next(now) -> (key, value)`` can be sent.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Protocol

from shoplake.errors import ShoplakeError
from shoplake.names import utcnow

FILE_EVENTS = 10_000
"""At most this many events per landing file."""


class EventSource(Protocol):
    def next(self, now: datetime) -> tuple[bytes | None, bytes]:
        """The next event's key and value (JSON bytes)."""
        ...



def _paced(count: int, rate: float | None, stop: Callable[[], bool]) -> Callable[[int], bool]:
    """A gate: call with the number sent so far; it sleeps to hold ``rate`` events/s and
    says whether to go on."""
    start = time.monotonic()

    def gate(sent: int) -> bool:
        if stop() or (count and sent >= count):
            return False
        if rate:
            ahead = sent / rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        return True

    return gate


def produce_events(
    factory: EventSource,
    *,
    count: int,
    rate: float | None = None,
    bootstrap: str | None = None,
    topic: str = "order_events",
    landing: Path | None = None,
    kafka_config: Mapping[str, object] | None = None,
    stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int], None] | None = None,
    connect_timeout_s: float = 5.0,
) -> int:
    """Send ``count`` events (0: until ``stop()``) at ``rate`` events/s (None: as fast as
    possible) to ``topic`` on ``bootstrap``, or, without it, into
    ``<landing>/order_events/`` as JSON-lines files. Returns how many were sent."""
    gate = _paced(count, rate, stop)
    sent = 0
    if bootstrap:
        from shoplake.sources.kafka import producer

        client = producer(bootstrap, kafka_config, connect_timeout_s=connect_timeout_s)
        failures: list[str] = []

        def delivered(err: object, _msg: object) -> None:
            if err is not None:
                failures.append(str(err))

        while gate(sent):
            key, value = factory.next(utcnow())
            while True:
                try:
                    client.produce(topic, value=value, key=key, on_delivery=delivered)
                    break
                except BufferError:  # local queue full: let it drain
                    client.poll(0.05)
            sent += 1
            if sent % 1_000 == 0:
                client.poll(0)
                if progress:
                    progress(sent)
        left = client.flush(30)
        if left or failures:
            raise ShoplakeError(
                f"Kafka: {left} event(s) not delivered, {len(failures)} failed "
                f"({failures[0] if failures else 'timed out'}); check --bootstrap and the topic"
            )
        return sent
    if landing is None:
        raise ShoplakeError("give --bootstrap HOST:PORT, or a landing folder for files")
    folder = landing / "order_events"
    folder.mkdir(parents=True, exist_ok=True)
    lines: list[bytes] = []

    def flush() -> None:
        if not lines:
            return
        name = f"events-{utcnow():%Y%m%dT%H%M%S%f}-{os.getpid()}.jsonl"
        tmp = folder / f".{name}.tmp"  # hidden until complete: never read half-written
        tmp.write_bytes(b"\n".join(lines) + b"\n")
        tmp.rename(folder / name)
        lines.clear()

    last_flush = time.monotonic()
    while gate(sent):
        lines.append(factory.next(utcnow())[1])
        sent += 1
        # A paced producer writes a file a second, so a running stream sees events soon.
        if len(lines) >= FILE_EVENTS or (rate and time.monotonic() - last_flush >= 1.0):
            flush()
            last_flush = time.monotonic()
            if progress:
                progress(sent)
    flush()
    return sent
