"""Engine-neutral cleaning expressions: canonical ids, every raw timestamp format, numbers.

Casts in Polars and DuckDB are strict, so each value is checked by pattern
(and, for dates, by calendar arithmetic) before it is converted: a value that
does not fit becomes null, and a rule downstream decides what that means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import narwhals as nw

RESCUED = "_rescued_data"
CORRUPT_PREFIX = '{"_corrupt_record"'

_ISO = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}Z?$"
_US = r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}$"
_EU = r"^\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}$"
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_US_DATE = r"^\d{2}/\d{2}/\d{4}$"
_EU_DATE = r"^\d{2}\.\d{2}\.\d{4}$"
_EPOCH = r"^\d{9,10}$"
_ANY_FORMAT = "|".join((_ISO, _US, _EU, _ISO_DATE, _US_DATE, _EU_DATE, _EPOCH))
_F_ISO, _F_US, _F_EU, _F_EPOCH = 1, 2, 3, 4


def well_formed() -> nw.Expr:
    """False for a bronze row that holds an unparseable line instead of data."""
    return nw.col(RESCUED).is_null() | ~nw.col(RESCUED).str.starts_with(CORRUPT_PREFIX)


def canonical_id(column: str, prefix: str, width: int) -> nw.Expr:
    """``C000123``, ``c-123`` and ``123`` all become ``C000123``; anything else becomes null."""
    raw = nw.col(column).str.strip_chars()
    fits = raw.str.contains(rf"^(?i:{prefix})?-?[0-9]{{1,{width}}}$")
    # For a value that fits, its digits are what follows the prefix and the dash
    # (stripping those is cheaper than replacing every non-digit).
    digits = raw.str.strip_chars_start(prefix.upper() + prefix.lower() + "-")
    return (
        nw.when(fits).then(nw.concat_str([nw.lit(prefix), digits.str.zfill(width)])).alias(column)
    )


def to_int(column: str) -> nw.Expr:
    raw = nw.col(column).str.strip_chars()
    return (
        nw.when(raw.str.contains(r"^-?\d+(\.0+)?$"))
        .then(raw.str.replace_all(r"\.0+$", ""))
        .cast(nw.Int64)
        .alias(column)
    )


def to_float(column: str) -> nw.Expr:
    raw = nw.col(column).str.strip_chars()
    return nw.when(raw.str.contains(r"^-?\d+(\.\d+)?$")).then(raw).cast(nw.Float64).alias(column)


def to_bool(column: str) -> nw.Expr:
    raw = nw.col(column).str.strip_chars().str.to_lowercase()
    return (
        nw.when(raw.is_in(["true", "1", "yes", "y"]))
        .then(nw.lit(True))
        .when(raw.is_in(["false", "0", "no", "n"]))
        .then(nw.lit(False))
        .alias(column)
    )


_TMP = "__ts"


class _Stage:
    """The helper columns of one timestamp column being parsed (``__ts<i>_<name>``)."""

    def __init__(self, index: int) -> None:
        self.prefix = f"{_TMP}{index}_"

    def name(self, part: str) -> str:
        return self.prefix + part

    def __call__(self, part: str) -> nw.Expr:
        return nw.col(self.prefix + part)


def with_timestamp(
    frame: nw.LazyFrame[Any], column: str, *, alias: str | None = None
) -> nw.LazyFrame[Any]:
    """:func:`with_timestamps` for one column."""
    return with_timestamps(frame, {column: alias or column})


def with_timestamps(frame: nw.LazyFrame[Any], columns: Mapping[str, str]) -> nw.LazyFrame[Any]:
    """Parse every timestamp format the feeds use into ``Datetime("us")``; impossible → null.

    ``columns`` maps each raw column to the name of its parsed value. Accepts
    ``2024-03-15T14:22:05`` (also with a space or a trailing ``Z``),
    ``03/15/2024 14:22:05``, ``15.03.2024 14:22``, epoch seconds, and the date-only
    forms ``2024-03-15``, ``03/15/2024``, ``15.03.2024`` (midnight). The work is
    staged through helper columns: one nested expression would repeat each part
    many times over and make query planning explode. All columns go through the
    stages together, so a table with three timestamps plans 15 steps, not 45 (each
    step is a plan analysis on Spark; on Polars a step's columns run in parallel).
    """
    stages = [(_Stage(i), raw, alias) for i, (raw, alias) in enumerate(columns.items())]

    def each(build: Any) -> list[nw.Expr]:
        return [e for stage, raw, alias in stages for e in build(stage, raw, alias)]

    def start(t: _Stage, raw: str, _: str) -> list[nw.Expr]:
        text = nw.col(raw).cast(nw.String).str.strip_chars()
        return [nw.when(text.str.contains(_ANY_FORMAT)).then(text).alias(t.name("raw"))]

    def shape(t: _Stage, _: str, __: str) -> list[nw.Expr]:
        text = t("raw")
        sep2, sep4 = text.str.slice(2, 1), text.str.slice(4, 1)
        fmt = (
            nw.when(sep4 == "-")
            .then(nw.lit(_F_ISO))
            .when(sep2 == "/")
            .then(nw.lit(_F_US))
            .when(sep2 == ".")
            .then(nw.lit(_F_EU))
            .when(~text.is_null())
            .then(nw.lit(_F_EPOCH))
        )
        return [fmt.alias(t.name("fmt")), text.str.len_chars().alias(t.name("len"))]

    def fields(t: _Stage, _: str, __: str) -> list[nw.Expr]:
        text, fmt, long = t("raw"), t("fmt"), t("len") > 10

        def field(iso: tuple[int, int], us: tuple[int, int], eu: tuple[int, int]) -> nw.Expr:
            return (
                nw.when(fmt == _F_ISO)
                .then(text.str.slice(*iso))
                .when(fmt == _F_US)
                .then(text.str.slice(*us))
                .when(fmt == _F_EU)
                .then(text.str.slice(*eu))
                .cast(nw.Int64)
            )

        def clock(offset: int, eu_offset: int | None) -> nw.Expr:
            eu = text.str.slice(eu_offset, 2) if eu_offset is not None else nw.lit("0")
            return (
                nw.when(~long & (fmt != _F_EPOCH))
                .then(nw.lit("0"))
                .when(fmt == _F_EU)
                .then(eu)
                .when(long)
                .then(text.str.slice(offset, 2))
                .cast(nw.Int64)
            )

        return [
            field((0, 4), (6, 4), (6, 4)).alias(t.name("y")),
            field((5, 2), (0, 2), (3, 2)).alias(t.name("mo")),
            field((8, 2), (3, 2), (0, 2)).alias(t.name("d")),
            clock(11, 11).alias(t.name("h")),
            clock(14, 14).alias(t.name("mi")),
            clock(17, None).alias(t.name("s")),
            nw.when(fmt == _F_EPOCH).then(text).cast(nw.Int64).alias(t.name("epoch")),
        ]

    frame = frame.with_columns(each(start))
    frame = frame.with_columns(each(shape))
    frame = frame.with_columns(each(fields))
    for step in _CIVIL_FROM_EPOCH:
        frame = frame.with_columns(each(lambda t, _, __, step=step: step(t)))
    parts = (("y", "ey"), ("mo", "em"), ("d", "ed"), ("h", "eh"), ("mi", "emi"), ("s", "es"))
    frame = frame.with_columns(
        each(lambda t, _, __: [nw.coalesce(t(a), t(b)).alias(t.name(a)) for a, b in parts])
    )

    def valid(t: _Stage, _: str, __: str) -> list[nw.Expr]:
        year, month, day = t("y"), t("mo"), t("d")
        leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
        month_days = (
            nw.when(month.is_in([4, 6, 9, 11]))
            .then(30)
            .when(month == 2)
            .then(nw.when(leap).then(29).otherwise(28))
            .otherwise(31)
        )
        ok = (
            (year >= 1000)
            & (month >= 1)
            & (month <= 12)
            & (day >= 1)
            & (day <= month_days)
            & (t("h") < 24)
            & (t("mi") < 60)
            & (t("s") < 60)
        )
        return [ok.alias(t.name("ok"))]

    def parsed(t: _Stage, _: str, alias: str) -> list[nw.Expr]:
        def two(part: str) -> nw.Expr:
            return t(part).cast(nw.String).str.zfill(2)

        text = nw.concat_str(
            [
                t("y").cast(nw.String),
                nw.lit("-"),
                two("mo"),
                nw.lit("-"),
                two("d"),
                nw.lit(" "),
                two("h"),
                nw.lit(":"),
                two("mi"),
                nw.lit(":"),
                two("s"),
            ]
        )
        value = nw.when(t("ok")).then(text).str.to_datetime("%Y-%m-%d %H:%M:%S")
        return [value.cast(nw.Datetime("us")).alias(alias)]

    frame = frame.with_columns(each(valid))
    temporary = [c for c in frame.collect_schema().names() if c.startswith(_TMP)]
    return frame.with_columns(each(parsed)).drop(temporary)


def _civil_steps() -> list[Any]:
    """Calendar fields of epoch seconds, by H. Hinnant's days-to-civil algorithm: one
    list of helper-column expressions per stage."""

    def days(t: _Stage) -> list[nw.Expr]:
        seconds = t("epoch")
        return [(seconds // 86400).alias(t.name("days")), (seconds % 86400).alias(t.name("rest"))]

    def era(t: _Stage) -> list[nw.Expr]:
        return [((t("days") + 719468) // 146097).alias(t.name("era"))]

    def day_of_era(t: _Stage) -> list[nw.Expr]:
        return [(t("days") + 719468 - t("era") * 146097).alias(t.name("doe"))]

    def year_of_era(t: _Stage) -> list[nw.Expr]:
        doe = t("doe")
        return [((doe - doe // 1460 + doe // 36524 - doe // 146096) // 365).alias(t.name("yoe"))]

    def day_of_year(t: _Stage) -> list[nw.Expr]:
        yoe = t("yoe")
        return [(t("doe") - (365 * yoe + yoe // 4 - yoe // 100)).alias(t.name("doy"))]

    def month_index(t: _Stage) -> list[nw.Expr]:
        return [((5 * t("doy") + 2) // 153).alias(t.name("mp"))]

    def civil(t: _Stage) -> list[nw.Expr]:
        mp = t("mp")
        return [
            (t("doy") - (153 * mp + 2) // 5 + 1).alias(t.name("ed")),
            nw.when(mp < 10).then(mp + 3).otherwise(mp - 9).alias(t.name("em")),
            (t("rest") // 3600).alias(t.name("eh")),
            ((t("rest") % 3600) // 60).alias(t.name("emi")),
            (t("rest") % 60).alias(t.name("es")),
        ]

    def year(t: _Stage) -> list[nw.Expr]:
        later = nw.when(t("em") <= 2).then(1).otherwise(0)
        return [(t("yoe") + t("era") * 400 + later).alias(t.name("ey"))]

    return [days, era, day_of_era, year_of_era, day_of_year, month_index, civil, year]


_CIVIL_FROM_EPOCH = _civil_steps()


def valid_email(column: str) -> nw.Expr:
    """The address, trimmed and lower-cased, or null when it is not a plausible address."""
    value = nw.col(column).str.strip_chars().str.to_lowercase()
    plausible = value.str.contains(r"^[a-z0-9._%+\-]+@[a-z0-9\-]+(\.[a-z0-9\-]+)*\.[a-z]{2,}$")
    return nw.when(plausible).then(value).alias(column)


def valid_phone(column: str) -> nw.Expr:
    """The number as written when it holds 7–15 digits and only phone punctuation, else null."""
    value = nw.col(column).str.strip_chars()
    digits = value.str.replace_all(r"[^0-9]", "")
    plausible = (
        value.str.contains(r"^\+?[0-9 ()\-.x]+$")
        & (digits.str.len_chars() >= 7)
        & (digits.str.len_chars() <= 15)
    )
    return nw.when(plausible).then(value).alias(column)
