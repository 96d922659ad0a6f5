"""``shoplake bench run --lake <uri>``: the pipeline into a lake on an object store beside
local disk, with the store requests each run makes.

The same landing files (local) run into a lake on local disk, then into a fresh
folder under ``<uri>`` (removed afterwards), then once more with nothing new — the
incremental run, whose cost should not grow with the lake. Requests are counted by
a proxy (``bench/store_proxy.py``) when the store is reached over plain HTTP (an
emulator, or an ``http://`` endpoint); an HTTPS endpoint is timed only.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shoplake.bench.common import cpu_s
from shoplake.bench.store_proxy import KINDS, ProxyProcess
from shoplake.stores import display, options_for, provider


def _endpoint(lake: str) -> tuple[str, str] | None:
    """``(variable, http endpoint)`` through which the lake's store is reached, when plain
    HTTP: the variable is set to the proxy's address for the measured runs."""
    kind = provider(lake)
    options = options_for(lake) or {}
    if kind == "aws":
        url = options.get("aws_endpoint_url") or options.get("aws_endpoint")
        variable = "SHOPLAKE_STORAGE_AWS_ENDPOINT_URL" if url else "AWS_ENDPOINT_URL"
        url = url or os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT")
        return (variable, url) if url and url.startswith("http://") else None
    if kind == "azure":
        emulator = options.get("azure_storage_use_emulator") or os.environ.get(
            "AZURE_STORAGE_USE_EMULATOR", ""
        )
        if emulator.lower() in ("true", "1"):
            url = os.environ.get("AZURITE_BLOB_STORAGE_URL", "http://127.0.0.1:10000")
            return "AZURITE_BLOB_STORAGE_URL", url
    return None


@contextmanager
def _counted(lake: str) -> Iterator[ProxyProcess | None]:
    found = _endpoint(lake)
    if found is None:
        yield None
        return
    variable, url = found
    before = os.environ.get(variable)
    with ProxyProcess(url) as proxy:
        os.environ[variable] = proxy.url
        try:
            yield proxy
        finally:
            if before is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = before


def _run(lake: str, landing: Path) -> dict[str, float]:
    """Wall and CPU seconds (this process, every thread) of one run into ``lake``."""
    from shoplake.ecommerce.pipeline import build_pipeline
    from shoplake.engines import create_engine
    from shoplake.ingest.archive import ArchivePolicy
    from shoplake.ingest.loader import LoaderConfig, run_available

    started, cpu = time.perf_counter(), cpu_s()
    results = run_available(
        build_pipeline(),
        create_engine(lake),  # a fresh engine, as a new process opens the lake
        landing,
        config=LoaderConfig(archive=ArchivePolicy(mode="leave"), max_files=None),
    )
    failed = [r.error for r in results if r.status != "succeeded"]
    if failed:
        raise SystemExit(f"the pipeline run into {display(lake)} failed: {failed[0]}")
    return {"wall_s": time.perf_counter() - started, "cpu_s": cpu_s() - cpu}


def run_store_benchmark(
    orders: int, lake: str, folder: Path, console: Console, landing: Path | None = None
) -> dict[str, dict[str, Any]]:
    """Time the pipeline on local disk and into ``lake`` (a URI), counting store requests."""
    from shoplake.ecommerce.generator import generate
    from shoplake.sources.objects import object_fs

    if folder.exists():
        shutil.rmtree(folder)
    if landing is None:
        landing = folder / "landing"
        with console.status(f"generating {orders:,} orders…"):
            generate(landing, orders=orders)
    results: dict[str, dict[str, Any]] = {}
    with console.status("the pipeline into a lake on local disk…"):
        results["local disk, first run"] = _run(str(folder / "lake"), landing)
        results["local disk, nothing new"] = _run(str(folder / "lake"), landing)
    target = f"{lake.rstrip('/')}/bench-{uuid.uuid4().hex[:8]}"
    try:
        with _counted(target) as proxy:
            for label in ("first run", "nothing new"):
                with console.status(f"the pipeline into {display(target)}: {label}…"):
                    if proxy is not None:
                        proxy.reset()
                    timed = _run(target, landing)
                counts = proxy.counts() if proxy is not None else {}
                results[f"{display(lake)}, {label}"] = {**timed, "requests": counts}
    finally:
        fs, key = object_fs(target)
        fs.rm(key, recursive=True)
    console.print(_table(results, proxy is not None, landing))
    return results


def _table(results: dict[str, dict[str, Any]], counted: bool, landing: Path) -> Table:
    table = Table(title=f"landing → lake, {landing}", title_justify="left")
    table.add_column("run")
    table.add_column("wall s", justify="right")
    table.add_column("cpu s", justify="right")  # shoplake's process; not the store's
    for kind in (*KINDS, "requests") if counted else ():
        table.add_column(kind, justify="right")
    for label, figures in results.items():
        row = [label, f"{figures['wall_s']:.2f}", f"{figures['cpu_s']:.2f}"]
        if counted:
            counts = figures.get("requests")
            row += [str(counts.get(k, 0)) for k in KINDS] if counts is not None else [""] * 5
            row.append(str(sum(counts.values())) if counts is not None else "")
        table.add_row(*row)
    if not counted:
        table.caption = "requests are counted when the store is reached over http (an emulator)"
    return table
