"""Running the pipeline: ``run``, ``validate``, ``generate`` and ``demo``."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shoplake.cli import common
from shoplake.cli.common import Debug, EngineOpt, Lake, Landing, PipelineOpt
from shoplake.cli.console import (
    batch_line,
    console,
    headline_table,
    rules_table,
    run_messages,
    run_table,
    source_notes,
    tables_table,
)
from shoplake.config import Settings
from shoplake.errors import ConfigError, ShoplakeError

if TYPE_CHECKING:
    from shoplake.pipeline.results import RunResult
    from shoplake.pipeline.tables import Pipeline


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
    max_files: common.MaxFiles = None,
    max_bytes: common.MaxBytes = None,
    archive: common.Archive = None,
    wait: common.Wait = 0.0,
    manifests_only: common.ManifestsOnly = False,
    parallelism: common.Parallelism = None,
    create: Annotated[
        bool, typer.Option("--create", help="Make the landing folder when it does not exist")
    ] = False,
    pipeline: PipelineOpt = None,
    engine: EngineOpt = None,
    debug: Debug = False,
) -> None:
    """Process everything available, in batches, and stop (Auto Loader's availableNow)."""
    with common.errors(debug):
        settings = common.settings(
            lake, landing, pipeline=pipeline, engine=engine, reads=("landing",), create=create
        )
        loaded = common.load_pipeline(settings.pipeline)
        config = common.loader_config(
            settings,
            max_files=max_files,
            max_bytes=max_bytes,
            archive=archive,
            wait_s=wait,
            parallelism=parallelism,
        )
        results = common.execute_batches(
            loaded,
            settings,
            config,
            select=select,
            full_refresh=full_refresh,
            manifests_only=manifests_only,
        )
    if not results:
        console.print("nothing to do: no new files, every table skipped (up to date)")
        common.check_alerts(settings.lake, loaded)  # staleness grows with nothing new
        return
    for result in results:
        if result.run is not None and len(results) <= 3:
            console.print(run_table(result.run))
            for note in source_notes(result.run):
                common.print_note(note)
            for message in run_messages(result.run):
                common.print_error(message)
        console.print(batch_line(result))
    succeeded = all(r.status == "succeeded" for r in results)
    common.auto_maintain(loaded, settings, maintain_every, succeeded)
    common.check_alerts(settings.lake, loaded)
    if not succeeded:
        raise typer.Exit(1)


def validate(
    lake: Lake = None,
    landing: Landing = None,
    pipeline: PipelineOpt = None,
    engine: EngineOpt = None,
    debug: Debug = False,
) -> None:
    """Dry run: check the graph and every table's code on empty data, writing nothing."""
    from shoplake.pipeline.validate import validate_pipeline

    with common.errors(debug):
        settings = common.settings(lake, landing, pipeline=pipeline, engine=engine)
        loaded = common.load_pipeline(settings.pipeline)
        problems = validate_pipeline(loaded, common.engine(settings))
    if problems:
        console.print(f"[bold red]{len(problems)} problem(s):[/]")
        for problem in problems:
            console.print(f"  • {problem}")
        raise typer.Exit(1)
    console.print(f"[green]ok[/]: {len(loaded.definitions)} tables, no problems found")


def parity(
    landing: Landing = None,
    pipeline: PipelineOpt = None,
    engines: Annotated[
        str,
        typer.Option(
            "--engines", help="Engines to compare, comma-separated; the first is the reference"
        ),
    ] = "polars,spark",
    dir: Annotated[
        Path | None,
        typer.Option("--dir", help="Where each engine's lake goes (default: a temporary folder)"),
    ] = None,
    debug: Debug = False,
) -> None:
    """Run the pipeline on each engine over the same landing files, then compare every
    table row for row: proof that its definitions give one answer everywhere."""
    from rich.table import Table

    from shoplake.engines import engine_names
    from shoplake.parity import compare_engines

    names = [e.strip() for e in engines.split(",") if e.strip()]
    with common.errors(debug):
        unknown = [n for n in names if n not in engine_names()]
        if unknown or len(names) < 2:
            raise ConfigError(
                f"--engines {engines!r}: name two or more of {', '.join(engine_names())}, "
                "comma-separated (e.g. polars,spark)"
            )
        settings = common.settings(None, landing, pipeline=pipeline, reads=("landing",))
        loaded = common.load_pipeline(settings.pipeline)
        results = compare_engines(
            loaded,
            common.landing_path(settings),
            names,
            root=dir,
            progress=lambda text: console.print(f"[dim]{text}…[/]"),
        )
    table = Table(title=f"parity: {' vs '.join(names)}", title_justify="left")
    table.add_column("table")
    for name in names:
        table.add_column(f"rows on {name}", justify="right")
    table.add_column("result")
    for result in results:
        counts = [f"{result.rows[n]:,}" if n in result.rows else "—" for n in names]
        verdict = "[green]same rows[/]" if result.equal else f"[red]{result.difference}[/]"
        table.add_row(result.table, *counts, verdict)
    console.print(table)
    differing = [r for r in results if not r.equal]
    if differing:
        console.print(f"[bold red]{len(differing)} of {len(results)} table(s) differ[/]")
        raise typer.Exit(1)
    console.print(f"[green]ok[/]: {len(results)} tables, the same rows on {', '.join(names)}")


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
    with common.errors(debug, FileExistsError, ValueError):
        settings = common.settings(None, landing)
        if "://" in settings.landing and not settings.landing.startswith("file://"):
            raise ConfigError(
                f"landing {settings.landing!r}: generate writes to a local folder; generate "
                "locally, then copy the files to the bucket"
            )
        _generate(
            common.landing_path(settings), orders, seed, defect_rate, chunk_rows, snapshot_days
        )


def _generate(
    landing: Path,
    orders: int,
    seed: int,
    defect_rate: float,
    chunk_rows: int,
    snapshot_days: int = 0,
) -> None:
    from rich.progress import Progress, TextColumn, TimeElapsedColumn

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


def demo(
    dir: Annotated[Path, typer.Option("--dir", help="Folder for landing/ and lake/")] = Path(
        "demo"
    ),
    orders: Annotated[int, typer.Option(help="Orders to generate")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 42,
    engine: EngineOpt = None,
    debug: Debug = False,
) -> None:
    """Generate data, run the whole pipeline, and show the result."""
    started = time.perf_counter()
    landing, lake = dir / "landing", dir / "lake"
    with common.errors(debug, FileExistsError):
        # The demo's own folders and the e-commerce pipeline its data is made for;
        # only the engine comes from the settings.
        chosen = common.settings(engine=engine).engine
        settings = Settings(lake=str(lake), landing=str(landing), engine=chosen)
        common.engine(settings)  # an unknown engine fails before any data is made
        _reset_demo(landing, lake)
        _generate(landing, orders, seed, 0.03, 100_000)
        loaded = common.load_pipeline(settings.pipeline)
        result = common.execute_run(loaded, settings)
    show_summary(settings, loaded, result)
    # As `run` does: a first look at the dashboard finds the alerts checked.
    common.check_alerts(settings.lake, loaded)
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


def show_summary(settings: Settings, pipeline: Pipeline, result: RunResult) -> None:
    from shoplake.observe.catalog import list_tables
    from shoplake.observe.lake import LakeReader
    from shoplake.observe.quarantine import rule_counts

    engine = common.engine(settings)
    console.print(run_table(result))
    console.print(tables_table(list_tables(engine)))
    counts = rule_counts(engine)
    if counts:
        console.print(rules_table(counts))
    if pipeline.headline_figures is not None:
        figures = pipeline.headline_figures(LakeReader(settings.lake).rows)
        if figures:
            console.print(headline_table(figures))


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(validate)
    app.command()(parity)
    app.command()(generate)
    app.command()(demo)
