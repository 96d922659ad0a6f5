"""Comparing rows: the readable row-by-row diff of ``shoplake.testing`` and of
``shoplake parity``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import narwhals as nw

Rows = Sequence[Mapping[str, Any]]


def rows_of(frame: Any) -> list[dict[str, Any]]:
    """The rows of a frame (narwhals lazy or eager of any backend, Polars, or rows
    already) as a list of dicts."""
    if isinstance(frame, Sequence) and not isinstance(frame, str | bytes):
        return [dict(row) for row in frame]
    if not isinstance(frame, nw.LazyFrame | nw.DataFrame):
        frame = nw.from_native(frame)
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect()
    return frame.rows(named=True)


def _same(a: Any, b: Any, rel_tol: float) -> bool:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and float in (type(a), type(b)):
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=rel_tol)
    return bool(a == b)


def _show(row: Mapping[str, Any], columns: Sequence[str]) -> str:
    return "{" + ", ".join(f"{c}: {row.get(c)!r}" for c in columns) + "}"


def assert_rows_equal(
    actual: Rows | Any,
    expected: Rows | Any,
    *,
    keys: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    ignore_order: bool = True,
    rel_tol: float = 1e-9,
) -> None:
    """Fail with a readable diff unless ``actual`` holds exactly the ``expected`` rows.

    Either side may be rows (dicts) or a frame (Polars, narwhals). Only ``columns`` are
    compared (default: those of the expected rows, so extra columns such as lineage are
    ignored). With ``keys``, rows are matched on them and a difference reads
    ``changed     order_id='O2': amount 7.0 → 8.0``; a key found twice shows as an
    unexpected row. Floats compare within ``rel_tol`` (NaN equals NaN).
    ``ignore_order=False`` also checks the order of the rows.
    """
    actual, expected = rows_of(actual), rows_of(expected)
    cols = list(columns or (list(expected[0]) if expected else list(actual[0]) if actual else []))
    lines: list[str] = []
    if keys:

        def key_of(row: Mapping[str, Any]) -> tuple[Any, ...]:
            return tuple(row.get(k) for k in keys)

        def label(key: tuple[Any, ...]) -> str:
            return ", ".join(f"{k}={v!r}" for k, v in zip(keys, key, strict=True))

        got: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        want: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for rows, by_key in ((actual, got), (expected, want)):
            for row in rows:
                by_key.setdefault(key_of(row), []).append(row)
        for key, wanted in want.items():
            found = got.get(key, [])
            for index, row in enumerate(wanted):
                if index >= len(found):
                    lines.append(f"  missing     {label(key)}: {_show(row, cols)}")
                    continue
                changed = [
                    f"{c} {row.get(c)!r} → {found[index].get(c)!r}"
                    for c in cols
                    if not _same(found[index].get(c), row.get(c), rel_tol)
                ]
                if changed:
                    lines.append(f"  changed     {label(key)}: " + ", ".join(changed))
        lines += [
            f"  unexpected  {label(key)}: {_show(row, cols)}"
            for key, found in got.items()
            for row in found[len(want.get(key, [])) :]
        ]
    else:
        left = list(actual)
        for row in expected:
            match = next(
                (
                    i
                    for i, other in enumerate(left)
                    if all(_same(other.get(c), row.get(c), rel_tol) for c in cols)
                ),
                None,
            )
            if match is None:
                lines.append(f"  missing     {_show(row, cols)}")
            else:
                left.pop(match)
        lines += [f"  unexpected  {_show(row, cols)}" for row in left]
    if not lines and not ignore_order:
        order = [
            i
            for i, (a, b) in enumerate(zip(actual, expected, strict=True))
            if not all(_same(a.get(c), b.get(c), rel_tol) for c in cols)
        ]
        if order:
            lines.append(f"  same rows in another order (first difference at row {order[0]})")
    if lines:
        header = f"rows differ ({len(expected)} expected, {len(actual)} actual)"
        raise AssertionError("\n".join([header + ":", *lines]))
