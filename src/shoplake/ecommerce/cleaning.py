"""Engine-neutral cleaning expressions: canonical ids, every raw timestamp format, numbers.

Casts in Polars and DuckDB are strict, so each value is checked by pattern
(and, for dates, by calendar arithmetic) before it is converted: a value that
does not fit becomes null, and a rule downstream decides what that means.
"""

from __future__ import annotations

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


def _part(raw: nw.Expr, pattern: str, offset: int, length: int) -> nw.Expr:
    return nw.when(raw.str.contains(pattern)).then(raw.str.slice(offset, length))


def _pick(*parts: nw.Expr) -> nw.Expr:
    return nw.coalesce(*parts).cast(nw.Int64)


def _two(name: str) -> nw.Expr:
    return nw.col(name).cast(nw.String).str.zfill(2)


_TMP = "__ts_"


def _t(name: str) -> nw.Expr:
    return nw.col(_TMP + name)


def with_timestamp(
    frame: nw.LazyFrame[Any], column: str, *, alias: str | None = None
) -> nw.LazyFrame[Any]:
    """Parse every timestamp format the feeds use into ``Datetime("us")``; impossible → null.

    Accepts ``2024-03-15T14:22:05`` (also with a space or a trailing ``Z``),
    ``03/15/2024 14:22:05``, ``15.03.2024 14:22``, epoch seconds, and the date-only
    forms ``2024-03-15``, ``03/15/2024``, ``15.03.2024`` (midnight). The work is
    staged through helper columns: one nested expression would repeat each part
    many times over and make query planning explode.
    """
    raw = nw.col(column).cast(nw.String).str.strip_chars()
    frame = frame.with_columns(nw.when(raw.str.contains(_ANY_FORMAT)).then(raw).alias(_TMP + "raw"))
    text = _t("raw")
    sep2, sep4 = text.str.slice(2, 1), text.str.slice(4, 1)
    frame = frame.with_columns(
        nw.when(sep4 == "-")
        .then(nw.lit(_F_ISO))
        .when(sep2 == "/")
        .then(nw.lit(_F_US))
        .when(sep2 == ".")
        .then(nw.lit(_F_EU))
        .when(~text.is_null())
        .then(nw.lit(_F_EPOCH))
        .alias(_TMP + "fmt"),
        text.str.len_chars().alias(_TMP + "len"),
    )
    fmt, long = _t("fmt"), _t("len") > 10

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

    frame = frame.with_columns(
        field((0, 4), (6, 4), (6, 4)).alias(_TMP + "y"),
        field((5, 2), (0, 2), (3, 2)).alias(_TMP + "mo"),
        field((8, 2), (3, 2), (0, 2)).alias(_TMP + "d"),
        clock(11, 11).alias(_TMP + "h"),
        clock(14, 14).alias(_TMP + "mi"),
        clock(17, None).alias(_TMP + "s"),
        nw.when(fmt == _F_EPOCH).then(text).cast(nw.Int64).alias(_TMP + "epoch"),
    )
    frame = _with_civil_from_epoch(frame)
    frame = frame.with_columns(
        nw.coalesce(_t("y"), _t("ey")).alias(_TMP + "y"),
        nw.coalesce(_t("mo"), _t("em")).alias(_TMP + "mo"),
        nw.coalesce(_t("d"), _t("ed")).alias(_TMP + "d"),
        nw.coalesce(_t("h"), _t("eh")).alias(_TMP + "h"),
        nw.coalesce(_t("mi"), _t("emi")).alias(_TMP + "mi"),
        nw.coalesce(_t("s"), _t("es")).alias(_TMP + "s"),
    )
    year, month, day = _t("y"), _t("mo"), _t("d")
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = (
        nw.when(month.is_in([4, 6, 9, 11]))
        .then(30)
        .when(month == 2)
        .then(nw.when(leap).then(29).otherwise(28))
        .otherwise(31)
    )
    frame = frame.with_columns(
        (
            (year >= 1000)
            & (month >= 1)
            & (month <= 12)
            & (day >= 1)
            & (day <= month_days)
            & (_t("h") < 24)
            & (_t("mi") < 60)
            & (_t("s") < 60)
        ).alias(_TMP + "ok")
    )
    text = nw.concat_str(
        [
            year.cast(nw.String),
            nw.lit("-"),
            _two(_TMP + "mo"),
            nw.lit("-"),
            _two(_TMP + "d"),
            nw.lit(" "),
            _two(_TMP + "h"),
            nw.lit(":"),
            _two(_TMP + "mi"),
            nw.lit(":"),
            _two(_TMP + "s"),
        ]
    )
    parsed = nw.when(_t("ok")).then(text).str.to_datetime("%Y-%m-%d %H:%M:%S")
    temporary = [c for c in frame.collect_schema().names() if c.startswith(_TMP)]
    return frame.with_columns(parsed.cast(nw.Datetime("us")).alias(alias or column)).drop(temporary)


def _with_civil_from_epoch(frame: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """Calendar fields of epoch seconds, by H. Hinnant's days-to-civil algorithm."""
    seconds = _t("epoch")
    frame = frame.with_columns(
        (seconds // 86400).alias(_TMP + "days"), (seconds % 86400).alias(_TMP + "rest")
    )
    frame = frame.with_columns((_t("days") + 719468).alias(_TMP + "z"))
    frame = frame.with_columns((_t("z") // 146097).alias(_TMP + "era"))
    frame = frame.with_columns((_t("z") - _t("era") * 146097).alias(_TMP + "doe"))
    doe = _t("doe")
    frame = frame.with_columns(
        ((doe - doe // 1460 + doe // 36524 - doe // 146096) // 365).alias(_TMP + "yoe")
    )
    yoe = _t("yoe")
    frame = frame.with_columns((doe - (365 * yoe + yoe // 4 - yoe // 100)).alias(_TMP + "doy"))
    frame = frame.with_columns(((5 * _t("doy") + 2) // 153).alias(_TMP + "mp"))
    mp = _t("mp")
    frame = frame.with_columns(
        (_t("doy") - (153 * mp + 2) // 5 + 1).alias(_TMP + "ed"),
        nw.when(mp < 10).then(mp + 3).otherwise(mp - 9).alias(_TMP + "em"),
        (_t("rest") // 3600).alias(_TMP + "eh"),
        ((_t("rest") % 3600) // 60).alias(_TMP + "emi"),
        (_t("rest") % 60).alias(_TMP + "es"),
    )
    return frame.with_columns(
        (yoe + _t("era") * 400 + nw.when(_t("em") <= 2).then(1).otherwise(0)).alias(_TMP + "ey")
    )


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
