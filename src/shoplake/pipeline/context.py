"""What every flow shares: the run's context, app-transaction ids, and turning a table
function's result into a lazy frame."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import narwhals as nw

from shoplake.engines.base import Engine
from shoplake.errors import FlowError, ShoplakeError


@dataclass(frozen=True)
class FlowContext:
    engine: Engine
    run_id: str
    started_at: datetime
    full_refresh: bool


NO_DATA = "shoplake.no_data"
"""Commit metadata marking a commit that changed no rows (it only records consumed input
versions): downstream tables treat their input as unchanged by it."""


def inputs_unchanged(
    engine: Engine, recorded: Mapping[str, int | None], versions: Mapping[str, int]
) -> bool:
    """Whether every input is at the version the table last consumed, or has since moved
    only by commits that changed no rows (an upstream batch quarantined whole, say)."""
    for ref, version in versions.items():
        last = recorded[ref]
        if last == version:
            continue
        if last is None or last > version:
            return False
        empty = [v for v, _ in engine.commit_metadata_since(ref, NO_DATA, last) if v <= version]
        if len(empty) != version - last:
            return False
    return True


def app_id(target: str, source: str) -> str:
    return f"{target}<-{source}"


def quarantine_ref(table: str) -> str:
    return f"quarantine.{table.partition('.')[2]}"


def as_lazy(value: object, table: str) -> nw.LazyFrame[Any]:
    if isinstance(value, nw.LazyFrame):
        return value
    if isinstance(value, nw.DataFrame):
        return value.lazy()
    try:
        return nw.from_native(value).lazy()  # type: ignore[call-overload,no-any-return]
    except TypeError:
        raise FlowError(
            table, f"the table function returned {type(value).__name__}; return a narwhals frame"
        ) from None


def lazy_like(frame: nw.DataFrame[Any], like: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """``frame`` (eager and small: keys, a calendar) as a lazy frame on the backend of
    ``like``, so the two can be joined. On Polars this is ``frame.lazy()``.

    Example::

        months = lazy_like(nw.from_dict({"month": [...]}, backend="polars"), orders)
        orders.join(months, on="month", how="semi")
    """
    backend = like.implementation
    if backend.is_spark_like():
        # Spark builds it from Arrow in the frame's own session; a naive Arrow timestamp
        # arrives zoned there, so the frame's types are restored.
        lazy = frame.lazy(backend=backend, session=like.to_native().sparkSession)
        arrived = lazy.collect_schema()
        casts = [nw.col(c).cast(t) for c, t in frame.schema.items() if arrived[c] != t]
        return lazy.with_columns(casts) if casts else lazy
    if frame.implementation == backend:
        return frame.lazy()
    return frame.lazy(backend=backend)


@contextmanager
def evaluating(target: str) -> Iterator[None]:
    """An error while the engine computes a table's own code (a plan runs only when its
    rows are counted or written) is reported against the table; the rules' verdicts
    and storage errors pass as they are."""
    try:
        yield
    except ShoplakeError:
        raise
    except Exception as err:
        raise FlowError(target, f"{type(err).__name__}: {err}") from err
