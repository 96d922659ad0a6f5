"""Against a real Apache Kafka 4 broker (KRaft, ``broker.py``): exactly once through a
broker restart, a rebalance between two streams, SASL/PLAIN the way Azure Event Hubs
configures it, and retention deleting events before they were read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from broker import SASL_PASSWORD, SASL_USER
from test_kafka_bronze import test_rebalance_between_two_consumers_in_one_group

from shoplake.sources.kafka import producer

pytestmark = pytest.mark.slow  # a real broker: one JVM for the session


def stream_cmd(bootstrap: str, topic: str, tmp: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "shoplake.cli", "stream", "--bootstrap", bootstrap,
        "--topic", topic, "--lake", str(tmp / "lake"), "--landing", str(tmp / "landing"),
        "--max-records", "100", "--max-seconds", "0.5", *extra,
    ]  # fmt: skip


def bronze(tmp: Path) -> pl.DataFrame:
    path = tmp / "lake" / "bronze" / "order_events"
    if not (path / "_delta_log").exists():
        return pl.DataFrame()
    return pl.read_delta(str(path))


def wait_until(check: Any, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_exactly_once_through_a_broker_restart_mid_stream(
    real_kafka: Any, make_event: Any, tmp_path: Path
) -> None:
    topic = real_kafka.topic()
    first = [make_event(i) for i in range(300)]
    real_kafka.send(topic, first)
    proc = subprocess.Popen(
        stream_cmd(real_kafka.bootstrap, topic, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: bronze(tmp_path).height >= 100, what="the first micro-batches")
        real_kafka.keeper.restart()  # the stream keeps running through it
        second = [make_event(1000 + i) for i in range(300)]
        real_kafka.send(topic, second)
        wait_until(lambda: bronze(tmp_path).height >= 600, timeout=120, what="every event")
        time.sleep(1)  # anything doubled would have landed by now
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0, out
    stored = bronze(tmp_path)
    assert stored.height == 600
    assert stored.select("partition", "offset").n_unique() == 600
    assert sorted(stored["value"].to_list()) == sorted(first + second)


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_a_second_stream_joining_the_group_rebalances_exactly_once(
    real_kafka: Any, make_event: Any, tmp_path: Path, strategy: str
) -> None:
    test_rebalance_between_two_consumers_in_one_group(real_kafka, make_event, tmp_path, strategy)


def sasl_options(password: str) -> tuple[list[str], dict[str, str]]:
    """Event Hubs' Kafka endpoint settings: user ``$ConnectionString``, the connection
    string as the password (from the environment, never on the command line)."""
    options = ["--kafka", "security.protocol=SASL_PLAINTEXT", "--kafka", "sasl.mechanism=PLAIN",
               "--kafka", f"sasl.username={SASL_USER}"]  # fmt: skip
    return options, {**os.environ, "SHOPLAKE_KAFKA_SASL_PASSWORD": password}


def test_sasl_plain_as_event_hubs_configures_it(
    real_kafka: Any, make_event: Any, tmp_path: Path
) -> None:
    topic = real_kafka.topic()
    real_kafka.send(topic, [make_event(i) for i in range(50)])
    sasl = real_kafka.keeper.sasl_bootstrap
    options, env = sasl_options(SASL_PASSWORD)
    cmd = stream_cmd(sasl, topic, tmp_path, "--available-now", *options)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert bronze(tmp_path).height == 50

    options, env = sasl_options("Endpoint=sb://wrong;SharedAccessKey=nope")
    cmd = stream_cmd(sasl, topic, tmp_path / "other", "--available-now", *options)
    refused = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    [line] = [x for x in refused.stdout.splitlines() if x.startswith("Error: ")]
    assert "the broker refused the login" in line and "check sasl.username" in line
    assert "nope" not in refused.stdout + refused.stderr  # the secret is never printed
    assert "Traceback" not in refused.stdout + refused.stderr


def test_events_deleted_by_retention_before_they_were_read_are_a_reported_gap(
    real_kafka: Any, make_event: Any, tmp_path: Path
) -> None:
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

    topic = real_kafka.topic()
    admin = real_kafka.admin()  # kept: a request dies with its client

    def retention(ms: str) -> None:
        entries = [
            ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
            for name, value in (("retention.ms", ms), ("segment.ms", "200"))
        ]
        change = ConfigResource("topic", topic, incremental_configs=entries)
        for future in admin.incremental_alter_configs([change]).values():
            future.result(30)

    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    real_kafka.send(topic, [make_event(i) for i in range(10)])
    cmd = stream_cmd(real_kafka.bootstrap, topic, tmp_path, "--available-now")
    assert subprocess.run(cmd, capture_output=True, timeout=120).returncode == 0
    assert bronze(tmp_path).height == 10

    # Ten more events nobody reads, then a retention short enough to delete them.
    real_kafka.send(topic, [make_event(100 + i) for i in range(10)])
    retention("500")
    probe = Consumer({"bootstrap.servers": real_kafka.bootstrap, "group.id": "probe"})
    partition = TopicPartition(topic, 0)
    wait_until(
        lambda: probe.get_watermark_offsets(partition, timeout=5, cached=False)[0] >= 20,
        timeout=60,
        what="retention to delete the unread events",
    )
    probe.close()
    retention("-1")
    real_kafka.send(topic, [make_event(200)])  # offset 20

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout
    assert f"gap in {topic} partition 0: offsets 10 to 19 (10 events) were deleted" in (
        done.stdout.replace("\n", "")
    )
    stored = bronze(tmp_path)
    assert stored.height == 11 and stored["offset"].max() == 20
    log = pl.read_delta(str(tmp_path / "lake" / "_system" / "event_log"))
    messages = log.filter(pl.col("table") == "bronze.order_events")["message"].to_list()
    assert any("offsets 10 to 19 (10 events)" in (m or "") for m in messages)


def test_the_real_broker_takes_produced_events(real_kafka: Any) -> None:
    client = producer(real_kafka.bootstrap)
    client.produce(real_kafka.topic(), value=b"{}")
    assert client.flush(30) == 0
