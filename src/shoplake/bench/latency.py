"""``shoplake bench-latency``: how long a file takes from landing to gold under ``watch``.

A shop is generated in small files; all but the last N orders files build the
lake. Then a real ``shoplake watch`` process runs, and the held-back files are
dropped one by one (an atomic rename, as a well-behaved exporter does). A
file's latency is from its rename to the Delta commit of the last gold table
its batch wrote, read from the gold tables' own commit timestamps.
"""

from __future__ import annotations

import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from shoplake.bench.common import fresh_folder
from shoplake.errors import ShoplakeError

MARKER = ".shoplake-bench-latency"


def _gold_commit_time(lake: Path, batch_id: str) -> datetime | None:
    """When the last gold table written by ``batch_id`` committed (from the event log)."""
    import polars as pl
    from deltalake import DeltaTable

    events = pl.read_delta(str(lake / "_system" / "event_log"))
    gold = events.filter(
        (pl.col("run_id") == batch_id)
        & (pl.col("layer") == "gold")
        & (pl.col("status") == "completed")
    )
    latest: datetime | None = None
    for table, version in gold.select("table", "delta_version").iter_rows():
        name = table.partition(".")[2]
        history = DeltaTable(str(lake / "gold" / name)).history(limit=50)
        for commit in history:
            if commit["version"] == version:
                at = datetime.fromtimestamp(commit["timestamp"] / 1000, tz=UTC)
                latest = at if latest is None or at > latest else latest
    return latest


def run_latency_benchmark(batches: int, orders: int, folder: Path, console: Console) -> None:
    from shoplake.ecommerce.generator import generate
    from shoplake.ecommerce.pipeline import build_pipeline
    from shoplake.engines import create_engine
    from shoplake.ingest.loader import run_available

    fresh_folder(folder, MARKER, "latency-benchmark")
    landing, lake, held = folder / "landing", folder / "lake", folder / "held"
    chunk = max(10, orders // (batches * 2))
    generate(landing, orders=orders, seed=11, defect_rate=0.0, chunk_rows=chunk)
    order_files = sorted((landing / "orders").iterdir())
    if len(order_files) <= batches:
        raise ShoplakeError(f"only {len(order_files)} orders files: raise --orders")
    held.mkdir()
    for path in order_files[-batches:]:
        path.rename(held / path.name)
    console.print(f"building the lake from {orders - batches * chunk:,} orders…")
    run_available(build_pipeline(), create_engine(str(lake)), landing)

    command = [sys.executable, "-m", "shoplake.cli", "watch", "--lake", str(lake),
               "--landing", str(landing)]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stream = proc.stdout

    def pump() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()

    def wait_for(word: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.05)
            except queue.Empty:
                if proc.poll() is not None:
                    raise ShoplakeError("the watch process ended early") from None
                continue
            if word in line:
                return line
        raise TimeoutError(f"no {word!r} from the watch process within {timeout:.0f}s")

    latencies: list[float] = []
    try:
        wait_for("watching", 120)
        for path in sorted(held.iterdir()):
            time.sleep(0.3)  # one file at a time: each its own small batch
            dropped = datetime.now(UTC)
            os.replace(path, landing / "orders" / path.name)
            line = wait_for("batch ", 60)
            if "succeeded" not in line:
                raise ShoplakeError(f"a batch did not succeed: {line.strip()}")
            batch_id = line.split("batch ", 1)[1].split(" ", 1)[0]
            committed = _gold_commit_time(lake, batch_id)
            if committed is None:
                raise ShoplakeError(f"batch {batch_id} wrote no gold table")
            latencies.append((committed - dropped).total_seconds())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    table = Table(title=f"landing → gold under watch, {len(ordered)} batches",
                  title_justify="left")  # fmt: skip
    for column in ("p50 s", "p95 s", "min s", "max s", "orders per file"):
        table.add_column(column)
    table.add_row(f"{statistics.median(ordered):.2f}", f"{p95:.2f}", f"{ordered[0]:.2f}",
                  f"{ordered[-1]:.2f}", f"{chunk}")  # fmt: skip
    console.print(table)
