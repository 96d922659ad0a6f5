"""``shoplake bench serve``: the server under a small load, from a second process.

A demo lake is built (or an existing one used), a token with ``SELECT`` on gold is
made, and a real ``shoplake serve`` process starts on a free loopback port. This
process then sends catalog GETs (list schemas, list tables, get table, in turn) and
SQL queries over gold tables, from ``clients`` threads, and prints p50/p95 latency,
requests per second and the server's CPU time beside the wall time.
"""

from __future__ import annotations

import os
import signal
import statistics
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


@dataclass(frozen=True)
class LoadFigures:
    kind: str
    requests: int
    wall_s: float
    p50_ms: float
    p95_ms: float
    failed: int


def _load(kind: str, count: int, clients: int, send: Callable[[int], int]) -> LoadFigures:
    timings: list[float] = []
    failed = 0

    def one(i: int) -> tuple[float, int]:
        began = time.perf_counter()
        status = send(i)
        return time.perf_counter() - began, status

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for took, status in pool.map(one, range(count)):
            timings.append(took)
            failed += status != 200
    wall = time.perf_counter() - started
    cuts = statistics.quantiles(timings, n=100)
    return LoadFigures(kind, count, wall, cuts[49] * 1000, cuts[94] * 1000, failed)


def run_serve_benchmark(
    folder: Path, console: Console, *, orders: int, gets: int, queries: int, clients: int
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
            cpu_before = tree_cpu_s(server.pid)
            console.print(f"{gets:,} catalog GETs from {clients} client threads …")
            catalog = _load(
                "catalog GET",
                gets,
                clients,
                lambda i: client.get(paths[i % len(paths)]).status_code,
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
            )
            cpu = tree_cpu_s(server.pid) - cpu_before
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    figures = [catalog, sql]
    table = Table(
        title=f"shoplake serve under load ({orders:,}-order lake, loopback)", title_justify="left"
    )
    for column in ("requests", "count", "wall s", "req/s", "p50 ms", "p95 ms", "failed"):
        table.add_column(column, justify="left" if column == "requests" else "right")
    for f in figures:
        table.add_row(
            f.kind,
            f"{f.requests:,}",
            f"{f.wall_s:.2f}",
            f"{f.requests / f.wall_s:,.0f}",
            f"{f.p50_ms:.1f}",
            f"{f.p95_ms:.1f}",
            str(f.failed),
        )
    wall = sum(f.wall_s for f in figures)
    table.caption = (
        f"server CPU {cpu:.1f} s over {wall:.1f} s wall "
        f"({cpu / wall:.1f} cores busy); {os.cpu_count()} core(s)"
    )
    console.print(table)
    return figures
