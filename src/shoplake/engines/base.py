"""The engine seam: what the framework needs from a DataFrame library and its storage.

The runner only talks to this interface; transformations only see narwhals
frames. One module per engine implements it (``engines/polars_delta.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import narwhals as nw

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class TableInfo:
    ref: str
    version: int
    rows: int
    files: int
    last_modified: datetime | None


@dataclass(frozen=True)
class MaintenanceResult:
    """What one maintenance step did to a table (files counted, not rows: rows never change)."""

    operation: str
    files_removed: int = 0
    files_added: int = 0
    version: int | None = None


@dataclass(frozen=True)
class WriteResult:
    version: int
    rows_inserted: int
    rows_updated: int = 0


@dataclass(frozen=True)
class TableMetadata:
    """A table's catalog entry as Delta stores it: the description (Delta metadata),
    properties (owner, tags) and per-column metadata (comment, PII class)."""

    description: str
    properties: Mapping[str, str]
    columns: Mapping[str, Mapping[str, str]]


Rows = nw.DataFrame[Any] | nw.LazyFrame[Any]
"""What a write takes: a flow's rows as the engine's lazy plan (or, from a caller that
made them here, a frame)."""

DELETE = "__shoplake_delete"
"""The boolean column a change feed carries to mark a change as a delete."""


@dataclass(frozen=True)
class CdcSpec:
    """What the engine needs to know about a change feed (see ``ApplyChanges``)."""

    keys: tuple[str, ...]
    sequence_by: str
    scd_type: int
    track: tuple[str, ...] | None
    track_except: tuple[str, ...]
    ignore_null_updates: bool
    snapshot: bool
    missing_as_delete: bool
    buckets: int
    valid_from: str
    valid_to: str
    is_current: str
    surrogate_key: str

    @property
    def history_columns(self) -> tuple[str, ...]:
        if self.scd_type == 1:
            return ()
        return (self.valid_from, self.valid_to, self.is_current, self.surrogate_key)

    def values(self, columns: Sequence[str]) -> list[str]:
        """The data columns other than the keys (the sequence column included)."""
        return [c for c in columns if c not in self.keys and c != DELETE]

    def tracked(self, columns: Sequence[str]) -> list[str]:
        values = [c for c in self.values(columns) if c != self.sequence_by]
        if self.track is not None:
            missing = [c for c in self.track if c not in values]
            if missing:
                raise ValueError(
                    f"track names {missing}, which the changes do not have; they have: "
                    f"{', '.join(values)}"
                )
            return list(self.track)
        # Lineage columns (``_source``, ``_batch_id``...) differ on every row: never tracked.
        return [c for c in values if c not in self.track_except and not c.startswith("_")]


@dataclass(frozen=True)
class ChangesResult:
    """What applying one batch of changes did."""

    version: int
    changes: int  # distinct (key, sequence) changes in the batch
    rows_inserted: int
    rows_updated: int
    rows_deleted: int
    opened: int  # versions (type 2) or keys (type 1) added, net
    deleted_keys: int  # keys newly closed by a delete
    files_rewritten: int = 0
    rows_rewritten: int = 0


class Engine(Protocol):
    """Storage and execution for one DataFrame library. Refs are ``layer.name``."""

    name: str
    lake: str

    def uri(self, ref: str) -> str: ...

    def pinned_snapshots(self) -> AbstractContextManager[None]:
        """Entered while the caller holds the lake's lock, or only reads and wants one
        consistent view: the engine may then trust what it has read of a table until it
        commits to that table itself."""
        ...

    def refresh(self) -> None:
        """Forget what pinned snapshots trust: every table's log is read up to date on its
        next use (after a commit lost to another writer)."""

    def commit_conflict(self, ref: str, err: BaseException) -> str | None:
        """When ``err`` is a commit another writer of ``ref`` won: that table's newest
        commit in one line (who wrote it, in which run); None for any other error."""

    def version(self, ref: str) -> int | None:
        """The table's latest Delta version, or None if it does not exist."""

    def consumed(self, ref: str, app_id: str) -> int | None:
        """The version recorded for ``app_id`` by the table's commits (an app transaction)."""

    def commit_metadata(self, ref: str, key: str) -> list[str]:
        """Every value of custom commit metadata ``key`` over the table's history."""

    def commit_metadata_since(self, ref: str, key: str, after: int) -> list[tuple[int, str]]:
        """``(version, value)`` of metadata ``key`` for the commits after ``after``, oldest
        first."""

    def read(self, ref: str, version: int | None = None) -> nw.LazyFrame[Any]:
        """The table's rows at ``version`` (default: latest)."""

    def row_count(self, ref: str, version: int, after: int | None = None) -> int | None:
        """How many rows the table holds at ``version`` (or, with ``after``, how many the
        commits in (after, version] appended), from the Delta log's file statistics:
        no data is read. None when the log cannot tell (files without statistics)."""

    def arrow_dataset(self, ref: str) -> object:
        """The table's latest version as an Arrow dataset (``pyarrow.dataset.Dataset``) that
        a SQL engine such as DuckDB scans lazily, reading only the files and columns a
        query needs. Raises when the table does not exist."""

    def read_appended(self, ref: str, after: int, until: int) -> nw.LazyFrame[Any] | None:
        """Rows appended in versions (after, until], or None when a commit in that range
        did more than append (the caller must then read in full)."""

    def empty(self, schema: Mapping[str, nw.dtypes.DType]) -> nw.LazyFrame[Any]:
        """A frame with no rows and ``schema`` (narwhals dtypes)."""

    def frame(self, data: Mapping[str, Sequence[object]]) -> nw.DataFrame[Any]: ...

    def collect(self, frame: nw.LazyFrame[Any]) -> nw.DataFrame[Any]:
        """The frame's rows, here. The core collects only aggregates and samples (a few
        rows): a flow's rows stay in the engine's plan until the engine writes them."""

    def persist(self, frame: nw.LazyFrame[Any]) -> AbstractContextManager[nw.LazyFrame[Any]]:
        """``frame`` computed once for the block, where it is read more than once (the
        rules' counts, then the kept and the quarantined rows): a materialised frame, or
        a cluster's cached plan; released at the end of the block."""
        ...

    def with_json(
        self, frame: nw.LazyFrame[Any], columns: Sequence[str], alias: str
    ) -> nw.LazyFrame[Any]:
        """``frame`` plus ``alias``: each row's ``columns`` as one JSON object, computed by
        the engine (quarantine keeps raw rows so). Every engine writes the same text:
        nulls kept, timestamps as ``2026-01-02 03:04:05.123``."""
        ...

    def distributes(self, size: int) -> bool:
        """Whether work on ``size`` bytes of input is better run by :meth:`distribute`
        (a cluster's executors) than on this machine."""

    def distribute(
        self,
        tasks: Sequence[str],
        work: Callable[[str], tuple[pa.Table | None, str]],
        schema: pa.Schema,
    ) -> tuple[nw.LazyFrame[Any], list[str]]:
        """Runs ``work`` on each task (a JSON string) where the engine's executors are:
        the rows every task gave (``schema``), left there as a lazy frame that
        :meth:`append` / :meth:`overwrite` accept, and each task's report."""

    def append(
        self,
        ref: str,
        frame: nw.DataFrame[Any] | nw.LazyFrame[Any],
        *,
        partition_by: Sequence[str] = (),
        transactions: Mapping[str, int] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> WriteResult: ...

    def overwrite(
        self,
        ref: str,
        frame: nw.DataFrame[Any] | nw.LazyFrame[Any],
        *,
        partition_by: Sequence[str] = (),
        transactions: Mapping[str, int] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> WriteResult: ...

    def upsert(
        self,
        ref: str,
        frame: Rows,
        *,
        keys: Sequence[str],
        sequence_by: str | None,
        transactions: Mapping[str, int] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> WriteResult:
        """Merge ``frame`` (unique on ``keys``) into the table: insert new keys, replace
        a key's row when the incoming ``sequence_by`` is newer."""

    def read_changes(self, ref: str, after: int, until: int) -> nw.LazyFrame[Any] | None:
        """Every row of the data files added or removed by commits in (after, until]:
        a superset of the rows that changed, with both their old and new images.
        None when that cannot be known (files vacuumed, a partitioned table): the
        caller must then treat the whole table as changed."""

    def replace_partitions(
        self,
        ref: str,
        frame: Rows,
        keys: nw.DataFrame[Any],
        *,
        partition_by: Sequence[str],
        transactions: Mapping[str, int] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> WriteResult:
        """Atomically replace the partitions named by the rows of ``keys`` (columns
        ``partition_by``) with ``frame``, in one commit (Delta replaceWhere)."""

    def replace_rows(
        self,
        ref: str,
        frame: Rows,
        keys: nw.DataFrame[Any],
        *,
        partition_by: Sequence[str],
        match_on: Sequence[str] | None = None,
        transactions: Mapping[str, int] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> WriteResult:
        """Atomically make the rows whose ``partition_by`` values are in ``keys`` exactly
        ``frame`` (update, insert, delete the rest of those keys), in one commit. Rows are
        matched on ``match_on`` (default ``partition_by``: one row per key)."""

    def compact(self, ref: str) -> MaintenanceResult:
        """Rewrite small files into larger ones (same rows, one commit)."""

    def zorder(self, ref: str, columns: Sequence[str]) -> MaintenanceResult:
        """Rewrite the files clustered along ``columns`` (same rows, one commit)."""

    def vacuum(self, ref: str, retention_hours: int, *, force: bool = False) -> MaintenanceResult:
        """Delete files no version younger than ``retention_hours`` references."""

    def checkpoint(self, ref: str) -> MaintenanceResult:
        """Write a Delta log checkpoint and clean up expired log files."""

    def history(self, ref: str, limit: int | None = None) -> list[dict[str, object]]:
        """The table's commits, newest first (Delta commit info)."""

    def apply_changes(
        self,
        ref: str,
        frame: Rows,
        *,
        spec: CdcSpec,
        full: bool,
        transactions: Mapping[str, int] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> ChangesResult:
        """Apply a batch of changes (data columns plus a boolean ``DELETE`` column, no null
        sequence) as SCD history, touching only the affected keys, in one commit that also
        records ``transactions``. ``full`` rebuilds the table from this batch alone."""

    def info(self, ref: str) -> TableInfo | None: ...

    def declare_metadata(self, ref: str, metadata: TableMetadata) -> None:
        """Remember ``metadata`` for ``ref``: the commit that creates the table (or replaces
        its schema) carries the description and the column metadata."""

    def update_metadata(self, ref: str, metadata: TableMetadata) -> int:
        """Bring an existing table's stored metadata up to ``metadata`` with metadata-only
        commits (no data file rewritten); the number of commits made, 0 when it matched."""

    def metadata(self, ref: str) -> TableMetadata | None:
        """The table's stored metadata, or None when it does not exist."""

    def lineage_probe(
        self,
        schema: Mapping[str, nw.dtypes.DType],
        seen: Callable[[Sequence[str] | None], None],
    ) -> nw.LazyFrame[Any] | None:
        """An empty frame with ``schema`` that calls ``seen`` with the columns a query over
        it reads (None: every column), or None when the engine cannot tell."""

    def explain_error(self, ref: str, err: BaseException) -> str | None:
        """One line saying what a storage error on ``ref`` means and what to do (a full
        disk, a read-only lake, a damaged log), or None for any other error."""

    def list_tables(self) -> list[str]: ...
