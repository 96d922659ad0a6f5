"""One definition, one answer: the narwhals expressions whose result differs between
backends, made to give on DuckDB and Spark what they give on Polars (the default
engine), so a user's table logic needs no engine-specific workaround.

| expression | Polars | narwhals on Spark | narwhals on DuckDB |
| --- | --- | --- | --- |
| ``dt.weekday()`` | ISO: Monday 1 … Sunday 7 | Sunday 0 | ISO |
| ``round(x, n)`` | half to even (of x·10ⁿ) | half up (of x's text) | half away from zero |
| ``dt.total_seconds()`` and kin | truncated toward zero | not implemented | truncated |
| ``str.replace(p, v)`` (the first match) | replaced | not implemented | (as narwhals) |

The fixes replace the narwhals backend methods in place (narwhals is pinned to the
minor version they were written for, in ``pyproject.toml``); ``install`` runs when the
engines package is imported, once. ``tests/engines/test_parity.py`` runs the same
expressions through every engine and fails when any answer differs again.
"""

from __future__ import annotations

import contextlib
from typing import Any

_done = False
_MICROS = {
    "total_microseconds": 1,
    "total_milliseconds": 1_000,
    "total_seconds": 1_000_000,
    "total_minutes": 60_000_000,
}


def install() -> None:
    global _done
    if _done:
        return
    _done = True
    with contextlib.suppress(ImportError):
        _spark()
    with contextlib.suppress(ImportError):
        _duckdb()


def _spark() -> None:
    from narwhals._spark_like.expr import SparkLikeExpr
    from narwhals._spark_like.expr_dt import SparkLikeExprDateTimeNamespace as Dt
    from narwhals._spark_like.expr_str import SparkLikeExprStringNamespace as Str

    def weekday(self: Any, expr: Any) -> Any:
        # dayofweek: Sunday 1 … Saturday 7; ISO: Monday 1 … Sunday 7.
        return (self.compliant._F.dayofweek(expr) + 5) % 7 + 1

    def total(unit: int) -> Any:
        def method(self: Any) -> Any:
            def call(expr: Any) -> Any:
                F = self.compliant._F
                # A day-time interval added to the epoch is exact (no calendar in it).
                micros = F.unix_micros(F.timestamp_micros(F.lit(0)) + expr)
                # Java's % keeps the dividend's sign: this truncates toward zero, as Polars.
                return ((micros - micros % unit) / unit).cast("long")

            return self.compliant._with_elementwise(call)

        return method

    def half_even(self: Any, decimals: int) -> Any:
        # Polars rounds the scaled binary value (35.005 is 35.00500000000000256: 35.01);
        # Spark's round and bround round its decimal text ("35.005": 35.0 with bround).
        scale = 10.0**decimals
        return self._with_elementwise(lambda expr: self._F.rint(expr * scale) / scale)

    def replace(self: Any, value: Any, pattern: str, *, literal: bool, n: int) -> Any:
        if n != 1:
            raise NotImplementedError("str.replace(n=...) on Spark: only the first match (n=1)")
        regex = _java_quoted(pattern) if literal else pattern

        def call(expr: Any, value: Any) -> Any:
            F = self.compliant._F
            at = F.regexp_instr(expr, F.lit(regex))  # 1-based; 0: no match
            match = F.regexp_extract(expr, regex, 0)
            # The match rewritten by itself: $1 and kin in the replacement still work.
            new = value if literal else F.regexp_replace(match, F.lit(regex), value)
            head = expr.substr(F.lit(1), at - 1)
            tail = expr.substr(at + F.length(match), F.lit(2**31 - 1))
            return F.when(at == 0, expr).otherwise(F.concat(head, new, tail))

        return self.compliant._with_elementwise(call, expression_args={"value": value})

    Str.replace = replace  # type: ignore[assignment]
    Dt._weekday = weekday  # type: ignore[method-assign]
    for name, unit in _MICROS.items():
        setattr(Dt, name, total(unit))
    SparkLikeExpr.round = half_even  # type: ignore[method-assign]


def _java_quoted(text: str) -> str:
    """``text`` as a Java regular expression matching itself."""
    return "\\Q" + text.replace("\\E", "\\E\\\\E\\Q") + "\\E"


def _duckdb() -> None:
    from narwhals._duckdb.expr import DuckDBExpr

    def round_even(self: Any, decimals: int) -> Any:
        # As on Spark: ties to even of the scaled binary value (DuckDB's round_even(x, n)
        # rounds 35.005 to 35.0, Polars to 35.01).
        scale = self._lit(10.0**decimals)
        return self._with_elementwise(
            lambda expr: self._function("round_even", expr * scale, self._lit(0)) / scale
        )

    DuckDBExpr.round = round_even  # type: ignore[method-assign]
