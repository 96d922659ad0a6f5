"""The ``shoplake`` command: thin shims over plain functions."""

from __future__ import annotations

import importlib
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from shoplake.cli.console import (
    console,
    kpi_table,
    rules_table,
    run_messages,
    run_table,
    tables_table,
)
from shoplake.cli.ingest import (
    Archive,
    ManifestsOnly,
    MaxBytes,
    MaxFiles,
    Wait,
    batch_line,
    execute_batches,
    loader_config,
)
from shoplake.cli.ingest import register as register_ingest
from shoplake.config import Settings, load_settings
from shoplake.errors import ConfigError, ShoplakeError
from shoplake.ingest.loader import LoaderConfig
from shoplake.pipeline.results import RunResult
from shoplake.pipeline.tables import Pipeline

app = typer.Typer(
    help="shoplake: a local-first e-commerce lakehouse on Delta Lake.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
DEFAULT_PIPELINE = "shoplake.ecommerce.pipeline:build_pipeline"

Lake = Annotated[str | None, typer.Option("--lake", help="Lake folder or URI [default: ./lake]")]
Landing = Annotated[
    str | None, typer.Option("--landing", help="Landing folder [default: ./landing]")
]
PipelineOpt = Annotated[
    str,
    typer.Option("--pipeline", help="module:attribute of a Pipeline (or a function making one)"),
]
Debug = Annotated[bool, typer.Option("--debug", help="Show the traceback of an error")]


def _fail(err: Exception, debug: bool) -> None:
    if debug:
        console.print_exception()
    console.print(f"[bold red]Error:[/] {err}")
    raise typer.Exit(1)


def _settings(lake: str | None, landing: str | None) -> Settings:
    settings = load_settings(lake=lake, landing=landing)
    return settings


def _engine(settings: Settings):
    from shoplake.engines import create_engine

    return create_engine(settings.lake)


def load_pipeline(spec: str) -> Pipeline:
    """Import ``module:attribute``; call it if it is a function that builds a Pipeline."""
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ConfigError(f"--pipeline {spec!r}: write it as module:attribute")
    try:
        value = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"--pipeline {spec!r}: cannot load it ({err})") from err
    if callable(value) and not isinstance(value, Pipeline):
        value = value()
    if not isinstance(value, Pipeline):
        raise ConfigError(f"--pipeline {spec!r} is a {type(value).__name__}, not a Pipeline")
    return value


def _landing_path(settings: Settings) -> Path:
    return Path(settings.landing.removeprefix("file://"))


def execute_run(
    pipeline: Pipeline,
    settings: Settings,
    *,
    select: list[str] | None = None,
    full_refresh: bool = False,
    config: LoaderConfig | None = None,
    manifests_only: bool = False,
) -> RunResult:
    """Process everything available in batches (progress bars); the last batch's run."""
    results = execute_batches(
        pipeline,
        settings,
        config or loader_config(settings),
        select=select,
        full_refresh=full_refresh,
        manifests_only=manifests_only,
    )
    runs = [r.run for r in results if r.run is not None]
    return runs[-1] if runs else RunResult("none")


@app.command()
def run(
    lake: Lake = None,
    landing: Landing = None,
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select", "-s", help="Only these tables: layer.name, a name, or a whole layer"
        ),
    ] = None,
    full_refresh: Annotated[
        bool,
        typer.Option("--full-refresh", help="Rebuild the selected tables from all their input"),
    ] = False,
    maintain_every: Annotated[
        int | None,
        typer.Option(
            "--maintain-every",
            help="Maintain tables with this many commits since their last optimize "
            "[default: maintain_every setting, 0 = off]",
        ),
    ] = None,
    max_files: MaxFiles = None,
    max_bytes: MaxBytes = None,
    archive: Archive = None,
    wait: Wait = 0.0,
    manifests_only: ManifestsOnly = False,
    pipeline: PipelineOpt = DEFAULT_PIPELINE,
    debug: Debug = False,
) -> None:
    """Process everything available, in batches, and stop (Auto Loader's availableNow)."""
    from shoplake.cli.gold import auto_maintain

    try:
        settings = _settings(lake, landing)
        loaded = load_pipeline(pipeline)
        config = loader_config(
            settings, max_files=max_files, max_bytes=max_bytes, archive=archive, wait_s=wait
        )
        results = execute_batches(
            loaded,
            settings,
            config,
            select=select,
            full_refresh=full_refresh,
            manifests_only=manifests_only,
        )
    except ShoplakeError as err:
        _fail(err, debug)
        return
    if not results:
        console.print("nothing to do: no new files, every table skipped (up to date)")
        check_alerts(settings.lake, loaded)  # staleness grows with nothing new
        return
    for result in results:
        if result.run is not None and len(results) <= 3:
            console.print(run_table(result.run))
            for message in run_messages(result.run):
                console.print(f"[bold red]Error:[/] {message}")
        console.print(batch_line(result))
    succeeded = all(r.status == "succeeded" for r in results)
    auto_maintain(loaded, settings, maintain_every, succeeded)
    check_alerts(settings.lake, loaded)
    if not succeeded:
        raise typer.Exit(1)


@app.command()
def validate(
    lake: Lake = None,
    landing: Landing = None,
    pipeline: PipelineOpt = DEFAULT_PIPELINE,
    debug: Debug = False,
) -> None:
    """Dry run: check the graph and every table's code on empty data, writing nothing."""
    from shoplake.pipeline.validate import validate_pipeline

    try:
        settings = _settings(lake, landing)
        loaded = load_pipeline(pipeline)
        problems = validate_pipeline(loaded, _engine(settings))
    except ShoplakeError as err:
        _fail(err, debug)
        return
    if problems:
        console.print(f"[bold red]{len(problems)} problem(s):[/]")
        for problem in problems:
            console.print(f"  • {problem}")
        raise typer.Exit(1)
    console.print(f"[green]ok[/]: {len(loaded.definitions)} tables, no problems found")


@app.command()
def generate(
    landing: Landing = None,
    orders: Annotated[int, typer.Option(help="Orders to generate")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files)")] = 42,
    defect_rate: Annotated[
        float, typer.Option(help="Share of rows with a defect (0 = clean)")
    ] = 0.03,
    chunk_rows: Annotated[int, typer.Option(help="Rows per file")] = 100_000,
    snapshot_days: Annotated[
        int,
        typer.Option(
            "--snapshot-days",
            min=0,
            help="Also write full daily snapshots of customers and products for the last N days",
        ),
    ] = 0,
    debug: Debug = False,
) -> None:
    """Generate realistic shop data, with defects, into the landing folder."""
    try:
        settings = _settings(None, landing)
        if "://" in settings.landing and not settings.landing.startswith("file://"):
            raise ConfigError(
                f"landing {settings.landing!r}: generate writes to a local folder; generate "
                "locally, then copy the files to the bucket"
            )
        _generate(
            _landing_path(settings), orders, seed, defect_rate, chunk_rows, snapshot_days
        )
    except (ShoplakeError, FileExistsError, ValueError) as err:
        _fail(err, debug)


def _generate(
    landing: Path,
    orders: int,
    seed: int,
    defect_rate: float,
    chunk_rows: int,
    snapshot_days: int = 0,
) -> None:
    from shoplake.ecommerce.generator import generate as generate_data

    with Progress(
        TextColumn("[bold]generating {task.description}"),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=None)

        def report(source: str, rows: int) -> None:
            progress.update(task, description=source, completed=rows)

        report_ = generate_data(
            landing,
            orders=orders,
            seed=seed,
            defect_rate=defect_rate,
            chunk_rows=chunk_rows,
            snapshot_days=snapshot_days,
            progress=report,
        )
    rows = sum(s.rows for s in report_.sources.values())
    console.print(f"generated {rows:,} rows in {len(report_.sources)} sources into {landing}")


@app.command()
def demo(
    dir: Annotated[Path, typer.Option("--dir", help="Folder for landing/ and lake/")] = Path(
        "demo"
    ),
    orders: Annotated[int, typer.Option(help="Orders to generate")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 42,
    debug: Debug = False,
) -> None:
    """Generate data, run the whole pipeline, and show the result."""
    started = time.perf_counter()
    landing, lake = dir / "landing", dir / "lake"
    try:
        _reset_demo(landing, lake)
        _generate(landing, orders, seed, 0.03, 100_000)
        settings = Settings(lake=str(lake), landing=str(landing))
        result = execute_run(load_pipeline(DEFAULT_PIPELINE), settings)
    except (ShoplakeError, FileExistsError) as err:
        _fail(err, debug)
        return
    show_summary(settings, result)
    archived = dir / "archive"
    if archived.is_dir():
        count = sum(1 for p in archived.rglob("*") if p.is_file())
        console.print(f"{count} landing file(s) ingested and moved to {archived}")
    console.print(f"demo finished in {time.perf_counter() - started:.2f}s — lake at {lake}")
    if result.status == "failed":
        raise typer.Exit(1)


def _reset_demo(landing: Path, lake: Path) -> None:
    """Remove a previous demo's folders — only if they are recognisably shoplake's."""
    if landing.exists():
        if not (landing / "_generator" / "manifest.json").exists() and any(landing.iterdir()):
            raise ShoplakeError(
                f"{landing} exists and was not made by shoplake; choose another --dir"
            )
        shutil.rmtree(landing)
    if lake.exists():
        if any(lake.iterdir()) and not any(
            (lake / layer).is_dir() for layer in ("bronze", "silver", "gold", "_system")
        ):
            raise ShoplakeError(f"{lake} exists and is not a shoplake lake; choose another --dir")
        shutil.rmtree(lake)
    archive = landing.parent / "archive"
    if archive.is_dir():
        # The previous demo's archived landing files: day folders only, or it is not ours.
        if any(not re.fullmatch(r"\d{4}-\d{2}-\d{2}", p.name) for p in archive.iterdir()):
            raise ShoplakeError(f"{archive} is not a shoplake archive; choose another --dir")
        shutil.rmtree(archive)


def show_summary(settings: Settings, result: RunResult) -> None:
    from shoplake.observe.catalog import list_tables
    from shoplake.observe.quarantine import rule_counts

    engine = _engine(settings)
    console.print(run_table(result))
    console.print(tables_table(list_tables(engine)))
    counts = rule_counts(engine)
    if counts:
        console.print(rules_table(counts))
    if engine.version("gold.executive_kpis") is not None:
        kpis = engine.collect(engine.read("gold.executive_kpis")).rows(named=True)
        overall = [k for k in kpis if k["scope"] == "overall"]
        if overall:
            console.print(kpi_table(overall[0]))


@app.command()
def tables(lake: Lake = None, debug: Debug = False) -> None:
    """The lake's tables: layer, Delta version, rows and last update."""
    from shoplake.observe.catalog import list_tables

    try:
        infos = list_tables(_engine(_settings(lake, None)))
    except ShoplakeError as err:
        _fail(err, debug)
        return
    if not infos:
        console.print("no tables yet: run `shoplake run` (or `shoplake demo`) first")
        return
    console.print(tables_table(infos))


@app.command()
def events(
    lake: Lake = None,
    run_id: Annotated[
        str | None, typer.Option("--run", help="Run id or its prefix [default: latest]")
    ] = None,
    table: Annotated[str | None, typer.Option("--table", help="Only this table")] = None,
    runs_only: Annotated[bool, typer.Option("--runs", help="List recent runs instead")] = False,
    debug: Debug = False,
) -> None:
    """The event log: one run's flows (default the latest), or the recent runs."""
    from rich.table import Table

    from shoplake.observe.catalog import events as read_events
    from shoplake.observe.catalog import runs

    try:
        engine = _engine(_settings(lake, None))
        if runs_only:
            listing = Table(title="runs", title_justify="left")
            for column in ("run", "status", "ended (UTC)", "seconds", "rows written", "quality"):
                listing.add_column(column)
            for r in runs(engine):
                listing.add_row(
                    r.run_id,
                    r.status,
                    f"{r.started:%Y-%m-%d %H:%M:%S}",
                    f"{r.duration_s or 0:.2f}",
                    f"{r.rows_written or 0:,}",
                    "—" if r.quality_score is None else f"{r.quality_score:.1f}",
                )
            console.print(listing)
            return
        rows = read_events(engine, run_id, table)
    except ShoplakeError as err:
        _fail(err, debug)
        return
    if not rows:
        console.print("no events: nothing has run yet (or no run matches)")
        return
    listing = Table(title=f"events of run {rows[0]['run_id']}", title_justify="left")
    for column in (
        "event",
        "table",
        "status",
        "read",
        "written",
        "quarantined",
        "quality",
        "version",
        "seconds",
        "message",
    ):
        listing.add_column(column)
    for e in rows:
        listing.add_row(
            e["event_type"],
            e["table"] or "",
            e["status"] or "",
            *(
                f"{e[c]:,}" if e[c] is not None else ""
                for c in ("rows_read", "rows_written", "rows_quarantined")
            ),
            "" if e["quality_score"] is None else f"{e['quality_score']:.1f}",
            "" if e["delta_version"] is None else str(e["delta_version"]),
            "" if e["duration_s"] is None else f"{e['duration_s']:.2f}",
            (e["message"] or "")[:120],
        )
    console.print(listing)


@app.command()
def bench(
    orders: Annotated[int, typer.Option(help="Orders to generate")] = 1_000_000,
    dir: Annotated[Path, typer.Option("--dir", help="Work folder (emptied first)")] = Path(
        "bench-out"
    ),
    debug: Debug = False,
) -> None:
    """Time landing → gold for N orders against a bare read-and-write floor."""
    from shoplake.bench.run import run_benchmark

    try:
        run_benchmark(orders, dir, console)
    except (ShoplakeError, FileExistsError) as err:
        _fail(err, debug)


def check_alerts(lake: str, pipeline: Pipeline) -> None:
    """After a run: evaluate the alert rules and send each new incident once."""
    from shoplake.cli.observe import show_check
    from shoplake.observe.alerts import after_run

    result = after_run(lake, pipeline)
    if result is not None and (result.fired or result.delivery_errors):
        show_check(result)


def main() -> None:  # pragma: no cover
    app()


from shoplake.cli import cdc, gold, observe, stream  # noqa: E402

cdc.register(app)
gold.register(app)
stream.register(app)
register_ingest(app)
observe.register(app)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
