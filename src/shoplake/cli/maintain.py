"""Table maintenance: ``maintain`` (compact, Z-order, vacuum, checkpoint)."""

from __future__ import annotations

from typing import Annotated

import typer

from shoplake.cli import common
from shoplake.cli.common import Debug, EngineOpt, Lake, Landing, PipelineOpt
from shoplake.cli.console import console, maintenance_table
from shoplake.pipeline.maintenance import MIN_RETENTION_HOURS


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
    pipeline: PipelineOpt = None,
    engine: EngineOpt = None,
    debug: Debug = False,
) -> None:
    """Compact small files, Z-order by each table's columns, vacuum, checkpoint the log."""
    from shoplake.pipeline.maintenance import maintain as run_maintenance

    with common.errors(debug):
        settings = common.settings(lake, landing, pipeline=pipeline, engine=engine, reads=("lake",))
        loaded = common.load_pipeline(settings.pipeline)
        with console.status("maintaining…") as status:
            results = run_maintenance(
                loaded,
                common.engine(settings),
                select=select,
                retention_hours=retention_hours,
                force=force,
                progress=lambda ref: status.update(f"maintaining {ref}…"),
            )
    if not results:
        console.print("no table to maintain (run the pipeline first)")
        return
    console.print(maintenance_table(results, retention_hours))


def register(app: typer.Typer) -> None:
    app.command()(maintain)
