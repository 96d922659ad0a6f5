"""Chunked landing-file writers and the interleaver that places extra rows in a stream.

A writer owns one file series of one source (`<source>-NNNNN.<ext>` or
`<source>-updates-NNNNN.<ext>`) and starts a new file every `chunk_rows` data rows. Files
are opened in exclusive-create mode: the generator never overwrites landing data.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

Row = Any
"""A CSV row (a list of strings) or a JSON row (a tuple of values, or `Truncated`)."""


@dataclass(frozen=True, slots=True)
class Truncated:
    """A JSON row written as a truncated line: only the first `keep` share of its text."""

    values: tuple[Any, ...]
    keep: float


class RowCounter:
    """Rows written so far for one source, reported to the progress callback."""

    def __init__(self, source: str, progress: Callable[[str, int], None] | None) -> None:
        self.source = source
        self.rows = 0
        self._progress = progress

    def add(self, rows: int) -> None:
        self.rows += rows
        if self._progress is not None and rows:
            self._progress(self.source, self.rows)


class RotatingWriter:
    """Writes rows into numbered files of at most `chunk_rows` data rows each."""

    extension = ""

    def __init__(
        self, landing: Path, source: str, stem: str, chunk_rows: int, counter: RowCounter
    ) -> None:
        self.landing = landing
        self.folder = landing / source
        self.stem = stem
        self.chunk_rows = chunk_rows
        self.counter = counter
        self.files: list[str] = []
        self.rows = 0
        self._handle: IO[Any] | None = None
        self._in_file = 0

    @property
    def file_number(self) -> int:
        """1-based number of the file being written (0 before the first)."""
        return len(self.files)

    def write(self, rows: Sequence[Row]) -> None:
        done = 0
        while done < len(rows):
            if self._handle is None or self._in_file >= self.chunk_rows:
                self._roll()
            take = min(self.chunk_rows - self._in_file, len(rows) - done)
            self._write_rows(rows[done : done + take])
            self._in_file += take
            done += take
        self.rows += len(rows)
        self.counter.add(len(rows))

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _roll(self) -> None:
        self.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{self.stem}-{len(self.files) + 1:05d}.{self.extension}"
        self._handle = self._open(self.folder / name)
        self.files.append(f"{self.folder.name}/{name}")
        self._in_file = 0

    def _open(self, path: Path) -> IO[Any]:
        raise NotImplementedError

    def _write_rows(self, rows: Sequence[Row]) -> None:
        raise NotImplementedError


class CsvWriter(RotatingWriter):
    """CSV files with a header line; rows are lists of strings (malformed ones too)."""

    extension = "csv"

    def __init__(
        self,
        landing: Path,
        source: str,
        stem: str,
        chunk_rows: int,
        counter: RowCounter,
        columns: Sequence[str],
    ) -> None:
        super().__init__(landing, source, stem, chunk_rows, counter)
        self.columns = list(columns)
        self._csv: Any = None

    def _open(self, path: Path) -> IO[Any]:
        handle = path.open("x", encoding="utf-8", newline="")
        self._csv = csv.writer(handle, lineterminator="\n")
        self._csv.writerow(self.columns)
        return handle

    def _write_rows(self, rows: Sequence[Row]) -> None:
        self._csv.writerows(rows)


class JsonlWriter(RotatingWriter):
    """JSON-lines files; rows are value tuples in column order.

    `drift_column` is the extra column of schema drift: a row tuple may carry one more value
    than `columns`, written under `drift_column` in files numbered `drift_from` or later
    and dropped before that. `drift_from=0` writes it in every file; `drift_column=None`
    never writes it.
    """

    extension = "jsonl"

    def __init__(
        self,
        landing: Path,
        source: str,
        stem: str,
        chunk_rows: int,
        counter: RowCounter,
        columns: Sequence[str],
        drift_column: str | None = None,
        drift_from: int = 2,
    ) -> None:
        super().__init__(landing, source, stem, chunk_rows, counter)
        self.columns = tuple(columns)
        self.drift_column = drift_column
        self.drift_from = drift_from

    def _open(self, path: Path) -> IO[Any]:
        return path.open("xb")

    def _write_rows(self, rows: Sequence[Row]) -> None:
        columns = self.columns
        if self.drift_column is not None and self.file_number >= self.drift_from:
            columns = (*columns, self.drift_column)
        # One write per line: orjson returns every document in a 4 KiB buffer, so holding a
        # batch of them would cost 4 KiB per row.
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        assert self._handle is not None
        write = self._handle.write
        for row in rows:
            if type(row) is Truncated:
                text = dumps(dict(zip(columns, row.values, strict=False))).decode("utf-8")
                cut = min(len(text) - 1, max(1, int(len(text) * row.keep)))
                write(text[:cut].encode("utf-8") + b"\n")
            else:
                write(dumps(dict(zip(columns, row, strict=False)), option=newline))


class Interleaver:
    """Merges extra rows into an ordered stream of base rows at chosen positions.

    An extra at position `p` is written just before base row `p` of the batch; positions at
    or past the end of the batch are carried into the next batch (and so maybe into a later
    file). `drain` returns what is still carried after the last batch.
    """

    def __init__(self) -> None:
        self._carry: list[tuple[int, int, Row]] = []
        self._seq = 0

    def merge(self, base: list[Row], extras: Iterable[tuple[int, Row]]) -> list[Row]:
        items = self._carry
        for position, row in extras:
            items.append((max(0, position), self._seq, row))
            self._seq += 1
        size = len(base)
        items.sort(key=lambda item: (item[0], item[1]))
        now = [item for item in items if item[0] < size]
        self._carry = [(p - size, s, r) for p, s, r in items if p >= size]
        if not now:
            return base
        out: list[Row] = []
        last = 0
        for position, _, row in now:
            out.extend(base[last:position])
            out.append(row)
            last = position
        out.extend(base[last:])
        return out

    def drain(self) -> list[Row]:
        rows = [row for _, _, row in sorted(self._carry, key=lambda item: (item[0], item[1]))]
        self._carry = []
        return rows
