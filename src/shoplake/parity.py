"""Proving a pipeline portable: the same landing files through two engines (or more),
every table compared row for row.

``shoplake parity`` prints the comparison; ``shoplake.testing.assert_engines_agree``
fails a test with the first difference. Columns stamped by the run (its id, its clock)
differ between any two runs and are left out, in the tables and inside quarantined
rows' ``record``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from shoplake.pipeline.tables import Pipeline
from shoplake.rows import assert_rows_equal

RUN_COLUMNS = ("_batch_id", "_ingested_at", "run_id", "quarantined_at")
"""Columns that differ between two runs of the same pipeline on the same files."""


@dataclass(frozen=True)
class TableParity:
    table: str
    rows: dict[str, int] = field(default_factory=dict)  # engine → rows (absent: no table)
    difference: str | None = None  # None: the same rows on every engine

    @property
    def equal(self) -> bool:
        return self.difference is None


def compare_engines(
    pipeline: Pipeline,
    landing: str | Path,
    engines: Sequence[str] = ("polars", "spark"),
    *,
    root: str | Path | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    ignore: Sequence[str] = RUN_COLUMNS,
    progress: Callable[[str], None] | None = None,
) -> list[TableParity]:
    """Run ``pipeline`` over ``landing`` once per engine, each into its own lake under
    ``root`` (default: a temporary folder), and compare every table of the lakes with
    the first engine's. ``options`` are each engine's own (e.g. a Spark ``session``)."""
    from shoplake.api import run
    from shoplake.engines import create_engine

    if len(engines) < 2:
        raise ValueError("name two engines or more to compare")
    base = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="shoplake-parity-"))
    lakes: dict[str, Path] = {}
    failed: dict[str, str] = {}
    for name in engines:
        lake = base / name
        if progress:
            progress(f"running the pipeline on {name}")
        engine = create_engine(str(lake), name, **dict((options or {}).get(name, {})))
        result = run(pipeline, engine=engine, landing=landing)
        lakes[name] = lake
        problems = [f"{f.table}: {f.message}" for f in result.flows if f.status == "failed"]
        if problems:
            failed[name] = "; ".join(problems)
    refs = sorted({ref for lake in lakes.values() for ref in _tables(lake)})
    compared = [_compare(ref, lakes, engines, ignore) for ref in refs]
    for name, problem in failed.items():
        compared.insert(0, TableParity("(run)", {}, f"the run failed on {name}: {problem}"))
    return compared


def _tables(lake: Path) -> list[str]:
    return [
        f"{log.parent.parent.name}.{log.parent.name}"
        for log in lake.glob("*/*/_delta_log")
        if log.parent.parent.name != "_system"  # bookkeeping: ids and clocks of the run
    ]


def _rows(lake: Path, ref: str, ignore: Sequence[str]) -> pl.DataFrame | None:
    layer, _, name = ref.partition(".")
    path = lake / layer / name
    if not (path / "_delta_log").is_dir():
        return None
    frame = pl.read_delta(str(path)).drop([c for c in ignore if c != "record"], strict=False)
    if "record" in frame.columns:  # a quarantined row as JSON: its run columns too

        def clean(text: str | None) -> str | None:
            if text is None:
                return None
            row = {k: v for k, v in json.loads(text).items() if k not in ignore}
            return json.dumps(row, sort_keys=True)

        frame = frame.with_columns(pl.col("record").map_elements(clean, return_dtype=pl.String))
    return frame


def _compare(
    ref: str, lakes: Mapping[str, Path], engines: Sequence[str], ignore: Sequence[str]
) -> TableParity:
    frames = {name: _rows(lakes[name], ref, ignore) for name in engines}
    rows = {name: f.height for name, f in frames.items() if f is not None}
    first = engines[0]
    expected = frames[first]
    for name in engines[1:]:
        actual = frames[name]
        if expected is None or actual is None:
            missing = first if expected is None else name
            return TableParity(ref, rows, f"no such table on {missing}")
        if sorted(actual.columns) != sorted(expected.columns):
            extra = sorted(set(actual.columns) ^ set(expected.columns))
            return TableParity(ref, rows, f"columns differ on {name}: {', '.join(extra)}")
        try:
            assert_rows_equal(actual, expected, rel_tol=1e-9)
        except AssertionError as err:
            lines = str(err).splitlines()
            return TableParity(ref, rows, f"{name} differs from {first}: " + " | ".join(lines[:4]))
    return TableParity(ref, rows)
