"""``shoplake bench-scd2``: apply a batch of changes to a large SCD type 2 dimension.

A dimension of ``keys`` keys with a long history (1 to 6 versions per key) is built
first (not timed). Then a batch of ``batch`` changes and one of ``small`` changes are
each applied in a fresh process, through the engine's ``apply_changes`` (the same
path a pipeline flow takes), measuring wall time, the process's peak memory, and the
files and rows the MERGE rewrote. Part of each batch is late: it happened inside a
key's history and must be slotted in, not appended (``late_share``, default 1%).
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from shoplake.engines.base import CdcSpec

REF = "silver.dimension"
CITIES = [f"city-{i}" for i in range(500)]
TIERS = ["basic", "standard", "premium", "vip"]
DAY = 86_400


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _spec(buckets: int) -> CdcSpec:
    from shoplake import ApplyChanges
    from shoplake.pipeline.writes import cdc_spec

    return cdc_spec(ApplyChanges(["key"], "seq", track=["city", "tier"], buckets=buckets))


def _key(numbers: object) -> object:
    import polars as pl

    return pl.format("K{}", pl.lit(numbers).cast(pl.String).str.zfill(7))


def _build(lake: Path, keys: int, buckets: int) -> dict[str, float]:
    import narwhals as nw
    import numpy as np
    import polars as pl

    from shoplake.engines import create_engine
    from shoplake.engines.base import DELETE

    rng = np.random.default_rng(7)
    versions = rng.integers(1, 7, size=keys)
    key_index = np.repeat(np.arange(keys), versions)
    n = key_index.size
    # Versions of one key a month or more apart, from 2020 on.
    step = rng.integers(30, 90, size=n) * DAY
    events = pl.DataFrame({"k": key_index, "step": step}).with_columns(
        (1_577_836_800 + pl.col("step").cum_sum().over("k")).alias("seq")
    )
    events = events.select(
        pl.format("K{}", pl.col("k").cast(pl.String).str.zfill(7)).alias("key"),
        pl.Series("city", rng.choice(CITIES, size=n)),
        pl.Series("tier", rng.choice(TIERS, size=n)),
        pl.Series("phone", rng.integers(10**9, 10**10, size=n)).cast(pl.String),
        "seq",
        pl.lit(False).alias(DELETE),
    )
    engine = create_engine(str(lake))
    start = time.perf_counter()
    result = engine.apply_changes(
        REF, nw.from_native(events, eager_only=True), spec=_spec(buckets), full=True
    )
    return {"wall_s": time.perf_counter() - start, "rows": result.rows_inserted, "events": n}


def _changes(keys: int, batch: int, seed: int, late_share: float) -> object:
    import numpy as np
    import polars as pl

    from shoplake.engines.base import DELETE

    rng = np.random.default_rng(seed)
    chosen = rng.choice(keys, size=batch, replace=False)
    late = rng.random(batch) < late_share
    # On-time changes come after all history; late ones land somewhere inside it.
    seq = np.where(
        late,
        1_577_836_800 + rng.integers(30, 200, size=batch) * DAY + rng.integers(1, DAY, size=batch),
        2_000_000_000 + rng.integers(0, DAY, size=batch),
    )
    return pl.DataFrame(
        {
            "key": [f"K{k:07d}" for k in chosen.tolist()],
            "city": rng.choice(CITIES, size=batch),
            "tier": rng.choice(TIERS, size=batch),
            "phone": rng.integers(10**9, 10**10, size=batch).astype(str),
            "seq": seq.astype(np.int64),
            DELETE: np.zeros(batch, dtype=bool),
        }
    )


def _apply(lake: Path, keys: int, batch: int, buckets: int, late_share: float) -> dict[str, float]:
    import narwhals as nw

    from shoplake.engines import create_engine

    changes = _changes(keys, batch, seed=batch, late_share=late_share)
    engine = create_engine(str(lake))
    start = time.perf_counter()
    result = engine.apply_changes(
        REF,
        nw.from_native(changes, eager_only=True),
        spec=_spec(buckets),
        full=False,
    )
    wall = time.perf_counter() - start
    info = engine.info(REF)
    assert info is not None
    return {
        "wall_s": wall,
        "peak_mb": _peak_mb(),
        "changes": result.changes,
        "opened": result.opened,
        "files_rewritten": result.files_rewritten,
        "rows_rewritten": result.rows_rewritten,
        "table_rows": info.rows,
        "table_files": info.files,
    }


def _measure(*args: object) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "shoplake.bench.scd2", *[str(a) for a in args]],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_scd2_benchmark(
    keys: int,
    batch: int,
    small: int,
    buckets: int,
    late_share: float,
    folder: Path,
    console: Console,
) -> dict[str, dict[str, float]]:
    """Build the dimension, then time a ``batch`` and a ``small`` batch of changes."""
    import deltalake

    if folder.exists():
        shutil.rmtree(folder)
    lake = folder / "lake"
    with console.status(f"building a dimension of {keys:,} keys…"):
        built = _measure("build", lake, keys, 0, buckets, 0)
    console.print(
        f"built {int(built['rows']):,} versions of {keys:,} keys in {built['wall_s']:.1f}s "
        f"({buckets} buckets; not timed below)"
    )
    results: dict[str, dict[str, float]] = {}
    for size in (batch, small):
        with console.status(f"applying {size:,} changes…"):
            results[str(size)] = _measure("apply", lake, keys, size, buckets, late_share)
    table = Table(
        title=f"SCD2 batch into {keys:,} keys, {late_share:.0%} of changes late "
        f"(deltalake {deltalake.__version__})",
        title_justify="left",
    )
    for column in (
        "changes",
        "wall s",
        "peak MB",
        "versions opened",
        "files rewritten",
        "rows rewritten",
        "table rows",
        "table files",
    ):
        table.add_column(column, justify="right")
    for size in (batch, small):
        r = results[str(size)]
        table.add_row(
            f"{int(r['changes']):,}",
            f"{r['wall_s']:.2f}",
            f"{r['peak_mb']:,.0f}",
            f"{int(r['opened']):,}",
            f"{int(r['files_rewritten']):,}",
            f"{int(r['rows_rewritten']):,}",
            f"{int(r['table_rows']):,}",
            f"{int(r['table_files']):,}",
        )
    ratio = results[str(small)]["wall_s"] / results[str(batch)]["wall_s"]
    table.caption = (
        f"{small:,}-change batch / {batch:,}-change batch = {ratio:.2f}× "
        "(targets: < 5 s, < 1,536 MB, ratio ≤ 0.10)"
    )
    console.print(table)
    return results


if __name__ == "__main__":
    step, lake_arg, keys_arg, batch_arg, buckets_arg, late_arg = sys.argv[1:7]
    if step == "build":
        print(json.dumps(_build(Path(lake_arg), int(keys_arg), int(buckets_arg))))
    else:
        print(
            json.dumps(
                _apply(
                    Path(lake_arg), int(keys_arg), int(batch_arg), int(buckets_arg), float(late_arg)
                )
            )
        )
