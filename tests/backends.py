"""The narwhals backends every transformation test runs on (Spark joins them later)."""

from __future__ import annotations

from typing import Any

import duckdb
import narwhals as nw
import polars as pl

BACKENDS = ("polars", "duckdb")


def as_backend(backend: str, rows: dict[str, list[Any]] | pl.DataFrame) -> nw.LazyFrame:
    """Columns (or a Polars frame) as a narwhals LazyFrame on ``backend``."""
    frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows)
    if backend == "polars":
        return nw.from_native(frame.lazy())
    if backend == "duckdb":
        return nw.from_native(duckdb.from_arrow(frame.to_arrow()))
    raise ValueError(f"unknown backend {backend!r}")
