"""JSON decoding for Polars frames (see ``pipeline/decode.py``): orjson per record."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import narwhals as nw
import orjson
import polars as pl

_SCALAR_DTYPES = {"string": pl.String, "int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean}


def _dtype(kind: Any) -> pl.DataType:
    if isinstance(kind, list):
        inner = pl.Struct({k: _SCALAR_DTYPES[t] for k, t in kind[0].items()})
        return pl.List(inner)
    return _SCALAR_DTYPES[kind]()


def _scalar(value: Any, kind: str) -> tuple[Any, bool]:
    """(converted value, ok). Null is always ok here; required fields are checked apart."""
    if value is None:
        return None, True
    if kind == "string":
        return (value, True) if isinstance(value, str) else (None, False)
    if kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value), True
        return None, False
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value, True
        if isinstance(value, float) and value.is_integer():
            return int(value), True
        return None, False
    if kind == "bool":
        return (value, True) if isinstance(value, bool) else (None, False)
    return None, False


def _record(
    obj: Any, fields: Mapping[str, Any], required: Sequence[str]
) -> tuple[dict[str, Any], str | None]:
    if not isinstance(obj, dict):
        return {}, f"schema violation: expected a JSON object, got {type(obj).__name__}"
    missing = [r for r in required if obj.get(r) is None]
    if missing:
        return {}, f"schema violation: missing required field(s) {', '.join(missing)}"
    out: dict[str, Any] = {}
    for name, kind in fields.items():
        value = obj.get(name)
        if isinstance(kind, list):
            if value is None:
                out[name] = None
                continue
            if not isinstance(value, list):
                return {}, f"schema violation: {name} must be a list"
            items = []
            for item in value:
                if not isinstance(item, dict):
                    return {}, f"schema violation: {name} holds a {type(item).__name__}"
                row = {}
                for key, t in kind[0].items():
                    converted, ok = _scalar(item.get(key), t)
                    if not ok:
                        return {}, f"schema violation: {name}.{key} is not a {t}"
                    row[key] = converted
                items.append(row)
            out[name] = items
            continue
        converted, ok = _scalar(value, kind)
        if not ok:
            return {}, f"schema violation: {name} is not a {kind}"
        out[name] = converted
    return out, None


def decode_polars(
    frame: nw.LazyFrame[Any],
    column: str,
    fields: Mapping[str, Any],
    required: Sequence[str],
    max_bytes: int,
    explode: str | None = None,
) -> nw.LazyFrame[Any]:
    native = frame.to_native()
    assert isinstance(native, pl.LazyFrame)
    data = native.collect()
    # Built flat in Python (one output row per list element when exploding): Polars
    # builds flat columns from lists far faster than nested list-of-struct ones.
    element = dict(fields[explode][0]) if explode is not None else {}
    scalars = [name for name in fields if name != explode]
    columns: dict[str, list[Any]] = {name: [] for name in [*scalars, *element]}
    lines: list[int | None] = []
    rows: list[int] = []
    errors: list[str | None] = []
    raws: list[str | None] = []
    for index, payload in enumerate(data.get_column(column).to_list()):
        error: str | None = None
        decoded: dict[str, Any] = {}
        if payload is None:
            raw, error = None, "empty message (null value)"
        else:
            try:
                raw = payload.decode("utf-8") if isinstance(payload, bytes) else str(payload)
            except UnicodeDecodeError as err:
                raw = "base64:" + base64.b64encode(payload).decode("ascii")
                error = f"invalid UTF-8 at byte {err.start}"
            if error is None and len(payload) > max_bytes:
                error = f"message of {len(payload)} bytes is over the {max_bytes}-byte limit"
            if error is None:
                try:
                    decoded, error = _record(orjson.loads(payload), fields, required)
                except orjson.JSONDecodeError as err:
                    error = f"not JSON: {err}"
        items = (decoded.get(explode) or [None]) if explode is not None else [None]
        for number, item in enumerate(items, start=1):
            rows.append(index)
            errors.append(error)
            raws.append(raw)
            lines.append(number if item is not None else None)
            for name in scalars:
                columns[name].append(decoded.get(name))
            for name in element:
                columns[name].append(None if item is None else item.get(name))
    dtypes = {name: _dtype(fields[name]) for name in scalars}
    dtypes.update({name: _dtype(kind) for name, kind in element.items()})
    parsed = pl.DataFrame(
        {name: pl.Series(name, values, dtype=dtypes[name]) for name, values in columns.items()}
    )
    parsed = parsed.with_columns(
        pl.Series("_error", errors, dtype=pl.String), pl.Series("_raw", raws, dtype=pl.String)
    )
    if explode is not None:
        parsed = parsed.with_columns(pl.Series("line_number", lines, dtype=pl.Int64))
    clashing = [c for c in parsed.columns if c in data.columns]
    base = data.drop(clashing)
    if explode is not None:
        base = base[rows]
    out = pl.concat([base, parsed], how="horizontal")
    return nw.from_native(out.lazy())
