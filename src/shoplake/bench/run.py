"""``shoplake bench``: landing → gold for N orders, against a bare read-and-write floor.

Each measurement runs in its own process so its peak memory is its own.
The floor reads the same landing files with Polars' plain readers (CSV as
text, JSON lines as raw lines) and writes each source to a Delta table, with no
cleaning, rules or gold: the least any pipeline over these files could cost.
"""

from __future__ import annotations

import hashlib
import json
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shoplake.bench.common import cpu_s, tree_cpu_s


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _jvm_peak_mb(engine: Any) -> float:
    """The Spark JVM's peak resident memory (driver and, in local mode, executors)."""
    try:
        pid = engine.spark.sparkContext._gateway.proc.pid
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (AttributeError, OSError, ValueError):
        pass
    return 0.0


def _jvm_pid(engine: Any) -> int | None:
    try:
        return int(engine.spark.sparkContext._gateway.proc.pid)
    except (AttributeError, TypeError, ValueError):
        return None  # Spark Connect: the server's CPU is not ours to see


def _pipeline(
    landing: Path, lake: Path, parallelism: int, engine: str = "polars"
) -> dict[str, Any]:
    from shoplake.ecommerce.pipeline import build_pipeline
    from shoplake.engines import create_engine
    from shoplake.ingest.update import run_update

    chosen = create_engine(str(lake), engine)
    session_s = 0.0
    if engine == "spark":
        # The session's start (a JVM, Delta's jars) is reported apart from the run.
        began = time.perf_counter()
        chosen.spark  # type: ignore[attr-defined]  # noqa: B018
        session_s = time.perf_counter() - began
    jvm = _jvm_pid(chosen) if engine == "spark" else None
    start, cpu, jvm_cpu = time.perf_counter(), cpu_s(), tree_cpu_s(jvm)
    result = run_update(build_pipeline(), engine=chosen, landing=landing, parallelism=parallelism)
    wall = time.perf_counter() - start
    if result.status != "completed":
        raise SystemExit(f"pipeline run failed: {[f.message for f in result.flows if f.message]}")
    rows = sum(f.rows_read for f in result.flows if f.kind == "source")
    slowest = sorted(result.flows, key=lambda f: -f.duration_s)[:5]
    return {
        "wall_s": wall,
        "cpu_s": cpu_s() - cpu + tree_cpu_s(jvm) - jvm_cpu,
        "rows": rows,
        "peak_mb": _peak_mb(),
        "jvm_peak_mb": _jvm_peak_mb(chosen) if engine == "spark" else 0.0,
        "session_s": session_s,
        "slowest": [[f.table, f.duration_s] for f in slowest],
        "bronze": {
            f.table.partition(".")[2]: f.duration_s for f in result.flows if f.kind == "source"
        },
    }


def _floor(landing: Path, lake: Path) -> dict[str, Any]:
    import polars as pl
    from deltalake import write_deltalake

    start, cpu = time.perf_counter(), cpu_s()
    rows = 0
    per_source: dict[str, float] = {}
    for folder in sorted(p for p in landing.iterdir() if p.is_dir() and not p.name.startswith("_")):
        began = time.perf_counter()
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
        # The floor hashes each file too: bronze must, to know a file's content identity.
        for f in files:
            hashlib.sha256(f.read_bytes()).hexdigest()
        write_deltalake(str(lake / folder.name), frame.to_arrow(), mode="overwrite")
        rows += frame.height
        per_source[folder.name] = time.perf_counter() - began
    wall = time.perf_counter() - start
    figures = {"wall_s": wall, "cpu_s": cpu_s() - cpu, "rows": rows, "peak_mb": _peak_mb()}
    return {**figures, "sources": per_source}


def _measure(
    kind: str, landing: Path, lake: Path, parallelism: int = 1, engine: str = "polars"
) -> dict[str, Any]:
    command = [sys.executable, "-m", "shoplake.bench.run", kind, str(landing), str(lake)]
    command += [str(parallelism), engine]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def run_benchmark(
    orders: int,
    folder: Path,
    console: Console,
    *,
    parallelism: Sequence[int] = (),
    landing: Path | None = None,
    engines: Sequence[str] = ("polars",),
) -> dict[str, dict[str, Any]]:
    """Generate ``orders`` orders (or take the files in ``landing``), then time the floor
    and the full pipeline on them, once per ``parallelism`` (default: the cores) and
    engine (``polars``, then ``spark`` when asked: the same files through both)."""
    from shoplake.ecommerce.generator import generate
    from shoplake.pipeline.schedule import available_cores, default_parallelism

    if landing is not None and folder.resolve() in landing.resolve().parents:
        raise FileExistsError(f"{landing} is inside --dir {folder}, which is emptied first")
    if folder.exists():
        shutil.rmtree(folder)
    if landing is None:
        landing = folder / "landing"
        with console.status(f"generating {orders:,} orders…"):
            start = time.perf_counter()
            generate(landing, orders=orders)
            generated = time.perf_counter() - start
        console.print(f"generated {orders:,} orders in {generated:.1f}s (not timed below)")
    results: dict[str, dict[str, Any]] = {}
    with console.status("timing the floor…"):
        results["floor"] = _measure("floor", landing, folder / "lake-floor")
    for engine in engines:
        for n in parallelism or [default_parallelism()]:
            key = f"pipeline-{n}" if engine == "polars" else f"{engine}-{n}"
            with console.status(f"timing the pipeline on {engine}, {n} flow(s) at once…"):
                results[key] = _measure("pipeline", landing, folder / f"lake-{key}", n, engine)
    console.print(_figures_table(results, f"landing → lake, {landing}", available_cores()))
    for kind, r in results.items():
        if "slowest" in r:
            flows = ", ".join(f"{table} {seconds:.1f}s" for table, seconds in r["slowest"])
            console.print(f"slowest flows ({kind}): {flows}")
    one_at_a_time = results.get("pipeline-1")
    if one_at_a_time is not None:
        console.print(_bronze_table(results["floor"]["sources"], one_at_a_time["bronze"]))
    return results


def _bronze_table(floor: Mapping[str, float], bronze: Mapping[str, float]) -> Table:
    """Each source's bronze flow against its floor (read + SHA-256 + Delta write), from
    the one-at-a-time run, where flows do not share the cores."""
    table = Table(title="bronze ingestion per source vs its floor", title_justify="left")
    for column in ("source", "floor s", "bronze s", "bronze / floor"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for source, seconds in sorted(floor.items(), key=lambda kv: -kv[1]):
        flow = bronze.get(source)
        ratio = f"{flow / seconds:.2f}×" if flow and seconds else "—"
        table.add_row(source, f"{seconds:.2f}", "—" if flow is None else f"{flow:.2f}", ratio)
    return table


def _figures_table(results: Mapping[str, Mapping[str, Any]], title: str, cores: int) -> Table:
    table = Table(title=title, title_justify="left")
    columns = ("measurement", "rows in", "wall s", "CPU s", "cores busy", "rows/s", "peak MB")
    for column in columns:
        table.add_column(column, justify="left" if column == "measurement" else "right")
    floor = results["floor"]["wall_s"]
    for kind, r in results.items():
        label = "floor: bare read + Delta write"
        engine, _, n = kind.partition("-")
        if engine == "pipeline":
            label = f"pipeline, {n} at once ({r['wall_s'] / floor:.2f}× floor)"
        elif kind != "floor":
            polars = results.get(f"pipeline-{n}")
            versus = f", {r['wall_s'] / polars['wall_s']:.1f}× polars" if polars else ""
            label = (
                f"{engine} pipeline, {n} at once ({r['wall_s'] / floor:.2f}× floor{versus}; "
                f"session start {r['session_s']:.1f}s apart; JVM peak {r['jvm_peak_mb']:,.0f} MB)"
            )
        table.add_row(
            label,
            f"{int(r['rows']):,}",
            f"{r['wall_s']:.2f}",
            f"{r['cpu_s']:.2f}",
            f"{r['cpu_s'] / r['wall_s']:.1f}",
            f"{r['rows'] / r['wall_s']:,.0f}",
            f"{r['peak_mb']:,.0f}",
        )
    table.caption = (
        f"{cores} core(s) available; CPU = user + sys of the measuring process "
        "(and, for Spark, of its JVM and Python workers)"
    )
    return table


if __name__ == "__main__":
    kind, landing_arg, lake_arg, parallel_arg = sys.argv[1:5]
    engine_arg = sys.argv[5] if len(sys.argv) > 5 else "polars"
    if kind == "pipeline":
        figures = _pipeline(Path(landing_arg), Path(lake_arg), int(parallel_arg), engine_arg)
        print(json.dumps(figures))
    else:
        print(json.dumps(_floor(Path(landing_arg), Path(lake_arg))))
