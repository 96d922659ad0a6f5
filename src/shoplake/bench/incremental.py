"""``shoplake bench-incremental``: one batch of new orders into a big lake vs an empty one.

The big lake holds N generated orders (all sources); the empty lake holds the same
customers, products, regions and inventory but no order (so no return or shipment,
and the gold tables that need those are skipped there). The same batch of new orders (with
their lines, referencing existing customers and products) lands in both, and one
``run`` is timed on each, in its own process. Incremental by default means the two
times should be close: the cost of a batch grows with the batch, not the lake.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from shoplake.bench.common import cpu_s

DIMENSIONS = ("regions", "customers", "products", "inventory")


def _run(landing: Path, lake: Path) -> dict[str, object]:
    """One ``shoplake run`` (lock, batch bookkeeping and all; the files stay in place)."""
    from shoplake.ecommerce.pipeline import build_pipeline
    from shoplake.engines import create_engine
    from shoplake.ingest.archive import ArchivePolicy
    from shoplake.ingest.loader import LoaderConfig, run_available

    pipeline = build_pipeline()
    engine = create_engine(str(lake))
    start, cpu = time.perf_counter(), cpu_s()
    config = LoaderConfig(archive=ArchivePolicy(mode="leave"), max_files=None)
    batches = run_available(pipeline, engine, landing, config=config)
    wall, cpu = time.perf_counter() - start, cpu_s() - cpu
    failed = [b.error for b in batches if b.status != "succeeded"]
    if failed:
        raise SystemExit(f"pipeline run failed: {failed[0]}")
    flows = {
        f.table: round(f.duration_s, 3)
        for b in batches
        if b.run is not None
        for f in b.run.flows
        if f.status != "skipped"
    }
    return {"wall_s": wall, "cpu_s": cpu, "flows": flows}


def _measure(landing: Path, lake: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "shoplake.bench.incremental", str(landing), str(lake)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _timed(landing: Path, prepared: Path, repeat: int) -> dict[str, object]:
    """The median of ``repeat`` runs, each on a fresh copy of the ``prepared`` lake (a run
    consumes the batch, so every timing starts from the same state)."""
    runs = []
    for _ in range(repeat):
        lake = prepared.with_name(prepared.name + "-run")
        if lake.exists():
            shutil.rmtree(lake)
        shutil.copytree(prepared, lake)
        runs.append(_measure(landing, lake))
        shutil.rmtree(lake)
    runs.sort(key=lambda r: float(r["wall_s"]))  # type: ignore[arg-type]
    median = dict(runs[len(runs) // 2])
    median["all_s"] = [round(float(r["wall_s"]), 3) for r in runs]  # type: ignore[arg-type]
    return median


def run_incremental_benchmark(
    orders: int, batch: int, folder: Path, console: Console, repeat: int = 3
) -> dict[str, dict[str, object]]:
    """Build both lakes (not timed), then time one ``batch``-order run into each (the
    median of ``repeat`` runs)."""
    from shoplake.ecommerce.generator import generate, generate_batch

    if folder.exists():
        shutil.rmtree(folder)
    big, empty = folder / "landing-big", folder / "landing-empty"
    with console.status(f"generating {orders:,} orders…"):
        start = time.perf_counter()
        generate(big, orders=orders)
    console.print(f"generated {orders:,} orders in {time.perf_counter() - start:.1f}s")
    empty.mkdir(parents=True)
    for name in (*DIMENSIONS, "_generator"):
        shutil.copytree(big / name, empty / name)
    with console.status("loading both lakes (not timed)…"):
        start = time.perf_counter()
        loaded = _measure(big, folder / "lake-big")
        _measure(empty, folder / "lake-empty")
    console.print(f"loaded the {orders:,}-order lake in {loaded['wall_s']:.1f}s (not timed below)")
    report = generate_batch(big, orders=batch)
    for name in report.files:
        (empty / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(big / name, empty / name)
    results: dict[str, dict[str, object]] = {}
    for label, landing, lake in (("empty", empty, "lake-empty"), ("big", big, "lake-big")):
        with console.status(f"timing the batch into the {label} lake ({repeat}×)…"):
            results[label] = _timed(landing, folder / lake, repeat)
    empty_s = float(results["empty"]["wall_s"])  # type: ignore[arg-type]
    big_s = float(results["big"]["wall_s"])  # type: ignore[arg-type]
    table = Table(
        title=f"one batch of {batch:,} new orders ({report.lines:,} lines)", title_justify="left"
    )
    for column in ("lake", "orders before", "run s (median)", "cpu s", "all runs s"):
        table.add_column(column, justify="left" if column == "lake" else "right")
    for label, name, before in (
        ("empty", "empty (no orders yet)", "0"),
        ("big", "big", f"{orders:,}"),
    ):
        every = ", ".join(f"{v:.2f}" for v in results[label]["all_s"])  # type: ignore[attr-defined]
        median = float(results[label]["wall_s"])  # type: ignore[arg-type]
        cpu = float(results[label]["cpu_s"])  # type: ignore[arg-type]
        table.add_row(name, before, f"{median:.2f}", f"{cpu:.2f}", every)
    table.caption = f"big / empty = {big_s / empty_s:.2f}× (targets: < 1.5×, < 3 s)"
    console.print(table)
    slowest = Table(title="where the big-lake run spends its time", title_justify="left")
    slowest.add_column("table")
    slowest.add_column("big s", justify="right")
    slowest.add_column("empty s", justify="right")
    big_flows: dict[str, float] = results["big"]["flows"]  # type: ignore[assignment]
    empty_flows: dict[str, float] = results["empty"]["flows"]  # type: ignore[assignment]
    for ref, seconds in sorted(big_flows.items(), key=lambda kv: -kv[1])[:10]:
        slowest.add_row(ref, f"{seconds:.3f}", f"{empty_flows.get(ref, 0.0):.3f}")
    console.print(slowest)
    return results


if __name__ == "__main__":
    print(json.dumps(_run(Path(sys.argv[1]), Path(sys.argv[2]))))
