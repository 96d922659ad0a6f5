"""The narwhals backends every transformation test runs on (Spark joins them later)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import narwhals as nw
import polars as pl

from shoplake.testing import BACKENDS as NAMES
from shoplake.testing import lazy_frame, rows_of


@dataclass(frozen=True)
class Backend:
    """One backend: rows or Polars frames in (``lazy``), results back out."""

    name: str

    def lazy(self, rows: dict[str, list[Any]] | list[dict[str, Any]] | pl.DataFrame) -> Any:
        """Columns, rows or a Polars frame as a narwhals LazyFrame on this backend."""
        return lazy_frame(rows, self.name)  # type: ignore[arg-type]

    def polars(self, frame: nw.LazyFrame | nw.DataFrame) -> pl.DataFrame:
        """A result of any backend, collected, as a Polars frame."""
        eager = frame.collect() if isinstance(frame, nw.LazyFrame) else frame
        return eager.to_polars()

    def rows(self, frame: nw.LazyFrame | nw.DataFrame) -> list[dict[str, Any]]:
        """A result of any backend, collected, as rows."""
        return rows_of(frame)

    def __str__(self) -> str:
        return self.name


BACKENDS = tuple(Backend(name) for name in NAMES)


def as_backend(backend: str | Backend, rows: dict[str, list[Any]] | pl.DataFrame) -> nw.LazyFrame:
    """Columns (or a Polars frame) as a narwhals LazyFrame on ``backend``."""
    return Backend(str(backend)).lazy(rows)  # type: ignore[no-any-return]
