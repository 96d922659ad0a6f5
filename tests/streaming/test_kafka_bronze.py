"""Topic → bronze exactly once, against a real Kafka protocol endpoint (mock cluster)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from shoplake.ecommerce.pipeline import build_pipeline
from shoplake.engines.polars_delta import PolarsDeltaEngine
from shoplake.pipeline.faults import FAULT_ENV
from shoplake.sources.kafka import offset_app_id
from shoplake.streaming.runner import StreamOptions, run_kafka_stream


def _stream_cmd(bootstrap: str, topic: str, lake: Path, landing: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "shoplake.cli",
        "stream",
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--lake",
        str(lake),
        "--landing",
        str(landing),
        "--available-now",
        "--max-records",
        "150",
        "--max-seconds",
        "5",
        # A killed member leaves the group only when its session times out.
        "--kafka",
        "session.timeout.ms=6000",
        "--kafka",
        "heartbeat.interval.ms=500",
    ]


def _wait_for(proc: subprocess.Popen[bytes], marker: bytes, timeout: float = 60) -> None:
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    seen = b""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if marker in line:
            return
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"never reached {marker!r}; stderr: {seen[-2000:]!r}")


def _bronze(lake: Path) -> pl.DataFrame:
    return pl.read_delta(str(lake / "bronze" / "order_events"))


@pytest.mark.slow  # ~10-17 s: a real subprocess, broker or browser
@pytest.mark.parametrize("point", ["before_bronze_commit", "after_bronze_commit"])
def test_sigkill_then_restart_stores_every_event_once(
    kafka, make_event, tmp_path: Path, point: str
) -> None:
    topic = kafka.topic()
    values = [make_event(i) for i in range(600)]
    kafka.send(topic, values)
    lake, landing = tmp_path / "lake", tmp_path / "landing"
    cmd = _stream_cmd(kafka.bootstrap, topic, lake, landing)

    # First micro-batch: killed at the named point (mid-batch, or right after its commit).
    env = {**os.environ, FAULT_ENV: f"stream_{point}:pause"}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    _wait_for(proc, f"paused at stream_{point}".encode())
    proc.kill()
    proc.wait(10)
    committed = lake / "bronze" / "order_events"
    if point == "before_bronze_commit":
        assert not (committed / "_delta_log").exists()
    else:
        assert 0 < _bronze(lake).height < len(values)

    # Restart: seeks from the offsets in the Delta log, reads to the end, stops.
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    done = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]

    bronze = _bronze(lake)
    assert bronze.height == len(values)
    assert bronze.select("partition", "offset").n_unique() == len(values)
    assert sorted(bronze["value"].to_list()) == sorted(values)
    assert bronze["partition"].n_unique() == 4
    table = DeltaTable(str(committed))
    for p, group in bronze.group_by("partition"):
        assert table.transaction_version(offset_app_id(topic, p[0])) == group["offset"].max() + 1
    # ...and the downstream tables saw each event once too.
    silver = pl.read_delta(str(lake / "silver" / "order_events"))
    assert silver["event_id"].n_unique() == silver.height == len(values)


@pytest.mark.slow  # ~10-17 s: a real subprocess, broker or browser
@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_rebalance_between_two_consumers_in_one_group(
    kafka, make_event, tmp_path: Path, strategy: str
) -> None:
    topic = kafka.topic()
    first = [make_event(i) for i in range(400)]
    kafka.send(topic, first)
    engine = PolarsDeltaEngine(str(tmp_path / "lake"))
    pipeline = build_pipeline()
    stop = threading.Event()
    written = {"a": 0, "b": 0}
    config = {
        "bootstrap.servers": kafka.bootstrap,
        "group.id": f"g-{topic}",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "partition.assignment.strategy": strategy,
    }

    def consumer(name: str) -> None:
        def count(batch, n, run) -> None:  # type: ignore[no-untyped-def]
            written[name] += n

        run_kafka_stream(
            pipeline,
            engine=engine,
            landing=tmp_path / "landing",
            source="order_events",
            topic=topic,
            kafka_config={**config, "client.id": name},
            options=StreamOptions(max_records=100, max_seconds=0.2, downstream=False),
            stop=stop.is_set,
            on_batch=count,
        )

    a = threading.Thread(target=consumer, args=("a",))
    a.start()
    deadline = time.monotonic() + 30
    while written["a"] < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert written["a"] >= 100
    # A second member joins: the group rebalances, and the partitions moved to it
    # resume from the offsets in the Delta log.
    b = threading.Thread(target=consumer, args=("b",))
    b.start()
    deadline = time.monotonic() + 30
    while written["b"] == 0 and time.monotonic() < deadline:
        if written["a"] >= len(first):
            kafka.send(topic, [make_event(10_000 + written["a"] + i) for i in range(40)])
        time.sleep(0.2)
    second = [make_event(20_000 + i) for i in range(400)]
    kafka.send(topic, second)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        bronze = pl.read_delta(str(tmp_path / "lake" / "bronze" / "order_events"))
        if set(second) <= set(bronze["value"].to_list()):
            break
        time.sleep(0.2)
    time.sleep(0.5)
    stop.set()
    a.join(30)
    b.join(30)

    bronze = pl.read_delta(str(tmp_path / "lake" / "bronze" / "order_events"))
    assert written["a"] > 0 and written["b"] > 0
    assert bronze.select("partition", "offset").n_unique() == bronze.height
    values = set(bronze["value"].to_list())
    assert set(first) <= values and set(second) <= values
    assert bronze.height == written["a"] + written["b"]


def test_a_replayed_batch_writes_only_what_is_new(tmp_path: Path) -> None:
    import pyarrow as pa

    from shoplake.sources.kafka import BRONZE_SCHEMA
    from shoplake.streaming.runner import write_bronze

    def batch(partition: int, first: int, last: int) -> pa.Table:
        offsets = list(range(first, last + 1))
        n = len(offsets)
        return pa.table(
            {
                "topic": ["t"] * n,
                "partition": [partition] * n,
                "offset": offsets,
                "key": [None] * n,
                "timestamp": [None] * n,
                "value": [f"v{partition}-{o}".encode() for o in offsets],
                "_source": [f"t:{partition}:{o}" for o in offsets],
                "_batch_id": ["b"] * n,
                "_ingested_at": [None] * n,
            },
            schema=BRONZE_SCHEMA,
        )

    engine = PolarsDeltaEngine(str(tmp_path / "lake"))
    ref = "bronze.order_events"
    assert write_bronze(engine, ref, "t", batch(0, 0, 9), {0: 10}, "r1", {0: 0}) == (10, 0)
    # Offsets 5..14 of partition 0 again (a zombie's or a retried batch) plus partition 1.
    rows = pa.concat_tables([batch(0, 5, 14), batch(1, 0, 2)])
    assert write_bronze(engine, ref, "t", rows, {0: 15, 1: 3}, "r2", {0: 5, 1: 0}) == (8, 5)
    # Nothing new at all: no commit.
    version = engine.version(ref)
    assert write_bronze(engine, ref, "t", batch(1, 0, 2), {1: 3}, "r3", {1: 0}) == (0, 3)
    assert engine.version(ref) == version
    stored = pl.read_delta(str(tmp_path / "lake" / "bronze" / "order_events"))
    assert stored.height == 18
    assert stored.select("partition", "offset").n_unique() == 18
    assert engine.consumed(ref, offset_app_id("t", 0)) == 15
    assert engine.consumed(ref, offset_app_id("t", 1)) == 3
