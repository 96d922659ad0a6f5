"""``shoplake bench soak``: ``watch`` and ``stream`` running for minutes under a steady load.

A small shop is generated and loaded; then a real ``shoplake watch`` process and a
real ``shoplake stream`` process run side by side while this process drops a small
orders file every few seconds (an atomic rename) and produces order events at a
steady rate to librdkafka's mock cluster (or ``--bootstrap``). Each minute prints
what arrived, the latency from a file's drop (an event's Kafka timestamp) to the
bronze batch that took it, p50 and p95, and each process's memory. At the end both
are stopped and every dropped file and every produced event is looked for in
bronze: each must be there exactly once.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table

from shoplake.names import utcnow

ORDERS_PER_FILE = 20


@dataclass
class Load:
    """What this process sent, and when (UTC)."""

    files: dict[str, datetime] = field(default_factory=dict)
    events: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def _drop_files(landing: Path, load: Load, every_s: float, stop: threading.Event) -> None:
    n = 0
    staging = landing / "_staging"
    staging.mkdir(parents=True, exist_ok=True)
    while not stop.wait(every_s):
        name = f"soak-{n:06d}.jsonl"
        rows = [
            {
                "order_id": f"S{n:06d}{i:02d}",
                "customer_id": "C000001",
                "order_date": "2026-10-15T12:00:00",
                "status": "placed",
                "channel": "web",
                "payment_method": "card",
                "total_amount": 10.0 + i,
                "currency": "USD",
                "updated_at": "2026-10-15T12:00:00",
            }
            for i in range(ORDERS_PER_FILE)
        ]
        staged = staging / name
        staged.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        with load.lock:
            load.files[f"orders/{name}"] = utcnow()
        staged.rename(landing / "orders" / name)  # atomic: never seen half-written
        n += 1


def _produce(bootstrap: str, topic: str, rate: float, load: Load, stop: threading.Event) -> None:
    from shoplake.ecommerce.events import EventFactory
    from shoplake.sources.kafka import producer

    factory = EventFactory(seed=23)
    client = producer(bootstrap)
    start = time.monotonic()
    while not stop.is_set():
        due = int((time.monotonic() - start) * rate)
        while load.events < due:
            key, value = factory.next(utcnow())
            client.produce(topic, value=value, key=key)
            load.events += 1
        client.poll(0)
        time.sleep(0.02)
    client.flush(30)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _read(lake: Path, ref: str) -> pl.DataFrame:
    layer, _, name = ref.partition(".")
    path = lake / layer / name
    if not (path / "_delta_log").exists():
        return pl.DataFrame()
    return pl.read_delta(str(path))


def _minute(lake: Path, load: Load, since: datetime, until: datetime) -> dict[str, float]:
    """Files and events that reached bronze in [since, until), with their latencies."""
    orders = _read(lake, "bronze.orders")
    file_lat: list[float] = []
    if orders.height:
        taken = (
            orders.filter(pl.col("_ingested_at").is_between(since, until, closed="left"))
            .with_columns(pl.col("_source").str.replace(r":\d+$", "").alias("file"))
            .group_by("file")
            .agg(pl.col("_ingested_at").min())
        )
        with load.lock:
            drops = dict(load.files)
        for file, at in taken.iter_rows():
            if file in drops:
                file_lat.append((at - drops[file]).total_seconds())
    events = _read(lake, "bronze.order_events")
    event_lat: list[float] = []
    if events.height:
        recent = events.filter(pl.col("_ingested_at").is_between(since, until, closed="left"))
        lag = recent["_ingested_at"] - recent["timestamp"].cast(pl.Datetime("us"))
        event_lat = (lag.dt.total_milliseconds() / 1000).to_list()
    return {
        "files": len(file_lat),
        "file_p50": _pct(file_lat, 0.5),
        "file_p95": _pct(file_lat, 0.95),
        "events": len(event_lat),
        "event_p50": _pct(event_lat, 0.5),
        "event_p95": _pct(event_lat, 0.95),
    }


@dataclass(frozen=True)
class SoakResult:
    """What a soak sent and what its lake holds of it."""

    lake: Path
    landing: Path
    bootstrap: str
    topic: str
    files_sent: int
    files_once: int  # files whose rows are in bronze exactly once
    events_produced: int
    events_stored: int
    events_unique: int
    batches: int
    failed_batches: list[str]  # "<batch id>: <error>"

    @property
    def exactly_once(self) -> bool:
        return (
            self.files_once == self.files_sent
            and self.events_unique == self.events_stored == self.events_produced
        )

    @property
    def ok(self) -> bool:
        return self.exactly_once and not self.failed_batches


def run_soak(
    minutes: float,
    work: Path,
    console: Console,
    *,
    file_every_s: float = 2.0,
    events_per_s: float = 100.0,
    bootstrap: str | None = None,
) -> bool:
    """Run the soak, a report each minute; True when every file and event is in bronze
    exactly once and no batch failed."""
    return soak(
        minutes * 60,
        work,
        console,
        file_every_s=file_every_s,
        events_per_s=events_per_s,
        bootstrap=bootstrap,
    ).ok


def soak(
    seconds: float,
    work: Path,
    console: Console,
    *,
    file_every_s: float = 2.0,
    events_per_s: float = 100.0,
    bootstrap: str | None = None,
    report_every_s: float = 60.0,
    orders: int = 2000,
) -> SoakResult:
    """``watch`` and ``stream`` side by side for ``seconds`` under steady files and
    events (to ``bootstrap``, or librdkafka's mock cluster), a report each
    ``report_every_s``; then both are stopped and everything sent is looked for."""
    from shoplake.ecommerce.generator import generate
    from shoplake.ecommerce.pipeline import build_pipeline
    from shoplake.engines import create_engine
    from shoplake.ingest.update import run_update
    from shoplake.sources.kafka import mock_cluster, producer

    shutil.rmtree(work, ignore_errors=True)
    landing, lake = work / "landing", work / "lake"
    generate(landing, orders=orders, seed=5)
    run_update(build_pipeline(), engine=create_engine(str(lake)), landing=landing)
    keeper, servers = (None, bootstrap) if bootstrap else mock_cluster()
    topic = f"soak-{uuid.uuid4().hex[:8]}"
    first = producer(servers)  # the topic exists before the stream subscribes
    first.produce(topic, value=b"{}")
    first.flush(10)
    load = Load(events=0)
    where = ["--lake", str(lake), "--landing", str(landing)]
    cli = [sys.executable, "-m", "shoplake.cli"]
    logs = {name: (work / f"{name}.log").open("wb") for name in ("watch", "stream")}
    watch = subprocess.Popen(
        [*cli, "watch", *where, "--archive", "leave"],
        stdout=logs["watch"],
        stderr=subprocess.STDOUT,
    )
    stream = subprocess.Popen(
        [*cli, "stream", *where, "--bootstrap", servers, "--topic", topic, "--max-seconds", "1"],
        stdout=logs["stream"],
        stderr=subprocess.STDOUT,
    )
    stop = threading.Event()
    workers = [
        threading.Thread(target=_drop_files, args=(landing, load, file_every_s, stop)),
        threading.Thread(target=_produce, args=(servers, topic, events_per_s, load, stop)),
    ]
    for worker in workers:
        worker.start()
    unit = "minute" if report_every_s == 60 else f"{report_every_s:g} s"
    table = Table(title=f"soak: {seconds / 60:g} min", title_justify="left")
    for column in (unit, "files", "file p50 s", "file p95 s", "events", "event p50 s",
                   "event p95 s", "watch MB", "stream MB"):  # fmt: skip
        table.add_column(column, justify="right")
    peaks = {"watch": 0.0, "stream": 0.0}
    try:
        since = utcnow()
        for period in range(1, max(1, round(seconds / report_every_s)) + 1):
            time.sleep(report_every_s)
            until = utcnow()
            m = _minute(lake, load, since, until)
            rss = {name: _rss_mb(p.pid) for name, p in (("watch", watch), ("stream", stream))}
            for name, (_, peak) in rss.items():
                peaks[name] = max(peaks[name], peak)
            table.add_row(
                str(period),
                f"{m['files']:.0f}",
                f"{m['file_p50']:.2f}",
                f"{m['file_p95']:.2f}",
                f"{m['events']:,.0f}",
                f"{m['event_p50']:.2f}",
                f"{m['event_p95']:.2f}",
                f"{rss['watch'][0]:.0f}",
                f"{rss['stream'][0]:.0f}",
            )
            console.print(
                f"{unit} {period}: {m['files']:.0f} files (p95 {m['file_p95']:.2f} s), "
                f"{m['events']:,.0f} events (p95 {m['event_p95']:.2f} s), watch "
                f"{rss['watch'][0]:.0f} MB, stream {rss['stream'][0]:.0f} MB"
            )
            since = until
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)
        _settle(lake, load)
        for process in (watch, stream):
            process.send_signal(signal.SIGTERM)
        for process in (watch, stream):
            process.wait(120)
        for log in logs.values():
            log.close()
    console.print(table)
    console.print(f"peak memory: watch {peaks['watch']:.0f} MB, stream {peaks['stream']:.0f} MB")
    result = _accounted(lake, landing, load, servers, topic)
    del keeper
    _print_verdict(result, console)
    return result


def _settle(lake: Path, load: Load, timeout_s: float = 30.0) -> None:
    """Give the last file and events time to reach bronze (at most ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    with load.lock:
        wanted = len(load.files)
    while time.monotonic() < deadline:
        orders = _read(lake, "bronze.orders")
        events = _read(lake, "bronze.order_events")
        files = (
            orders.filter(pl.col("_source").str.contains("soak-"))
            .select(pl.col("_source").str.replace(r":\d+$", "").n_unique())
            .item()
            if orders.height
            else 0
        )
        if files >= wanted and events.height >= load.events + 1:
            time.sleep(2)  # and the downstream runs of the last micro-batch
            return
        time.sleep(1)


def _accounted(lake: Path, landing: Path, load: Load, servers: str, topic: str) -> SoakResult:
    from shoplake.engines import create_engine
    from shoplake.ingest.batch_log import list_batches

    orders = _read(lake, "bronze.orders")
    per_file = (
        orders.with_columns(pl.col("_source").str.replace(r":\d+$", "").alias("file"))
        .filter(pl.col("file").str.contains("soak-"))
        .group_by("file")
        .len()
    )
    counts = dict(per_file.iter_rows())
    events = _read(lake, "bronze.order_events")
    batches = list_batches(create_engine(str(lake)))
    failed = [f"{b.batch_id}: {b.error}" for b in batches if b.status != "succeeded"]
    return SoakResult(
        lake=lake,
        landing=landing,
        bootstrap=servers,
        topic=topic,
        files_sent=len(load.files),
        files_once=sum(1 for f in load.files if counts.get(f) == ORDERS_PER_FILE),
        events_produced=load.events + 1,  # and the one that created the topic
        events_stored=events.height,
        events_unique=events.select("partition", "offset").n_unique() if events.height else 0,
        batches=len(batches),
        failed_batches=failed,
    )


def _print_verdict(result: SoakResult, console: Console) -> None:
    console.print(
        f"accounted for: files {result.files_once:,}/{result.files_sent:,} in bronze once, "
        f"events {result.events_unique:,} unique of {result.events_stored:,} stored, "
        f"{result.events_produced:,} produced — "
        + ("[green]every one exactly once[/]" if result.exactly_once else "[bold red]MISMATCH[/]")
    )
    failed = len(result.failed_batches)
    console.print(
        f"batches: {result.batches:,} in _system/batches, {failed:,} failed"
        + (f" — the first: {result.failed_batches[-1]}" if failed else "")
    )
