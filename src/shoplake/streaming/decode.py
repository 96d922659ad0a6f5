"""Decoding raw message payloads (bytes) into declared, typed columns.

Parsing JSON is one of the few things narwhals cannot express, so the work is
done by the frame's own engine (``engines/json_decode.py`` for Polars); table
functions call :func:`decode_json` and stay engine-neutral otherwise.

A record that is not UTF-8, too large, not JSON, not an object, lacks a
required field or has a value of the wrong type gets a reason in ``_error``
(and null fields); its payload is kept as text in ``_raw`` (``base64:…`` when
it is not UTF-8), so a quarantine row holds exactly what arrived.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import narwhals as nw

from shoplake.errors import ShoplakeError

FieldType = str | list[Mapping[str, str]]
"""``"string"``, ``"int"``, ``"float"``, ``"bool"``, or ``[{field: type}]`` for a list of
objects."""
SCALARS = ("string", "int", "float", "bool")
ERROR = "_error"
RAW = "_raw"


def check_fields(fields: Mapping[str, FieldType]) -> None:
    for name, kind in fields.items():
        if isinstance(kind, list):
            if len(kind) != 1 or not all(t in SCALARS for t in kind[0].values()):
                raise ShoplakeError(
                    f"field {name!r}: a list is declared as [{{'name': 'string', ...}}] "
                    f"with scalar types ({', '.join(SCALARS)})"
                )
        elif kind not in SCALARS:
            raise ShoplakeError(f"field {name!r}: type {kind!r} is not one of {SCALARS}")


def decode_json(
    frame: nw.LazyFrame[Any],
    column: str,
    fields: Mapping[str, FieldType],
    *,
    required: Iterable[str] = (),
    max_bytes: int = 1_048_576,
    explode: str | None = None,
) -> nw.LazyFrame[Any]:
    """Add the declared ``fields`` parsed from the JSON in ``column``, plus ``_error``
    (why a record could not be used, or null) and ``_raw`` (the payload as text).

    Example::

        events = decode_json(bronze, "value", {"id": "string", "n": "int"}, required=["id"])
        good = events.filter(nw.col("_error").is_null())

    ``explode`` names a list-of-objects field to flatten: one row per element, its
    keys as columns and ``line_number`` (1-based; null for a record without any).
    """
    check_fields(fields)
    if explode is not None and not isinstance(fields.get(explode), list):
        raise ShoplakeError(f"explode={explode!r} must name a list field of fields")
    wanted = tuple(required)
    unknown = [r for r in wanted if r not in fields]
    if unknown:
        raise ShoplakeError(f"required field(s) {unknown} are not declared in fields")
    if frame.implementation.is_polars():
        from shoplake.engines.json_decode import decode_polars

        return decode_polars(frame, column, dict(fields), wanted, max_bytes, explode)
    if frame.implementation.is_pyspark():
        # The same decoder, run by the executors over each batch of rows.
        from shoplake.engines.spark_json import decode_spark

        return decode_spark(frame, column, dict(fields), wanted, max_bytes, explode)
    raise ShoplakeError(
        f"decode_json: the {frame.implementation} backend is not supported; use the polars "
        "or the spark engine"
    )
