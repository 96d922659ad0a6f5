"""``shoplake bench``: landing → gold for N orders, against a bare read-and-write floor.

Each measurement runs in its own process so its peak memory is its own.
The floor reads the same landing files with Polars' plain readers (CSV as
text, JSON lines as raw lines) and writes each source to a Delta table, with no
cleaning, rules or gold: the least any pipeline over these files could cost.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pipeline(landing: Path, lake: Path) -> dict[str, float]:
    from shoplake.ecommerce.pipeline import build_pipeline
    from shoplake.engines import create_engine
    from shoplake.ingest.update import run_update

    start = time.perf_counter()
    result = run_update(build_pipeline(), engine=create_engine(str(lake)), landing=landing)
    wall = time.perf_counter() - start
    if result.status != "completed":
        raise SystemExit(f"pipeline run failed: {[f.message for f in result.flows if f.message]}")
    rows = sum(f.rows_read for f in result.flows if f.kind == "source")
    return {"wall_s": wall, "rows": rows, "peak_mb": _peak_mb()}


def _floor(landing: Path, lake: Path) -> dict[str, float]:
    import polars as pl
    from deltalake import write_deltalake

    start = time.perf_counter()
    rows = 0
    for folder in sorted(p for p in landing.iterdir() if p.is_dir() and not p.name.startswith("_")):
        files = sorted(folder.iterdir())
        csvs = [str(f) for f in files if f.suffix == ".csv"]
        jsons = [f for f in files if f.suffix == ".jsonl"]
        if csvs:
            frame = pl.read_csv(csvs, infer_schema=False, truncate_ragged_lines=True)
        else:
            # JSON lines with malformed lines defeat every tolerant JSON reader, so the
            # floor keeps each line as text: all bytes read and written, nothing parsed.
            frame = pl.read_csv(
                [str(f) for f in jsons],
                has_header=False,
                separator="\x01",
                quote_char=None,
                new_columns=["value"],
                infer_schema=False,
            )
        write_deltalake(str(lake / folder.name), frame.to_arrow(), mode="overwrite")
        rows += frame.height
    return {"wall_s": time.perf_counter() - start, "rows": rows, "peak_mb": _peak_mb()}


def _measure(kind: str, landing: Path, lake: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "shoplake.bench.run", kind, str(landing), str(lake)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def run_benchmark(orders: int, folder: Path, console: Console) -> dict[str, dict[str, float]]:
    """Generate ``orders`` orders, then time the floor and the full pipeline on them."""
    from shoplake.ecommerce.generator import generate

    if folder.exists():
        shutil.rmtree(folder)
    landing = folder / "landing"
    with console.status(f"generating {orders:,} orders…"):
        start = time.perf_counter()
        generate(landing, orders=orders)
        generated = time.perf_counter() - start
    console.print(f"generated {orders:,} orders in {generated:.1f}s (not timed below)")
    results: dict[str, dict[str, float]] = {}
    for kind in ("floor", "pipeline"):
        with console.status(f"timing {kind}…"):
            results[kind] = _measure(kind, landing, folder / f"lake-{kind}")
    table = Table(title=f"landing → lake, {orders:,} orders", title_justify="left")
    for column in ("measurement", "rows in", "wall s", "rows/s", "peak MB"):
        table.add_column(column, justify="left" if column == "measurement" else "right")
    for kind, label in (
        ("floor", "floor: bare read + Delta write"),
        ("pipeline", "pipeline: landing → bronze → silver → gold"),
    ):
        r = results[kind]
        table.add_row(
            label,
            f"{int(r['rows']):,}",
            f"{r['wall_s']:.2f}",
            f"{r['rows'] / r['wall_s']:,.0f}",
            f"{r['peak_mb']:,.0f}",
        )
    ratio = results["pipeline"]["wall_s"] / results["floor"]["wall_s"]
    table.caption = f"pipeline / floor = {ratio:.2f}×"
    console.print(table)
    return results


if __name__ == "__main__":
    kind, landing_arg, lake_arg = sys.argv[1:4]
    measure = _pipeline if kind == "pipeline" else _floor
    print(json.dumps(measure(Path(landing_arg), Path(lake_arg))))
