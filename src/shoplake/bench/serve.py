"""``shoplake bench serve``: the server under a small load, from a second process.

A demo lake is built (or an existing one used), a token with ``SELECT`` on gold is
made, and a real ``shoplake serve`` process starts on a free loopback port. This
process then sends catalog GETs (list schemas, list tables, get table, in turn) and
SQL queries over gold tables, from ``clients`` threads; then wide queries (10,000 rows ×
200 columns, ~21 MB of JSON each) from ``clients`` threads while one more thread asks
``/health`` every 20 ms — one caller's big answer must not freeze the server for the
others (target: ``/health`` p99 under 100 ms). It prints p50/p95/p99 latency, requests per
second and the server's CPU time beside the wall time, per kind of request.
"""

from __future__ import annotations

import os
import signal
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from shoplake.bench.common import fresh_folder, start_server, tree_cpu_s
from shoplake.errors import ShoplakeError

MARKER = ".shoplake-bench-serve"
QUERIES = (
    "SELECT month, sum(revenue) AS revenue FROM gold.monthly_revenue GROUP BY month",
    "SELECT tier, count(*) AS customers FROM gold.customer_segments GROUP BY tier",
    "SELECT p.category, sum(f.revenue) AS revenue FROM gold.fact_sales f "
    "JOIN gold.dim_product p USING (product_sk) GROUP BY p.category",
    "SELECT * FROM gold.dim_date WHERE is_weekend",
)
_KINDS = (
    "range + {i}",
    "'s' || range",
    "TIMESTAMP '2024-01-01' + to_seconds(range)",
    "(range / 7)::DECIMAL(18, 3)",
)
WIDE = (
    "SELECT "
    + ", ".join(f"{_KINDS[i % 4].format(i=i)} AS c{i}" for i in range(200))
    + " FROM range(10000)"
)
"""10,000 rows × 200 columns of integers, text, timestamps and decimals."""
HEALTH_EVERY_S = 0.02


@dataclass(frozen=True)
class LoadFigures:
    kind: str
    requests: int
    wall_s: float
    p50_ms: float
    p95_ms: float
    failed: int
    p99_ms: float = 0.0
    cpu_s: float = 0.0


def _figures(kind: str, timings: list[float], wall: float, failed: int, cpu: float) -> LoadFigures:
    cuts = statistics.quantiles(timings, n=100) if len(timings) > 1 else timings * 99
    ms = [c * 1000 for c in cuts]
    return LoadFigures(kind, len(timings), wall, ms[49], ms[94], failed, ms[98], cpu)


def _load(kind: str, count: int, clients: int, send: Callable[[int], int], pid: int) -> LoadFigures:
    timings: list[float] = []
    failed = 0

    def one(i: int) -> tuple[float, int]:
        began = time.perf_counter()
        status = send(i)
        return time.perf_counter() - began, status

    cpu_before = tree_cpu_s(pid)
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for took, status in pool.map(one, range(count)):
            timings.append(took)
            failed += status != 200
    wall = time.perf_counter() - started
    return _figures(kind, timings, wall, failed, tree_cpu_s(pid) - cpu_before)


def _beside_wide(
    url: str, headers: dict[str, str], count: int, clients: int, pid: int
) -> list[LoadFigures]:
    """``count`` wide queries from ``clients`` threads, and ``/health`` every 20 ms from a
    client of its own meanwhile."""
    import httpx

    stop = threading.Event()
    waits: list[float] = []
    failed_health = 0

    def poll() -> None:
        nonlocal failed_health
        with httpx.Client(timeout=60) as own:
            while not stop.is_set():
                began = time.perf_counter()
                failed_health += own.get(f"{url}/health").status_code != 200
                waits.append(time.perf_counter() - began)
                stop.wait(HEALTH_EVERY_S)

    def ask(client: httpx.Client) -> int:
        # Read and dropped as it comes: the measure is the server's, not this process's.
        with client.stream("POST", f"{url}/api/shoplake/v1/sql", json={"query": WIDE}) as got:
            for _ in got.iter_raw(1 << 20):
                pass
            return got.status_code

    poller = threading.Thread(target=poll, name="health")
    with httpx.Client(headers=headers, timeout=120) as client:
        poller.start()
        try:
            wide = _load("wide SQL (10,000 × 200)", count, clients, lambda i: ask(client), pid)
        finally:
            stop.set()
            poller.join()
    health = _figures(
        f"/health beside {clients} wide callers", waits, wide.wall_s, failed_health, 0.0
    )
    return [wide, health]


def run_serve_benchmark(
    folder: Path,
    console: Console,
    *,
    orders: int,
    gets: int,
    queries: int,
    clients: int,
    wide: int = 40,
) -> list[LoadFigures]:
    import httpx
    from typer.testing import CliRunner

    from shoplake.cli import app
    from shoplake.engines import create_engine
    from shoplake.share.access import create_token

    fresh_folder(folder, MARKER, "serve-benchmark")
    console.print(f"building a demo lake of {orders:,} orders …")
    made = CliRunner().invoke(app, ["demo", "--dir", str(folder), "--orders", str(orders)])
    if made.exit_code != 0:
        raise ShoplakeError(f"the demo lake could not be built: {made.output.strip()[-300:]}")
    lake = folder / "lake"
    token = create_token(create_engine(str(lake)), "bench", [("SELECT", "gold.*")])
    server, url = start_server(lake)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        uc = f"{url}/api/2.1/unity-catalog"
        paths = (
            f"{uc}/schemas?catalog_name=shoplake",
            f"{uc}/tables?catalog_name=shoplake&schema_name=gold",
            f"{uc}/tables/shoplake.gold.fact_sales",
        )
        with httpx.Client(headers=headers, timeout=60) as client:
            console.print(f"{gets:,} catalog GETs from {clients} client threads …")
            catalog = _load(
                "catalog GET",
                gets,
                clients,
                lambda i: client.get(paths[i % len(paths)]).status_code,
                server.pid,
            )
            console.print(f"{queries:,} SQL queries …")
            sql = _load(
                "SQL query",
                queries,
                clients,
                lambda i: (
                    client.post(
                        f"{url}/api/shoplake/v1/sql", json={"query": QUERIES[i % len(QUERIES)]}
                    ).status_code
                ),
                server.pid,
            )
        console.print(f"{wide:,} wide SQL queries, /health every 20 ms meanwhile …")
        beside = _beside_wide(url, headers, wide, clients, server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    figures = [catalog, sql, *beside]
    table = Table(
        title=f"shoplake serve under load ({orders:,}-order lake, loopback)", title_justify="left"
    )
    columns = ("requests", "count", "wall s", "server CPU s", "req/s", "p50 ms", "p95 ms")
    for column in (*columns, "p99 ms", "failed"):
        table.add_column(column, justify="left" if column == "requests" else "right")
    for f in figures:
        table.add_row(
            f.kind,
            f"{f.requests:,}",
            f"{f.wall_s:.2f}",
            f"{f.cpu_s:.1f}" if f.cpu_s else "(above)",
            f"{f.requests / f.wall_s:,.1f}",
            f"{f.p50_ms:.1f}",
            f"{f.p95_ms:.1f}",
            f"{f.p99_ms:.1f}",
            str(f.failed),
        )
    cpu = sum(f.cpu_s for f in figures)
    wall = sum(f.wall_s for f in figures[:3])  # /health ran beside the wide queries
    table.caption = (
        f"server CPU {cpu:.1f} s over {wall:.1f} s wall "
        f"({cpu / wall:.1f} cores busy); {os.cpu_count()} core(s); "
        f"/health p99 target: under 100 ms"
    )
    console.print(table)
    return figures
