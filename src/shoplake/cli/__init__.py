"""The ``shoplake`` command: a thin layer that parses options, calls plain functions and
renders the result.

``common`` holds the shared options, settings, the engine, the pipeline loader and the
one error handler; ``console`` the renderings. Each other module is a leaf holding a
group of commands; leaves import ``common`` and ``console``, never each other, and
import heavy libraries only inside the commands, so ``shoplake --help`` is instant.
"""

from __future__ import annotations

import typer

from shoplake.cli import (
    bench,
    catalog,
    configure,
    governance,
    ingest,
    maintain,
    observe,
    run,
    share,
    stream,
)
from shoplake.cli.helptext import HelpAsWritten

app = typer.Typer(
    cls=HelpAsWritten,
    help="shoplake: a local-first e-commerce lakehouse on Delta Lake.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _name_the_writer(ctx: typer.Context) -> None:
    """shoplake: a local-first e-commerce lakehouse on Delta Lake."""
    from shoplake.names import name_writer

    if ctx.invoked_subcommand:
        name_writer(f"shoplake {ctx.invoked_subcommand}")


for leaf in (run, ingest, catalog, governance, maintain, stream, observe, share, bench, configure):
    leaf.register(app)


def main() -> None:  # pragma: no cover
    app()


__all__ = ["app", "main"]
