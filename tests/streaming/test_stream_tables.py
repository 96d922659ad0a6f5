"""Silver and gold of the order-event stream: poison messages, the watermark, dedupe
across batches, and one order arriving by file and by Kafka."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from pathlib import Path

import orjson
import polars as pl
import pytest
from deltalake import DeltaTable

import shoplake
from shoplake.ecommerce.pipeline import build_pipeline
from shoplake.engines.polars_delta import PolarsDeltaEngine
from shoplake.streaming.runner import StreamOptions, run_kafka_stream

STREAM = ["bronze.order_events", "silver.order_events", "gold.realtime_sales"]


def _read(lake: Path, ref: str) -> pl.DataFrame:
    layer, _, name = ref.partition(".")
    return pl.read_delta(str(lake / layer / name))


def _stream_all(kafka, topic: str, lake: Path, landing: Path) -> None:  # type: ignore[no-untyped-def]
    run_kafka_stream(
        build_pipeline(),
        engine=PolarsDeltaEngine(str(lake)),
        landing=landing,
        source="order_events",
        topic=topic,
        # A new group each time: where to resume comes from the Delta log, not the broker.
        kafka_config={"bootstrap.servers": kafka.bootstrap, "group.id": f"g-{uuid.uuid4()}"},
        options=StreamOptions(max_records=1000, max_seconds=1.0, available_now=True),
    )


def test_poison_messages_are_quarantined_and_the_stream_moves_on(
    kafka, make_event, tmp_path: Path
) -> None:
    topic = kafka.topic()
    huge = orjson.loads(make_event(99))
    huge["note"] = "x" * 70_000
    poison = {
        b"\xff\xfe{": "invalid UTF-8",
        b"{not json": "not JSON",
        orjson.dumps(huge): "over the 65536-byte limit",
        orjson.dumps({"event_type": "order_created"}): "missing required field(s) event_id",
        make_event(98).replace(b'"quantity":2', b'"quantity":"two"'): "items.quantity is not",
    }
    good = [make_event(i) for i in range(20)]
    kafka.send(topic, [*good[:10], *poison, *good[10:]])
    _stream_all(kafka, topic, tmp_path / "lake", tmp_path / "landing")

    assert _read(tmp_path / "lake", "bronze.order_events").height == len(good) + len(poison)
    # The micro-batch into bronze runs outside the graph and still gets its metadata.
    bronze = DeltaTable(str(tmp_path / "lake" / "bronze" / "order_events"))
    assert bronze.metadata().configuration["shoplake.owner"] == "data-platform"
    log = _read(tmp_path / "lake", "_system.event_log")
    bronze_rows = log.filter(pl.col("table") == "bronze.order_events")["rows_written"]
    assert bronze_rows.sum() == len(good) + len(poison)  # each micro-batch is logged
    silver = _read(tmp_path / "lake", "silver.order_events")
    assert sorted(silver["event_id"]) == sorted(f"e-{i}" for i in range(20))
    quarantine = _read(tmp_path / "lake", "quarantine.order_events")
    assert quarantine.height == len(poison)
    assert set(quarantine["rule"]) == {"well_formed_event"}
    records = [json.loads(r) for r in quarantine["record"]]
    for raw, reason in poison.items():
        match = [r for r in records if reason in r["_error"]]
        assert len(match) == 1, reason
        record = match[0]
        topic_name, partition, offset = record["_source"].split(":")
        assert topic_name == topic and int(partition) in range(4) and int(offset) >= 0
        stored = record["_raw"]
        as_bytes = (
            base64.b64decode(stored.removeprefix("base64:"))
            if stored.startswith("base64:")
            else stored.encode()
        )
        assert as_bytes == raw


def _land(landing: Path, name: str, events: list[bytes]) -> None:
    folder = landing / "order_events"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"\n".join(events) + b"\n")
    stamp = time.time_ns() + len(list(folder.iterdir())) * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


def test_watermark_late_events_and_dedupe_across_batches(make_event, tmp_path: Path) -> None:
    lake, landing = tmp_path / "lake", tmp_path / "landing"
    engine = PolarsDeltaEngine(str(lake))
    pipeline = build_pipeline()  # watermark 5 minutes, one-minute windows
    _land(
        landing,
        "a.jsonl",
        [
            make_event(1, when="2026-05-01T12:00:30.000Z"),
            make_event(2, when="2026-05-01T12:10:30Z"),
        ],
    )
    assert (
        shoplake.run(pipeline, engine=engine, landing=landing, select=STREAM).status == "completed"
    )
    _land(
        landing,
        "b.jsonl",
        [
            make_event(1, when="2026-05-01T12:00:30.000Z"),  # a redelivered duplicate
            make_event(3, when="2026-05-01T12:07:10.000Z"),  # late, inside the watermark
            make_event(5, when="2026-05-01T12:10:45.000Z"),  # joins an existing window
            make_event(4, when="2026-05-01T12:01:10.000Z"),  # older than the watermark
        ],
    )
    run = shoplake.run(pipeline, engine=engine, landing=landing, select=STREAM)
    silver_flow = next(f for f in run.flows if f.table == "silver.order_events")
    assert silver_flow.rows_quarantined == 1

    silver = _read(lake, "silver.order_events")
    assert sorted(silver["event_id"]) == ["e-1", "e-2", "e-3", "e-5"]
    quarantine = _read(lake, "quarantine.order_events")
    assert quarantine["rule"].to_list() == ["within_watermark"]
    assert json.loads(quarantine["record"][0])["event_id"] == "e-4"

    gold = _read(lake, "gold.realtime_sales").sort("window_start")
    by_window = {
        w.strftime("%H:%M"): (o, r)
        for w, o, r in gold.select("window_start", "orders", "revenue").iter_rows()
    }
    assert by_window == {"12:00": (1, 20.0), "12:07": (1, 20.0), "12:10": (2, 40.0)}


def test_null_price_and_quantity_follow_the_streaming_rules(make_event, tmp_path: Path) -> None:
    lake, landing = tmp_path / "lake", tmp_path / "landing"
    _land(landing, "a.jsonl", [make_event(1, price=None), make_event(2, quantity=None, price=7.5)])
    shoplake.run(
        build_pipeline(), engine=PolarsDeltaEngine(str(lake)), landing=landing, select=STREAM
    )
    silver = _read(lake, "silver.order_events").sort("event_id")
    assert silver.select("price", "quantity", "line_amount", "event_amount").rows() == [
        (0.0, 2, 0.0, 0.0),
        (7.5, 1, 7.5, 7.5),
    ]


def _csv(path: Path, header: str, *rows: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")


@pytest.mark.slow  # ~10-17 s: a real subprocess, broker or browser
def test_an_order_by_file_and_by_kafka_counts_once(kafka, make_event, tmp_path: Path) -> None:
    lake, landing = tmp_path / "lake", tmp_path / "landing"
    _csv(
        landing / "customers" / "customers.csv",
        "customer_id,first_name,last_name,email,phone,city,state,country,region_id,"
        "signup_date,updated_at",
        "C000001,Ann,Lee,ann@example.com,+1-555-0100,Austin,Texas,United States,R04,"
        "2025-01-01,2025-01-01T00:00:00",
    )
    _csv(
        landing / "products" / "products.csv",
        "product_id,name,category,brand,price,cost,active,updated_at",
        "P00001,Headphones,Electronics,Acme,10.0,6.0,true,2025-01-01T00:00:00",
    )
    order = {
        "order_id": "O90000001",
        "customer_id": "C000001",
        "order_date": "2026-05-01T12:00:30",
        "status": "placed",
        "channel": "web",
        "payment_method": "card",
        "total_amount": "20.0",
        "currency": "USD",
        "updated_at": "2026-05-01T12:00:30",
    }
    (landing / "orders").mkdir(parents=True)
    (landing / "orders" / "orders.jsonl").write_text(json.dumps(order) + "\n")
    _csv(
        landing / "order_items" / "order_items.csv",
        "order_id,line_number,product_id,quantity,unit_price,discount",
        "O90000001,1,P00001,2,10.0,0",
    )
    pipeline = build_pipeline()
    engine = PolarsDeltaEngine(str(lake))
    assert shoplake.run(pipeline, engine=engine, landing=landing).status == "completed"

    topic = kafka.topic()
    kafka.send(
        topic,
        [
            make_event(1, order="O90000001", when="2026-05-01T12:00:30.000Z"),  # also a file
            make_event(2, order="O90000002", when="2026-05-01T12:01:00.000Z"),  # Kafka only
        ],
    )
    _stream_all(kafka, topic, lake, landing)
    assert shoplake.run(pipeline, engine=engine, landing=landing).status == "completed"
    monthly = _read(lake, "gold.monthly_revenue")
    assert monthly.select("orders", "revenue").rows() == [(2, 40.0)]  # not 3 orders, 60.0
    items = _read(lake, "silver.order_items")
    assert items.group_by("order_id").len().sort("order_id")["len"].to_list() == [1, 1]

    cancel = make_event(3, order="O90000001", kind="order_cancelled", when="2026-05-01T12:05:00Z")
    kafka.send(topic, [cancel])
    _stream_all(kafka, topic, lake, landing)
    assert shoplake.run(pipeline, engine=engine, landing=landing).status == "completed"
    orders = _read(lake, "silver.orders").sort("order_id")
    assert orders.select("order_id", "status").rows() == [
        ("O90000001", "cancelled"),  # the latest event wins, keyed on the order id
        ("O90000002", "placed"),
    ]
    monthly = _read(lake, "gold.monthly_revenue")
    assert monthly.select("orders", "revenue").rows() == [(1, 20.0)]
