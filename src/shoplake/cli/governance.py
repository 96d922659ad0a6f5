"""The catalog: ``catalog`` lists the lake's tables with owner, tags and PII columns;
``catalog show layer.name`` shows one table's columns and lineage."""

from __future__ import annotations

from typing import Annotated

import typer

from shoplake.cli import common
from shoplake.cli.common import Debug, EngineOpt, Lake, PipelineOpt
from shoplake.cli.console import console

catalog_app = typer.Typer(
    help="The catalog: tables with owner, tags and PII columns; `catalog show` for one.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@catalog_app.callback()
def catalog(
    ctx: typer.Context,
    lake: Lake = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Quarantine and system tables too")
    ] = False,
    engine: EngineOpt = None,
    debug: Debug = False,
) -> None:
    """Every table: layer, owner, tags, rows, Delta version, freshness and PII columns."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from shoplake.governance.catalog import freshness, list_catalog

    with common.errors(debug):
        entries = list_catalog(
            common.engine(common.settings(lake, engine=engine, reads=("lake",))),
            everything=everything,
        )
    if not entries:
        console.print("no tables yet: run `shoplake run` (or `shoplake demo`) first")
        return
    listing = Table(title="catalog", title_justify="left")
    for column in ("layer", "table", "owner", "tags", "rows", "version", "updated", "PII (class)"):
        listing.add_column(column, justify="right" if column in ("rows", "version") else "left")
    for e in entries:
        listing.add_row(
            e.layer,
            e.ref.partition(".")[2],
            e.owner or "—",
            ", ".join(f"{k}={v}" for k, v in e.tags.items()),
            f"{e.rows:,}",
            str(e.version),
            freshness(e.last_modified),
            ", ".join(f"{c}:{k}" for c, k in e.pii.items()) or "—",
        )
    console.print(listing)


@catalog_app.command("show")
def show(
    table: Annotated[str, typer.Argument(help="The table, as layer.name")],
    lake: Lake = None,
    pipeline: PipelineOpt = None,
    engine: EngineOpt = None,
    debug: Debug = False,
) -> None:
    """One table: description, owner, tags, columns with comments, classes and lineage,
    and the tables upstream and downstream of it."""
    from rich.table import Table

    from shoplake.errors import ConfigError
    from shoplake.governance.catalog import freshness, show_table
    from shoplake.governance.lineage import with_column_lineage
    from shoplake.pipeline.graph import build_graph

    with common.errors(debug):
        settings = common.settings(lake, pipeline=pipeline, engine=engine, reads=("lake",))
        lake_engine = common.engine(settings)
        try:
            loaded = common.load_pipeline(settings.pipeline)
        except ConfigError:
            loaded = None  # a lake written by another pipeline: the stored catalog alone
        graph = build_graph(loaded) if loaded is not None else None
        detail = show_table(lake_engine, table, graph)
        if graph is not None:
            detail = with_column_lineage(lake_engine, graph, detail)
    e = detail.entry
    console.print(f"[bold]{e.ref}[/] — {e.description or 'no description'}", highlight=False)
    tags = ", ".join(f"{k}={v}" for k, v in e.tags.items()) or "—"
    console.print(
        f"owner {e.owner or '—'} · tags {tags} · {e.rows:,} rows · version {e.version} · "
        f"updated {freshness(e.last_modified)}",
        highlight=False,
    )
    console.print(f"upstream: {', '.join(detail.upstream) or '—'}", highlight=False)
    console.print(f"downstream: {', '.join(detail.downstream) or '—'}", highlight=False)
    listing = Table(title="columns", title_justify="left")
    for column in ("column", "type", "PII", "comment", "computed from"):
        listing.add_column(column)
    for c in detail.columns:
        source = f" ({c.lineage_source})" if c.lineage else ""
        listing.add_row(c.name, c.type, c.pii or "—", c.comment, ", ".join(c.lineage) + source)
    console.print(listing)


def register(app: typer.Typer) -> None:
    app.add_typer(catalog_app, name="catalog")
