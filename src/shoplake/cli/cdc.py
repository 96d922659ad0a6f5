"""CLI commands for change data capture: ``shoplake bench-scd2``."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Annotated

import typer

from shoplake.cli.console import console


def register(app: typer.Typer) -> None:
    """Add the CDC commands to ``app``."""

    @app.command("bench-scd2")
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
