"""A lake harness for the framework's own tests: ``shoplake.testing.TempLake`` in a
pytest ``tmp_path``, plus the file-level checks a framework test needs (Delta
versions, raw landing bytes, a fresh engine per run as a new process would have)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import polars as pl
from deltalake import DeltaTable

import shoplake
from shoplake import Pipeline, RunResult
from shoplake.engines.polars_delta import PolarsDeltaEngine
from shoplake.testing import TempLake


def comparable(frame: pl.DataFrame, run_specific: Sequence[str]) -> pl.DataFrame:
    """``frame`` ready to compare with the same table of another run: ``run_specific``
    columns dropped (also from quarantined rows' raw ``record``), columns and rows in a
    fixed order, floats sorted to the cent (two engines may differ in the last bit)."""
    frame = frame.drop([c for c in run_specific if c in frame.columns])
    if "record" in frame.columns:

        def clean(text: str | None) -> str | None:
            if text is None:
                return None
            row = {k: v for k, v in json.loads(text).items() if k not in run_specific}
            return json.dumps(row, sort_keys=True)

        frame = frame.with_columns(pl.col("record").map_elements(clean, return_dtype=pl.String))
    frame = frame.select(sorted(frame.columns))
    keys = [
        pl.col(c).round(2) if dtype.is_float() else pl.col(c)
        for c, dtype in frame.schema.items()
        if not dtype.is_nested()
    ]
    return frame.sort(keys, nulls_last=True)


def delta_versions(lake: Path) -> dict[str, int]:
    """Every Delta table under ``lake`` as ``layer.name`` → its latest version."""
    versions: dict[str, int] = {}
    for log in sorted(Path(lake).glob("*/*/_delta_log")):
        table = log.parent
        versions[f"{table.parent.name}.{table.name}"] = DeltaTable(str(table)).version()
    return versions


class LakeHarness(TempLake):
    """``root/landing`` and ``root/lake`` and the pipeline that runs over them (the
    caller owns ``root``: nothing is removed)."""

    def __init__(self, root: Path, pipeline: Pipeline) -> None:
        super().__init__(pipeline, root=root)

    def new_engine(self) -> PolarsDeltaEngine:
        """An engine with nothing cached, as the next process would open the lake."""
        return PolarsDeltaEngine(str(self.lake))

    def run(self, engine: Any = None, **options: Any) -> RunResult:
        """One ``shoplake.run`` over the landing, on ``engine`` or a fresh one."""
        return shoplake.run(
            self.pipeline, engine=engine or self.new_engine(), landing=self.landing, **options
        )

    def write(self, relative: str, text: str | bytes) -> Path:
        """A landing file with exactly these bytes (``relative`` to the landing)."""
        path = self.landing / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path

    def read(self, ref: str) -> pl.DataFrame:
        """A table's current rows straight from its Delta files."""
        layer, _, name = ref.partition(".")
        return pl.read_delta(str(self.lake / layer / name))

    def exists(self, ref: str) -> bool:
        layer, _, name = ref.partition(".")
        return (self.lake / layer / name / "_delta_log").is_dir()

    def versions(self) -> dict[str, int]:
        """The latest Delta version of every table in the lake."""
        return delta_versions(self.lake)


H = TypeVar("H", bound=LakeHarness)


class MakeHarness(Protocol):
    """The ``lake_harness`` fixture: ``lake_harness(pipeline, harness=LakeHarness)``."""

    def __call__(self, pipeline: Pipeline, harness: type[H] = ...) -> H: ...
