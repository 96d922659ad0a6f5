"""The narwhals backends every transformation test runs on: Polars, DuckDB and PySpark
(when ``shoplake[spark]`` is installed; one local Spark session is shared by the whole
test session, see ``spark_session``)."""

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


def spark_installed() -> bool:
    try:
        import delta  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return True


BACKENDS = tuple(Backend(name) for name in (*NAMES, *(("pyspark",) if spark_installed() else ())))


def as_backend(backend: str | Backend, rows: dict[str, list[Any]] | pl.DataFrame) -> nw.LazyFrame:
    """Columns (or a Polars frame) as a narwhals LazyFrame on ``backend``."""
    return Backend(str(backend)).lazy(rows)  # type: ignore[no-any-return]
