"""Reading landed files into bronze rows: CSV, JSON lines and Parquet, gzip, schema modes
and column hints.

Every declared column is read as text (or as its schema hint's type), so
bronze keeps each value as received. What happens to columns nobody declared
is the source's schema mode (Auto Loader's names): ``rescue`` keeps them as
JSON in ``_rescued_data`` (with hinted values that do not parse as their
type), ``addNewColumns`` adds them as text columns, ``failOnNewColumns``
refuses the file, ``none`` ignores them. A line that cannot be parsed keeps
its text in ``_rescued_data`` as ``{"_corrupt_record": ...}``, with null data
columns, in every mode. A file that cannot be read at all (bad gzip, bad
Parquet footer, undecodable bytes) is reported whole, with the reason, and
the other files of the batch are read as usual.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from shoplake.errors import ShoplakeError
from shoplake.names import (
    ADD_NEW_COLUMNS,
    CORRUPT_RECORD,
    CSV,
    FAIL_ON_NEW_COLUMNS,
    JSONL,
    PARQUET,
    RESCUE,
    RESCUED_DATA,
    SOURCE,
)
from shoplake.sources.listing import LandedFile

# A working column while a file is read: each row's line number, which becomes ``_source``.
_LINE = "_line"
POLARS_HINTS: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
}
"""``shoplake.names.HINT_TYPES`` as Polars dtypes."""


@dataclass(frozen=True)
class ReadSchema:
    """How a source's files become bronze columns."""

    columns: tuple[str, ...]
    mode: str = RESCUE
    hints: Mapping[str, str] = field(default_factory=dict)
    encoding: str = "utf-8"

    def dtype(self, column: str) -> pl.DataType:
        return POLARS_HINTS[self.hints.get(column, "string")]


@dataclass(frozen=True)
class ReadFile:
    """What reading one file gave: its rows, or why it was not read."""

    file: LandedFile
    sha256: str
    rows: int
    corrupt_lines: int
    status: str = "ingested"  # ingested | quarantined | failed | skipped | rejected
    reason: str = ""

    def record(self) -> dict[str, object]:
        return {
            "path": self.file.path,
            "size": self.file.size,
            "mtime_ns": self.file.mtime_ns,
            "sha256": self.sha256,
            "rows": self.rows,
            "status": self.status,
            "reason": self.reason,
        }


class NewColumns(ShoplakeError):
    """A file brought columns the source does not declare, under ``failOnNewColumns``."""


def _data(landing: Path, file: LandedFile) -> tuple[bytes, str]:
    if not isinstance(landing, Path):
        raw = landing.read(file)
    else:
        raw = Path(file.location or landing / file.path).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    return raw, digest


def _decode(path: str, raw: bytes) -> bytes:
    if path.endswith(".gz"):
        raw = gzip.decompress(raw)
    # Spreadsheet exports start with a UTF-8 byte-order mark; it is not data.
    return raw.removeprefix(b"\xef\xbb\xbf")


def _rescue(columns: Sequence[pl.Expr]) -> pl.Expr:
    if not columns:
        return pl.lit(None, dtype=pl.String)
    packed = pl.struct(list(columns)).struct.json_encode()
    any_value = pl.any_horizontal([c.is_not_null() for c in columns])
    return pl.when(any_value).then(packed).otherwise(None)


def _typed(column: str, kind: str) -> pl.Expr:
    """Text to the hinted type; a value that does not parse becomes null."""
    text = pl.col(column).cast(pl.String).str.strip_chars()
    if kind == "date":
        return text.str.to_date(strict=False)
    if kind == "datetime":
        return text.str.to_datetime(strict=False, time_unit="us", time_zone=None)
    if kind == "bool":
        lower = text.str.to_lowercase()
        return (
            pl.when(lower.is_in(["true", "1", "yes"]))
            .then(True)
            .when(lower.is_in(["false", "0", "no"]))
            .then(False)
            .otherwise(None)
        )
    return text.cast(POLARS_HINTS[kind], strict=False)


def _corrupt_rows(
    schema: ReadSchema, columns: Sequence[str], texts: list[str], lines: list[int]
) -> pl.DataFrame:
    data: dict[str, object] = {
        c: pl.Series(c, [None] * len(texts), schema.dtype(c)) for c in columns
    }
    data[RESCUED_DATA] = [orjson.dumps({CORRUPT_RECORD: t}).decode() for t in texts]
    data[_LINE] = pl.Series(_LINE, lines, pl.Int64)
    return pl.DataFrame(data)


def _shape(frame: pl.DataFrame, schema: ReadSchema, first_line: int) -> pl.DataFrame:
    """Declared columns (text or hinted type), the rest per the schema mode, a line number."""
    declared = schema.columns
    extra = [c for c in frame.columns if c not in declared and c != _LINE]
    if extra and schema.mode == FAIL_ON_NEW_COLUMNS:
        raise NewColumns(
            f"new column(s) {', '.join(extra)} not declared by the source (schema mode "
            "failOnNewColumns): declare them, or use schema mode addNewColumns or rescue"
        )
    kept = [*declared, *extra] if schema.mode == ADD_NEW_COLUMNS else list(declared)
    if _LINE not in frame.columns:
        frame = frame.with_row_index(_LINE, offset=first_line).with_columns(
            pl.col(_LINE).cast(pl.Int64)
        )
    present = [c for c in kept if c in frame.columns]
    frame = frame.with_columns(pl.col(c).cast(pl.String) for c in present)
    hinted = [c for c in present if schema.hints.get(c, "string") != "string"]
    typed = {c: _typed(c, schema.hints[c]) for c in hinted}
    rescued: list[pl.Expr] = []
    if schema.mode in (RESCUE, ADD_NEW_COLUMNS):
        if schema.mode == RESCUE:
            rescued += [pl.col(c) for c in extra]
        # A value that does not parse as its hinted type is kept here, not lost.
        rescued += [
            pl.when(pl.col(c).is_not_null() & typed[c].is_null()).then(pl.col(c)).alias(c)
            for c in hinted
        ]
    frame = frame.with_columns(_rescue(rescued).alias(RESCUED_DATA))
    selected = [
        (typed[c] if c in typed else pl.col(c)).alias(c)
        if c in frame.columns
        else pl.lit(None, schema.dtype(c)).alias(c)
        for c in kept
    ]
    return frame.select([*selected, pl.col(RESCUED_DATA), pl.col(_LINE)])


def _read_jsonl(raw: bytes, schema: ReadSchema) -> tuple[pl.DataFrame, int]:
    columns = schema.columns
    lines = raw.split(b"\n")
    declared = set(columns)
    good: list[bytes] = []
    good_lines: list[int] = []
    bad_text: list[str] = []
    bad_lines: list[int] = []
    extra_keys: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            bad_text.append(line.decode("utf-8", errors="replace"))
            bad_lines.append(number)
            continue
        keys = value.keys()
        if not keys <= declared and not keys - declared <= extra_keys:
            extra_keys |= keys - declared
        good.append(line)
        good_lines.append(number)
    text_schema = {c: pl.String for c in (*columns, *sorted(extra_keys))}
    if good:
        parsed = pl.read_ndjson(io.BytesIO(b"\n".join(good)), schema=text_schema)
    else:
        parsed = pl.DataFrame(schema=text_schema)
    parsed = parsed.with_columns(pl.Series(_LINE, good_lines, pl.Int64))
    shaped = _shape(parsed, schema, 1)
    if bad_text:
        corrupt = _corrupt_rows(schema, shaped.columns[:-2], bad_text, bad_lines)
        shaped = pl.concat([shaped, corrupt]).sort(_LINE)
    return shaped, len(bad_text)


def _read_csv(raw: bytes, schema: ReadSchema) -> tuple[pl.DataFrame, int]:
    # Text columns must be UTF-8, so bytes that are not make the whole file unreadable:
    # say so before the parser meets them inside a row it cannot even report.
    raw.decode("utf-8")
    header_end = raw.find(b"\n")
    header = raw[: header_end if header_end >= 0 else len(raw)].decode("utf-8").rstrip("\r")
    header_names = next(csv.reader([header]), [])
    bad: list[str] = []

    def keep_bad(row: pacsv.InvalidRow) -> str:
        bad.append(row.text)
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(raw),
        read_options=pacsv.ReadOptions(use_threads=True),
        parse_options=pacsv.ParseOptions(invalid_row_handler=keep_bad, newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in header_names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    blank_lines = b"\n\n" in raw or b"\n\r\n" in raw
    if not bad and not blank_lines:
        return _shape(frame, schema, 2), 0
    lines = _numbered_lines(raw)
    bad_lines = _locate(lines, bad)
    if blank_lines:  # the parser skips blank lines: number what it actually read
        candidates = lines.filter((pl.col("n") > 1) & (pl.col("text") != "")).get_column("n")
    else:
        candidates = pl.int_range(2, frame.height + len(bad) + 2, dtype=pl.Int64, eager=True)
    rejected = pl.Series(bad_lines, dtype=pl.Int64)
    good_lines = candidates.filter(~candidates.is_in(rejected.implode())).head(frame.height)
    frame = frame.with_columns(good_lines.alias(_LINE))
    if not bad:
        return _shape(frame, schema, 2), 0
    shaped = _shape(frame, schema, 2)
    corrupt = _corrupt_rows(schema, shaped.columns[:-2], bad, bad_lines)
    return pl.concat([shaped, corrupt]).sort(_LINE), len(bad)


def _numbered_lines(raw: bytes) -> pl.DataFrame:
    """Every line of a CSV file (``n`` from 1, ``text`` without a CRLF's ``\\r``), split
    by Polars rather than line by line in Python. The parser read the file as UTF-8."""
    text = pl.Series("text", [raw.decode("utf-8", errors="replace")])
    return (
        text.str.split("\n")
        .explode()
        .str.strip_chars_end("\r")
        .to_frame()
        .with_row_index("n", offset=1)
        .with_columns(pl.col("n").cast(pl.Int64))
    )


def _locate(lines: pl.DataFrame, texts: Sequence[str]) -> list[int]:
    """Line numbers of rejected CSV rows (the parser reports their text, not where they were).

    The parser works in parallel, so rows arrive in any order; a text that occurs
    several times takes its occurrences in order, -1 once they run out.
    """
    wanted = pl.DataFrame({"text": list(texts)}, schema={"text": pl.String})
    occurrence = pl.int_range(pl.len()).over("text").alias("occurrence")
    found = lines.filter(pl.col("text").is_in(wanted.get_column("text").unique().implode()))
    numbered = wanted.with_row_index("order").with_columns(occurrence).join(
        found.with_columns(occurrence), on=["text", "occurrence"], how="left"
    )
    return numbered.sort("order").get_column("n").fill_null(-1).to_list()


def _read_parquet(raw: bytes, schema: ReadSchema) -> tuple[pl.DataFrame, int]:
    return _shape(pl.read_parquet(io.BytesIO(raw)), schema, 1), 0


_READERS = {CSV: _read_csv, JSONL: _read_jsonl, PARQUET: _read_parquet}
# What a file that cannot be read at all raises: bad gzip (BadGzipFile, zlib.error, EOFError
# when truncated), a bad Parquet footer, bytes that are not UTF-8 in a CSV header.
_UNREADABLE = (
    csv.Error,  # a header the csv module cannot split (a bare carriage return in it)
    pl.exceptions.PolarsError,
    pa.ArrowInvalid,
    UnicodeDecodeError,
    OSError,
    EOFError,
    zlib.error,
)


def load(landing: Path, file: LandedFile) -> tuple[bytes, str]:
    """A file's bytes as stored and their SHA-256 (its content identity)."""
    return _data(landing, file)


def parse(
    file: LandedFile, raw: bytes, digest: str, fmt: str, schema: ReadSchema
) -> tuple[pl.DataFrame | None, ReadFile]:
    """One file's bronze rows, or None and the reason it was quarantined whole.

    Raises :class:`NewColumns` under ``failOnNewColumns``.
    """
    try:
        data = _decode(file.path, raw)
        if schema.encoding != "utf-8" and fmt != PARQUET:
            data = data.decode(schema.encoding).encode("utf-8")
        frame, corrupt = _READERS[fmt](data, schema)
    except _UNREADABLE as err:
        reason = f"cannot be read as {fmt}{' (gzip)' if file.path.endswith('.gz') else ''}: "
        reason += f"{type(err).__name__}: {err}"
        if schema.encoding == "utf-8" and "utf" in reason.lower():
            reason = reason[:380] + (
                " (not UTF-8: if the files use another encoding, declare it on the source, "
                'e.g. encoding="latin-1", then `shoplake reprocess` the batch)'
            )
        return None, ReadFile(file, digest, 0, 0, "quarantined", reason[:500])
    frame = frame.select(
        pl.exclude(_LINE),
        pl.format("{}:{}", pl.lit(file.path), pl.col(_LINE)).alias(SOURCE),
    )
    return frame, ReadFile(file, digest, frame.height, corrupt)


def read_one(
    landing: Path, file: LandedFile, fmt: str, schema: ReadSchema
) -> tuple[pl.DataFrame | None, ReadFile]:
    raw, digest = load(landing, file)
    return parse(file, raw, digest, fmt, schema)
