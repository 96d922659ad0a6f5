"""Decoding payloads, the producer's defects, and the produce/stream commands."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import narwhals as nw
import polars as pl
import pytest
from typer.testing import CliRunner

from shoplake.cli import app
from shoplake.ecommerce.events import EventFactory
from shoplake.errors import ShoplakeError
from shoplake.streaming.decode import decode_json

runner = CliRunner()
FIELDS = {"id": "string", "n": "int", "items": [{"sku": "string", "qty": "int"}]}


def _decode(values: list[bytes], **kw: object) -> pl.DataFrame:
    frame = nw.from_native(pl.DataFrame({"value": values}, schema={"value": pl.Binary}).lazy())
    out = decode_json(frame, "value", FIELDS, required=["id"], **kw)  # type: ignore[arg-type]
    native = out.to_native()
    assert isinstance(native, pl.LazyFrame)
    return native.collect()


def test_decode_names_why_a_payload_is_unusable() -> None:
    out = _decode(
        [
            b'{"id": "a", "n": 2.0}',
            b"\xc3\x28",
            b"[1, 2]",
            b'{"n": 1}',
            b'{"id": "b", "n": "many"}',
            b'{"id": "c", "n": 1, "pad": "' + b"x" * 100 + b'"}',
        ],
        max_bytes=80,
    )
    assert out["id"].to_list() == ["a", None, None, None, None, None]
    assert out["n"].to_list()[0] == 2
    errors = out["_error"].to_list()
    assert errors[0] is None
    assert errors[1] == "invalid UTF-8 at byte 0"
    assert errors[2] == "schema violation: expected a JSON object, got list"
    assert errors[3] == "schema violation: missing required field(s) id"
    assert errors[4] == "schema violation: n is not a int"
    assert "over the 80-byte limit" in errors[5]
    assert out["_raw"][1] == "base64:wyg="


def test_decode_explodes_list_fields_with_line_numbers() -> None:
    out = _decode(
        [b'{"id": "a", "items": [{"sku": "x", "qty": 1}, {"sku": "y"}]}', b'{"id": "b"}'],
        explode="items",
    )
    assert out.select("id", "line_number", "sku", "qty").rows() == [
        ("a", 1, "x", 1),
        ("a", 2, "y", None),
        ("b", None, None, None),
    ]


def test_decode_rejects_an_undeclared_type() -> None:
    frame = nw.from_native(pl.DataFrame({"value": [b"{}"]}).lazy())
    with pytest.raises(ShoplakeError, match="'when': type 'date' is not one of"):
        decode_json(frame, "value", {"when": "date"})


def test_producer_injects_each_defect_kind() -> None:
    factory = EventFactory(seed=3, defect_rate=0.5)
    now = datetime(2026, 5, 1, 12, 0, 0)
    values = [factory.next(now)[1] for _ in range(400)]
    assert all(n > 0 for n in factory.defects.values()), factory.defects
    parsed = []
    for v in values:
        try:
            parsed.append(json.loads(v))
        except json.JSONDecodeError:
            continue
    # A duplicate may repeat a malformed message, so at least that many are broken.
    assert len(values) - len(parsed) >= factory.defects["malformed"]
    kinds = {e["event_type"] for e in parsed}
    assert kinds == {"order_created", "order_updated", "order_cancelled"}
    times = {e["event_time"] for e in parsed}
    assert "2026-05-01T11:30:00.000Z" in times  # late by 30 minutes
    resent = sum(a == b for a, b in itertools.pairwise(values))
    assert resent == factory.defects["duplicate"]


def test_produce_files_then_stream_without_a_broker(tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    result = runner.invoke(
        app,
        ["produce", "--count", "300", "--landing", str(landing), "--defect-rate", "0.1"],
    )
    assert result.exit_code == 0, result.output
    files = list((landing / "order_events").glob("*.jsonl"))
    assert files and sum(len(f.read_bytes().splitlines()) for f in files) == 300
    args = ["stream", "--lake", str(lake), "--landing", str(landing), "--available-now"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    bronze = pl.read_delta(str(lake / "bronze" / "order_events"))
    silver = pl.read_delta(str(lake / "silver" / "order_events"))
    quarantine = pl.read_delta(str(lake / "quarantine" / "order_events"))
    assert bronze.height == 300
    assert silver.height > 0 and quarantine.height > 0
    assert pl.read_delta(str(lake / "gold" / "realtime_sales")).height > 0
    # Streamed orders reached the batch order tables too.
    assert pl.read_delta(str(lake / "bronze" / "orders")).height > 0
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert pl.read_delta(str(lake / "bronze" / "order_events")).height == 300


def test_stream_stops_cleanly_on_sigterm(kafka, make_event, tmp_path: Path) -> None:
    topic = kafka.topic()
    kafka.send(topic, [make_event(i) for i in range(50)])
    cmd = [sys.executable, "-m", "shoplake.cli", "stream", "--bootstrap", kafka.bootstrap]
    cmd += ["--topic", topic, "--lake", str(tmp_path / "lake"), "--landing", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ)
    bronze = tmp_path / "lake" / "bronze" / "order_events"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if (bronze / "_delta_log").exists() and pl.read_delta(str(bronze)).height == 50:
            break
        time.sleep(0.2)
    kafka.send(topic, [make_event(100 + i) for i in range(5)])
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 0, out
    assert "stopped" in out
    stored = pl.read_delta(str(bronze))
    assert 50 <= stored.height <= 55  # what it read before stopping is committed, once
    assert stored.select("partition", "offset").n_unique() == stored.height


def test_kafka_settings_from_environment_then_options() -> None:
    from shoplake.cli.stream import parse_kafka_config
    from shoplake.errors import ConfigError

    env = {"SHOPLAKE_KAFKA_SASL_PASSWORD": "secret", "SHOPLAKE_KAFKA_SASL_MECHANISM": "PLAIN"}
    config = parse_kafka_config(["sasl.mechanism=SCRAM-SHA-512", "a.b=c=d"], env)
    assert config == {"sasl.password": "secret", "sasl.mechanism": "SCRAM-SHA-512", "a.b": "c=d"}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_kafka_config(["nonsense"], {})
