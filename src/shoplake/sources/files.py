"""The landing-folder source: finds new files of a source and reads them into bronze rows.

Every declared column is read as text, so bronze keeps each value as received.
Columns nobody declared are kept as JSON in ``_rescued_data``; a line that
cannot be parsed keeps its text there as ``{"_corrupt_record": ...}``, with
null data columns, so nothing is lost and silver decides what to do with it.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import narwhals as nw
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from shoplake.errors import ShoplakeError

SUFFIXES = {"csv": (".csv",), "jsonl": (".jsonl", ".json", ".ndjson"), "parquet": (".parquet",)}
RESCUED = "_rescued_data"
CORRUPT = "_corrupt_record"


@dataclass(frozen=True)
class LandedFile:
    """A file in the landing folder, named relative to the landing root."""

    path: str
    size: int
    mtime_ns: int

    @property
    def stat_key(self) -> tuple[str, int, int]:
        return (self.path, self.size, self.mtime_ns)


@dataclass(frozen=True)
class ReadFile:
    file: LandedFile
    sha256: str
    rows: int
    corrupt_lines: int

    def record(self) -> dict[str, object]:
        return {
            "path": self.file.path,
            "size": self.file.size,
            "mtime_ns": self.file.mtime_ns,
            "sha256": self.sha256,
            "rows": self.rows,
        }


def discover(landing: Path, source: str, fmt: str) -> list[LandedFile]:
    """Files of ``source`` under ``landing/<source>/``, oldest name first.

    Only regular files inside the landing root are returned: symlinks and
    hidden files are skipped, so a name can never lead outside the root.
    """
    folder = landing / source
    if not folder.is_dir():
        return []
    suffixes = SUFFIXES[fmt]
    found: list[LandedFile] = []
    for path in sorted(folder.rglob("*")):
        name = path.name
        if path.is_symlink() or not path.is_file() or name.startswith((".", "_")):
            continue
        base = name[:-3] if name.endswith(".gz") else name
        if not base.endswith(suffixes):
            continue
        stat = path.stat()
        found.append(
            LandedFile(path.relative_to(landing).as_posix(), stat.st_size, stat.st_mtime_ns)
        )
    return found


def _data(landing: Path, file: LandedFile) -> tuple[bytes, str]:
    raw = (landing / file.path).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if file.path.endswith(".gz"):
        raw = gzip.decompress(raw)
    # Spreadsheet exports start with a UTF-8 byte-order mark; it is not data.
    return raw.removeprefix(b"\xef\xbb\xbf"), digest


def _rescue(frame: pl.DataFrame, extra: Sequence[str]) -> pl.Expr:
    if not extra:
        return pl.lit(None, dtype=pl.String)
    packed = pl.struct([pl.col(c).cast(pl.String) for c in extra]).struct.json_encode()
    any_value = pl.any_horizontal([pl.col(c).is_not_null() for c in extra])
    return pl.when(any_value).then(packed).otherwise(None)


def _corrupt_rows(columns: Sequence[str], texts: list[str], lines: list[int]) -> pl.DataFrame:
    data: dict[str, object] = {c: pl.Series(c, [None] * len(texts), pl.String) for c in columns}
    data[RESCUED] = [orjson.dumps({CORRUPT: t}).decode() for t in texts]
    data["_line"] = pl.Series("_line", lines, pl.Int64)
    return pl.DataFrame(data)


def _shape(frame: pl.DataFrame, columns: Sequence[str], first_line: int) -> pl.DataFrame:
    """Declared columns as text, undeclared ones rescued, a line number per row."""
    extra = [c for c in frame.columns if c not in columns and c != "_line"]
    frame = frame.with_columns(_rescue(frame, extra).alias(RESCUED))
    if "_line" not in frame.columns:
        frame = frame.with_row_index("_line", offset=first_line).with_columns(
            pl.col("_line").cast(pl.Int64)
        )
    selected = [
        pl.col(c).cast(pl.String) if c in frame.columns else pl.lit(None, pl.String).alias(c)
        for c in columns
    ]
    return frame.select([*selected, pl.col(RESCUED), pl.col("_line")])


def _read_jsonl(raw: bytes, columns: Sequence[str]) -> tuple[pl.DataFrame, int]:
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
    schema = {c: pl.String for c in (*columns, *sorted(extra_keys))}
    if good:
        parsed = pl.read_ndjson(io.BytesIO(b"\n".join(good)), schema=schema)
    else:
        parsed = pl.DataFrame(schema=schema)
    parsed = parsed.with_columns(pl.Series("_line", good_lines, pl.Int64))
    shaped = _shape(parsed, columns, 1)
    if bad_text:
        shaped = pl.concat([shaped, _corrupt_rows(columns, bad_text, bad_lines)]).sort("_line")
    return shaped, len(bad_text)


def _read_csv(raw: bytes, columns: Sequence[str]) -> tuple[pl.DataFrame, int]:
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
        return _shape(frame, columns, 2), 0
    bad_lines = _locate(raw, bad)
    bad_set = set(bad_lines)
    if blank_lines:  # the parser skips blank lines: number what it actually read
        candidates = [
            n for n, line in enumerate(raw.split(b"\n"), start=1) if n > 1 and line.strip(b"\r")
        ]
    else:
        candidates = list(range(2, frame.height + len(bad) + 2))
    good_lines = [n for n in candidates if n not in bad_set][: frame.height]
    frame = frame.with_columns(pl.Series("_line", good_lines, pl.Int64))
    if not bad:
        return _shape(frame, columns, 2), 0
    shaped = _shape(frame, columns, 2)
    return pl.concat([shaped, _corrupt_rows(columns, bad, bad_lines)]).sort("_line"), len(bad)


def _locate(raw: bytes, texts: Sequence[str]) -> list[int]:
    """Line numbers of rejected CSV rows (the parser reports their text, not where they were).

    The parser works in parallel, so rows arrive in any order; one pass over
    the lines finds each text, repeated texts taking successive occurrences.
    """
    wanted = {t.encode("utf-8") for t in texts}
    found: dict[bytes, list[int]] = {}
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if line in wanted or line.rstrip(b"\r") in wanted:
            found.setdefault(line.rstrip(b"\r"), []).append(number)
    numbers: list[int] = []
    for text in texts:
        hits = found.get(text.encode("utf-8"))
        numbers.append(hits.pop(0) if hits else -1)
    return numbers


def _read_parquet(raw: bytes, columns: Sequence[str]) -> tuple[pl.DataFrame, int]:
    return _shape(pl.read_parquet(io.BytesIO(raw)), columns, 1), 0


_READERS = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}


class UnreadableFile(ShoplakeError):
    """A landing file could not be read at all (bad gzip, bad Parquet footer, …)."""


def read_files(
    landing: Path,
    files: Sequence[LandedFile],
    *,
    fmt: str,
    columns: Sequence[str],
    batch_id: str,
    ingested_at: datetime,
) -> tuple[nw.DataFrame[pl.DataFrame], list[ReadFile]]:
    """Read ``files`` into one bronze frame with provenance columns."""
    frames: list[pl.DataFrame] = []
    read: list[ReadFile] = []
    for file in files:
        raw, digest = _data(landing, file)
        try:
            frame, corrupt = _READERS[fmt](raw, columns)
        except (pl.exceptions.PolarsError, pa.ArrowInvalid, UnicodeDecodeError, OSError) as err:
            raise UnreadableFile(f"{file.path}: cannot be read as {fmt}: {err}") from err
        frames.append(
            frame.select(
                pl.exclude("_line"),
                pl.format("{}:{}", pl.lit(file.path), pl.col("_line")).alias("_source"),
            )
        )
        read.append(ReadFile(file, digest, frame.height, corrupt))
    schema = {c: pl.String for c in (*columns, RESCUED, "_source")}
    combined = pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=schema)
    combined = combined.with_columns(
        pl.lit(ingested_at, dtype=pl.Datetime("us")).alias("_ingested_at"),
        pl.lit(batch_id, dtype=pl.String).alias("_batch_id"),
    )
    return nw.from_native(combined, eager_only=True), read
