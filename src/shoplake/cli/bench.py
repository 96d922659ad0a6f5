"""Benchmarks: ``shoplake bench run|incremental|scd2|stream|latency``.

``shoplake bench`` with no subcommand runs ``bench run`` (landing → gold), and the
old ``bench-incremental``, ``bench-scd2``, ``bench-stream`` and ``bench-latency``
names still work, hidden, for one release. The benchmark code (``shoplake.bench``)
is imported only when a benchmark runs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shoplake.cli import common
from shoplake.cli.common import Bootstrap, Debug
from shoplake.cli.console import console
from shoplake.errors import ConfigError

bench_app = typer.Typer(
    help="Benchmarks; with no subcommand, `bench run` (landing → gold for N orders).",
    invoke_without_command=True,
    no_args_is_help=False,
)


def bench_run(
    orders: Annotated[int, typer.Option(help="Orders to generate")] = 1_000_000,
    dir: Annotated[Path, typer.Option("--dir", help="Work folder (emptied first)")] = Path(
        "bench-out"
    ),
    parallelism: Annotated[
        list[int] | None,
        typer.Option(
            "--parallelism",
            min=1,
            help="Flows at once (default: the cores); repeat to compare, e.g. 1 and 2",
        ),
    ] = None,
    landing: Annotated[
        Path | None,
        typer.Option(help="Time these landing files instead of generating ORDERS orders"),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine", help="polars, or spark: the same files through Polars and then Spark"
        ),
    ] = "polars",
    lake: Annotated[
        str | None,
        typer.Option(
            "--lake",
            help="An object-store URI: time the pipeline into a fresh folder under it beside "
            "local disk, with the store requests of a first and an incremental run",
        ),
    ] = None,
    debug: Debug = False,
) -> None:
    """Time landing → gold for N orders against a bare read-and-write floor."""
    from shoplake.bench.run import run_benchmark

    with common.errors(debug, FileExistsError, FileNotFoundError):
        if landing is not None and not landing.is_dir():
            raise FileNotFoundError(f"--landing {landing} is not a folder of landing files")
        if lake is not None:
            from shoplake.bench.store import run_store_benchmark
            from shoplake.stores import is_object_store

            if not is_object_store(lake):
                raise ConfigError(f"--lake {lake}: give an s3://, abfss://, az:// or gs:// URI")
            common.remember(lake, str(landing or dir))
            run_store_benchmark(orders, lake, dir, console, landing)
            return
        if engine not in ("polars", "spark"):
            raise ConfigError(f"--engine {engine!r}: bench run compares polars and spark")
        engines = ("polars",) if engine == "polars" else ("polars", engine)
        run_benchmark(
            orders, dir, console, parallelism=parallelism or (), landing=landing, engines=engines
        )


def bench_incremental(
    orders: Annotated[int, typer.Option(help="Orders already in the big lake")] = 1_000_000,
    batch: Annotated[int, typer.Option(help="New orders in the timed batch")] = 1_000,
    dir: Annotated[Path, typer.Option("--dir", help="Work folder (emptied first)")] = Path(
        "bench-incremental-out"
    ),
    repeat: Annotated[int, typer.Option(help="Timed runs per lake (median shown)")] = 3,
    debug: Debug = False,
) -> None:
    """Time one batch of new orders into a lake holding ORDERS orders vs an empty lake."""
    from shoplake.bench.incremental import run_incremental_benchmark

    with common.errors(debug, FileExistsError, FileNotFoundError):
        run_incremental_benchmark(orders, batch, dir, console, repeat=max(1, repeat))


def bench_scd2(
    keys: Annotated[int, typer.Option(help="Keys in the dimension")] = 1_000_000,
    batch: Annotated[int, typer.Option(help="Changes in the large batch")] = 10_000,
    small: Annotated[int, typer.Option(help="Changes in the small batch")] = 100,
    buckets: Annotated[int, typer.Option(help="Key-hash buckets (partitions)")] = 1024,
    late: Annotated[
        float, typer.Option(help="Share of changes that happened inside a key's history")
    ] = 0.01,
    dir: Annotated[Path, typer.Option("--dir", help="Work folder (emptied first)")] = Path(
        "bench-scd2-out"
    ),
) -> None:
    """Time applying a batch of changes to a large SCD2 dimension with long history."""
    from shoplake.bench.scd2 import run_scd2_benchmark

    if not 0 < small <= batch <= keys:
        raise typer.BadParameter(
            f"need 0 < --small ({small}) <= --batch ({batch}) <= --keys ({keys})"
        )
    try:
        run_scd2_benchmark(keys, batch, small, buckets, late, dir, console)
    except subprocess.CalledProcessError as err:
        console.print(f"[red]error:[/red] a benchmark step failed:\n{err.stderr}")
        raise typer.Exit(1) from None


def bench_stream(
    events: Annotated[int, typer.Option(help="Events for the throughput run")] = 200_000,
    rate: Annotated[float, typer.Option(help="Events/s for the latency run")] = 1_000,
    seconds: Annotated[float, typer.Option(help="Length of the latency run")] = 10,
    bootstrap: Bootstrap = None,
    dir: Annotated[Path, typer.Option("--dir", help="Work folder")] = Path("bench-out"),
    debug: Debug = False,
) -> None:
    """Topic → bronze events/s, and produce → realtime_sales latency (p50, p95) at a
    steady rate; on librdkafka's mock cluster unless --bootstrap is given."""
    from shoplake.bench.stream import latency, throughput

    with common.errors(debug):
        with console.status(f"throughput: {events:,} events topic → bronze…"):
            t = throughput(dir, events=events, bootstrap=bootstrap)
        with console.status(f"latency: {rate:,.0f} events/s for {seconds:.0f}s…"):
            lat = latency(dir, rate=rate, seconds=seconds, bootstrap=bootstrap)
    table = Table(title="streaming benchmark", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row("topic → bronze events/s", f"{t.per_second:,.0f}", "≥ 100,000")
    table.add_row(
        "  events, batches, seconds",
        f"{t.events:,}, {t.batches}, {t.seconds:.2f}",
        f"group join {t.join_seconds:.2f}s apart",
    )
    table.add_row(f"latency p50 at {lat.rate:,.0f}/s", f"{lat.p50:.3f}s", "")
    table.add_row(f"latency p95 at {lat.rate:,.0f}/s", f"{lat.p95:.3f}s", "< 2 s")
    table.add_row("  latency max", f"{lat.max:.3f}s", "")
    table.add_row("  events, micro-batches", f"{lat.events:,}, {lat.batches}", "")
    console.print(table)


def bench_latency(
    batches_: Annotated[
        int, typer.Option("--batches", min=1, help="Files dropped one by one")
    ] = 20,
    orders: Annotated[int, typer.Option(help="Orders in the lake before the drops")] = 2000,
    dir: Annotated[Path, typer.Option("--dir", help="Work folder (emptied first)")] = Path(
        "bench-latency-out"
    ),
    debug: Debug = False,
) -> None:
    """Latency under `watch`: a file landing → its rows in gold (p50/p95 over N drops)."""
    from shoplake.bench.latency import run_latency_benchmark

    with common.errors(debug, FileExistsError, TimeoutError):
        run_latency_benchmark(batches_, orders, dir, console)


@bench_app.callback()
def bench_default(
    ctx: typer.Context,
    orders: Annotated[int, typer.Option(help="Orders to generate (no subcommand)")] = 1_000_000,
    dir: Annotated[Path, typer.Option("--dir", help="Work folder (no subcommand)")] = Path(
        "bench-out"
    ),
    debug: Debug = False,
) -> None:
    """Benchmarks; with no subcommand, `bench run` (landing → gold for N orders)."""
    if ctx.invoked_subcommand is None:
        bench_run(orders=orders, dir=dir, debug=debug)


def bench_soak(
    minutes: Annotated[float, typer.Option(min=1, help="How long to run")] = 10,
    file_every: Annotated[
        float, typer.Option("--file-every", help="Seconds between dropped files")
    ] = 2.0,
    rate: Annotated[float, typer.Option(help="Order events produced per second")] = 100.0,
    bootstrap: Bootstrap = None,
    dir: Annotated[Path, typer.Option("--dir", help="Work folder (emptied first)")] = Path(
        "bench-soak-out"
    ),
    debug: Debug = False,
) -> None:
    """watch and stream for MINUTES under steady files and events: per-minute throughput,
    p50/p95 latency and memory, then every file and event checked to be in bronze once."""
    from shoplake.bench.soak import run_soak

    with common.errors(debug):
        ok = run_soak(
            minutes, dir, console, file_every_s=file_every, events_per_s=rate, bootstrap=bootstrap
        )
    if not ok:
        raise typer.Exit(1)


def bench_serve(
    orders: Annotated[int, typer.Option(help="Orders in the demo lake served")] = 2000,
    gets: Annotated[int, typer.Option(help="Catalog GETs to send")] = 2000,
    queries: Annotated[int, typer.Option(help="SQL queries to send")] = 500,
    clients: Annotated[int, typer.Option(min=1, help="Client threads")] = 4,
    wide: Annotated[
        int, typer.Option(min=2, help="Wide queries (10,000 x 200) sent beside /health")
    ] = 40,
    dir: Annotated[Path, typer.Option("--dir", help="Work folder (emptied first)")] = Path(
        "bench-serve-out"
    ),
    debug: Debug = False,
) -> None:
    """`shoplake serve` under load from a second process: p50/p95/p99 and requests/s, and
    /health's latency while wide answers are encoded."""
    from shoplake.bench.serve import run_serve_benchmark

    with common.errors(debug):
        figures = run_serve_benchmark(
            dir,
            console,
            orders=orders,
            gets=gets,
            queries=queries,
            clients=clients,
            wide=wide,
        )
    if any(f.failed for f in figures):
        raise typer.Exit(1)


BENCHMARKS: dict[str, Callable[..., None]] = {
    "run": bench_run,
    "incremental": bench_incremental,
    "scd2": bench_scd2,
    "stream": bench_stream,
    "latency": bench_latency,
    "soak": bench_soak,
    "serve": bench_serve,
}


def register(app: typer.Typer) -> None:
    for name, command in BENCHMARKS.items():
        bench_app.command(name)(command)
        if name != "run":  # the names before `bench` became a group, kept for one release
            app.command(f"bench-{name}", hidden=True)(command)
    app.add_typer(bench_app, name="bench")
