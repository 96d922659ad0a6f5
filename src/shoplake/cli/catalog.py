"""Looking at the lake: ``tables`` and ``events``."""

from __future__ import annotations

from typing import Annotated

import typer

from shoplake.cli import common
from shoplake.cli.common import Debug, EngineOpt, Lake
from shoplake.cli.console import console, tables_table


def tables(lake: Lake = None, engine: EngineOpt = None, debug: Debug = False) -> None:
    """The lake's tables: layer, Delta version, rows and last update."""
    from shoplake.observe.catalog import list_tables

    with common.errors(debug):
        infos = list_tables(common.engine(common.settings(lake, engine=engine, reads=("lake",))))
    if not infos:
        console.print("no tables yet: run `shoplake run` (or `shoplake demo`) first")
        return
    console.print(tables_table(infos))


def events(
    lake: Lake = None,
    run_id: Annotated[
        str | None, typer.Option("--run", help="Run id or its prefix [default: latest]")
    ] = None,
    table: Annotated[str | None, typer.Option("--table", help="Only this table")] = None,
    runs_only: Annotated[bool, typer.Option("--runs", help="List recent runs instead")] = False,
    engine: EngineOpt = None,
    debug: Debug = False,
) -> None:
    """The event log: one run's flows (default the latest), or the recent runs."""
    from rich.table import Table

    from shoplake.observe.catalog import events as read_events
    from shoplake.observe.catalog import runs

    with common.errors(debug):
        lake_engine = common.engine(common.settings(lake, engine=engine, reads=("lake",)))
        if runs_only:
            listing = Table(title="runs", title_justify="left")
            for column in ("run", "status", "ended (UTC)", "seconds", "rows written", "quality"):
                listing.add_column(column)
            for r in runs(lake_engine):
                listing.add_row(
                    r.run_id,
                    r.status,
                    f"{r.ended:%Y-%m-%d %H:%M:%S}",
                    f"{r.duration_s or 0:.2f}",
                    f"{r.rows_written or 0:,}",
                    "—" if r.quality_score is None else f"{r.quality_score:.1f}",
                )
            console.print(listing)
            return
        rows = read_events(lake_engine, run_id, table)
    if not rows:
        console.print("no events: nothing has run yet (or no run matches)")
        return
    listing = Table(title=f"events of run {rows[0]['run_id']}", title_justify="left")
    for column in (
        "event",
        "table",
        "status",
        "read",
        "read from",
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
            f"{e['rows_read']:,}" if e["rows_read"] is not None else "",
            _read_from(e.get("rows_read_by_input")),
            *(
                f"{e[c]:,}" if e[c] is not None else ""
                for c in ("rows_written", "rows_quarantined")
            ),
            "" if e["quality_score"] is None else f"{e['quality_score']:.1f}",
            "" if e["delta_version"] is None else str(e["delta_version"]),
            "" if e["duration_s"] is None else f"{e['duration_s']:.2f}",
            (e["message"] or "")[:120],
        )
    console.print(listing)


def _read_from(by_input: str | None) -> str:
    """``silver.orders 976,966; silver.customers 208,454`` for a table with several inputs."""
    import json

    counts: dict[str, int] = json.loads(by_input) if by_input else {}
    return "; ".join(f"{ref} {n:,}" for ref, n in counts.items()) if len(counts) > 1 else ""


def register(app: typer.Typer) -> None:
    app.command()(tables)
    app.command()(events)
