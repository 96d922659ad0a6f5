"""CLI commands for the gold side: ``maintain`` and ``bench-incremental``."""

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shoplake.cli.console import console
from shoplake.config import Settings
from shoplake.errors import ShoplakeError
from shoplake.pipeline.maintenance import MIN_RETENTION_HOURS, TableMaintenance
from shoplake.pipeline.tables import Pipeline


def maintenance_table(results: Sequence[TableMaintenance], retention_hours: int) -> Table:
    table = Table(title=f"maintenance (vacuum retention {retention_hours} h)", title_justify="left")
    for column in (
        "table",
        "operation",
        "z-order by",
        "files before",
        "rewritten",
        "files after",
        "vacuumed",
        "version",
        "note",
    ):
        left = column in ("table", "operation", "z-order by", "note")
        table.add_column(column, justify="left" if left else "right")
    for r in results:
        table.add_row(
            r.ref,
            r.operation,
            ", ".join(r.zorder_by),
            str(r.files_before),
            str(r.files_rewritten),
            str(r.files_after),
            str(r.files_vacuumed),
            f"{r.version_before} → {r.version_after}",
            r.message[:100],
        )
    return table


def auto_maintain(
    pipeline: Pipeline, settings: Settings, every: int | None, succeeded: bool
) -> None:
    """After a successful ``run``: maintain the tables due (``every`` commits since the last
    optimize; the ``maintain_every`` setting when not given; 0 = off)."""
    from shoplake.cli.main import _engine
    from shoplake.pipeline.maintenance import maintain

    due = settings.maintain_every if every is None else every
    if due <= 0 or not succeeded:
        return
    results = maintain(pipeline, _engine(settings), every=due)
    if results:
        console.print(maintenance_table(results, MIN_RETENTION_HOURS))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``shoplake`` app."""
    from shoplake.cli.main import (
        DEFAULT_PIPELINE,
        Debug,
        Lake,
        Landing,
        PipelineOpt,
        _engine,
        _fail,
        _settings,
        load_pipeline,
    )

    @app.command()
    def maintain(
        lake: Lake = None,
        landing: Landing = None,
        select: Annotated[
            list[str] | None,
            typer.Option("--select", "-s", help="Only these tables: layer.name, a name, a layer"),
        ] = None,
        retention_hours: Annotated[
            int,
            typer.Option(
                "--retention-hours",
                help=f"Vacuum files unreferenced for longer than this (min {MIN_RETENTION_HOURS})",
            ),
        ] = MIN_RETENTION_HOURS,
        force: Annotated[
            bool,
            typer.Option("--force", help="Allow a retention below the safe minimum"),
        ] = False,
        pipeline: PipelineOpt = DEFAULT_PIPELINE,
        debug: Debug = False,
    ) -> None:
        """Compact small files, Z-order by each table's columns, vacuum, checkpoint the log."""
        from shoplake.pipeline.maintenance import maintain as run_maintenance

        try:
            settings = _settings(lake, landing)
            loaded = load_pipeline(pipeline)
            engine = _engine(settings)
            with console.status("maintaining…") as status:
                results = run_maintenance(
                    loaded,
                    engine,
                    select=select,
                    retention_hours=retention_hours,
                    force=force,
                    progress=lambda ref: status.update(f"maintaining {ref}…"),
                )
        except ShoplakeError as err:
            _fail(err, debug)
            return
        if not results:
            console.print("no table to maintain (run the pipeline first)")
            return
        console.print(maintenance_table(results, retention_hours))

    @app.command("bench-incremental")
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

        try:
            run_incremental_benchmark(orders, batch, dir, console, repeat=max(1, repeat))
        except (ShoplakeError, FileExistsError, FileNotFoundError) as err:
            _fail(err, debug)
