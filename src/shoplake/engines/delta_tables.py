"""A lake's Delta tables as delta-rs sees them: snapshots, versions, app transactions,
commits and their metadata, row counts from file statistics, table metadata, listings
and checkpoints. Both engines use it for everything but reading and writing rows (the
Polars engine is built on it; the Spark engine asks it about the log, milliseconds
instead of a Spark job per question).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pyarrow.fs as pafs
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from shoplake.engines import delta_log, delta_metadata
from shoplake.engines.base import MaintenanceResult, TableInfo, TableMetadata
from shoplake.errors import ShoplakeError, StorageError


def _is_uri(path: str) -> bool:
    return "://" in path


def _metadata_value(commit: Mapping[str, Any], key: str) -> str | None:
    """Custom metadata ``key`` of a commit written by delta-rs (a commitInfo key) or by
    the Spark engine (inside ``userMetadata``)."""
    if key in commit:
        return str(commit[key])
    if delta_log.USER_METADATA in commit:
        return delta_log.commit_values(commit).get(key)
    return None


class DeltaTables:
    """The Delta tables of the lake at ``lake`` (a folder or an object-store URI)."""

    def __init__(
        self,
        lake: str,
        storage_options: Mapping[str, str] | None = None,
        *,
        reuse_snapshots: bool = False,
    ) -> None:
        self.lake = lake.rstrip("/")
        self.storage_options = dict(storage_options) if storage_options else None
        # A long-running stream asks for table versions dozens of times per micro-batch:
        # refreshing a kept snapshot reads only the new log entries (≈1 ms, not ≈13 ms).
        # Only for a process whose tables are not deleted and recreated under it.
        self._snapshots: dict[str, DeltaTable] | None = {} if reuse_snapshots else None
        self._reuse = reuse_snapshots
        self._held = 0  # depth of pinned_snapshots(): kept snapshots are then trusted as they are
        self._fresh: set[str] = set()  # tables whose kept snapshot this pinned session refreshed
        # While held: commits read once per table (they never change), and each app
        # transaction once per table version (delta-rs re-reads every commit to find one).
        self._commits: dict[str, dict[int, dict[str, Any]]] = {}
        self._txns: dict[tuple[str, int, str], int | None] = {}
        self._lock = threading.Lock()
        self._declared: dict[str, TableMetadata] = {}

    def uri(self, ref: str) -> str:
        layer, _, name = ref.partition(".")
        return f"{self.lake}/{layer}/{name}"

    def explain_error(self, ref: str, err: BaseException) -> str | None:
        from shoplake.engines.storage_errors import explain

        return explain(ref, self.uri(ref), err)

    @contextmanager
    def pinned_snapshots(self) -> Iterator[None]:
        """Inside, a table's snapshot, loaded once, is trusted until this engine commits to
        the table, which refreshes it: for a caller holding the lake's lock (no other
        process commits) or one that only reads and wants one consistent view. Each
        question about a table (its version, what it consumed, its metadata) is then
        answered without reading its log again — on an object store a run with nothing
        new otherwise re-reads every log several times."""
        with self._lock:
            self._held += 1
            if self._snapshots is None:
                self._snapshots = {}
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1
                if not self._held:
                    self._commits.clear()
                    self._txns.clear()
                    self._fresh.clear()
                    if not self._reuse:
                        self._snapshots = None

    def _table(self, ref: str, version: int | None = None) -> DeltaTable | None:
        if self._snapshots is not None:
            with self._lock:
                kept = self._snapshots.get(ref)
                # Pinned, a kept snapshot is still read up to date once per session: it
                # may date from an earlier session, and another process (a stream) may
                # have committed since.
                if kept is not None and (not self._held or ref not in self._fresh):
                    kept.update_incremental()
                if self._held:
                    self._fresh.add(ref)
                if kept is not None and version in (None, kept.version()):
                    return kept
                if version is None:
                    table = self._load(ref, None)
                    if table is not None:
                        self._snapshots[ref] = table
                    return table
        return self._load(ref, version)

    def _committed(self, ref: str) -> None:
        """After a commit of this engine to ``ref``: its pinned snapshot reads the new log
        entries (a write by URI does not update the handle). Unpinned, a kept snapshot
        is refreshed on its next use anyway."""
        if self._held and self._snapshots is not None:
            with self._lock:
                kept = self._snapshots.get(ref)
                if kept is not None:
                    kept.update_incremental()

    def refresh(self) -> None:
        with self._lock:
            self._fresh.clear()

    def commit_conflict(self, ref: str, err: BaseException) -> str | None:
        if not isinstance(err, CommitFailedError):
            return None
        self.refresh()
        newest = self.history(ref, 1)
        return delta_log.describe_commit(newest[0]) if newest else "a writer that left no commit"

    def delta_table(self, ref: str, version: int | None = None) -> DeltaTable | None:
        """The delta-rs handle of the table (at ``version``), or None if it does not exist."""
        return self._table(ref, version)

    def _load(self, ref: str, version: int | None) -> DeltaTable | None:
        try:
            return DeltaTable(self.uri(ref), version=version, storage_options=self.storage_options)
        except TableNotFoundError:
            return None
        except DeltaError as err:
            explained = self.explain_error(ref, err)
            if explained is None:
                raise
            raise StorageError(explained) from None

    def version(self, ref: str) -> int | None:
        table = self._table(ref)
        return None if table is None else table.version()

    def consumed(self, ref: str, app_id: str) -> int | None:
        table = self._table(ref)
        if table is None:
            return None
        if not self._held:
            return table.transaction_version(app_id)
        key = (ref, table.version(), app_id)
        with self._lock:
            if key in self._txns:
                return self._txns[key]
        found = table.transaction_version(app_id)
        with self._lock:
            self._txns[key] = found
        return found

    def _history(self, ref: str, table: DeltaTable, limit: int | None) -> list[dict[str, Any]]:
        """The commits of ``table``'s snapshot, newest first (``limit`` of them), read by
        version from the log (``delta_log.commit_info``); while the lake is held each
        commit is read from the store once (commits never change)."""
        top = table.version()
        wanted = range(top, -1 if limit is None else max(top - limit, -1), -1)
        if not self._held:
            return delta_log.commit_infos(self.uri(ref), wanted)
        with self._lock:
            known = self._commits.setdefault(ref, {})
            missing = [v for v in wanted if v not in known]
        fetched = delta_log.commit_infos(self.uri(ref), missing)
        with self._lock:
            known.update({int(c["version"]): c for c in fetched})
        return [known[v] for v in wanted if v in known]

    def commit_metadata(self, ref: str, key: str) -> list[str]:
        table = self._table(ref)
        if table is None:
            return []
        found = (_metadata_value(c, key) for c in self._history(ref, table, None))
        return [v for v in found if v is not None]

    def commit_metadata_since(self, ref: str, key: str, after: int) -> list[tuple[int, str]]:
        table = self._table(ref)
        if table is None or table.version() <= after:
            return []
        commits = self._history(ref, table, table.version() - after)
        found = [(int(c["version"]), _metadata_value(c, key)) for c in commits]
        return sorted((v, value) for v, value in found if v > after and value is not None)

    def row_count(self, ref: str, version: int, after: int | None = None) -> int | None:
        if after is not None:
            return delta_log.appended_rows(self.uri(ref), after, version)
        table = self._table(ref, version)
        if table is None:
            return None
        records = pl.DataFrame(table.get_add_actions(flatten=True))
        if not records.height:
            return 0
        counts = records["num_records"]
        return None if counts.null_count() else int(counts.sum())

    def _require(self, ref: str) -> DeltaTable:
        table = self._table(ref)
        if table is None:
            raise FileNotFoundError(f"{ref}: no Delta table at {self.uri(ref)}")
        return table

    def checkpoint(self, ref: str) -> MaintenanceResult:
        table = self._require(ref)
        table.create_checkpoint()
        table.cleanup_metadata()
        return MaintenanceResult("checkpoint", 0, 0, table.version())

    def arrow_dataset(self, ref: str) -> object:
        table = self._table(ref)
        if table is None:
            raise ShoplakeError(f"{ref}: no such table in {self.lake}")
        return table.to_pyarrow_dataset()

    def history(self, ref: str, limit: int | None = None) -> list[dict[str, object]]:
        table = self._table(ref)
        return [] if table is None else self._history(ref, table, limit)

    def declare_metadata(self, ref: str, metadata: TableMetadata) -> None:
        self._declared[ref] = metadata

    def update_metadata(self, ref: str, metadata: TableMetadata) -> int:
        self._declared[ref] = metadata
        table = self._table(ref)
        if table is None:
            return 0
        commits = delta_metadata.update(table, metadata)
        if commits:
            self._committed(ref)
        return commits

    def metadata(self, ref: str) -> TableMetadata | None:
        table = self._table(ref)
        return None if table is None else delta_metadata.stored(table)

    def info(self, ref: str) -> TableInfo | None:
        table = self._table(ref)
        if table is None:
            return None
        # Straight from the Arrow C interface: pa.table() would import pandas to probe
        # its argument (half a second of every command that lists tables).
        actions = pl.DataFrame(table.get_add_actions(flatten=True))
        rows = int(actions["num_records"].sum()) if actions.height else 0
        newest = self._history(ref, table, 1)
        last = newest[0].get("timestamp") if newest else None
        modified = datetime.fromtimestamp(last / 1000, tz=UTC) if isinstance(last, int) else None
        return TableInfo(ref, table.version(), rows, actions.height, modified)

    def list_tables(self) -> list[str]:
        from shoplake.stores import is_object_store

        if is_object_store(self.lake):
            return _store_tables(self.lake)
        if _is_uri(self.lake):
            fs, root = pafs.FileSystem.from_uri(self.lake)
        else:
            fs, root = pafs.LocalFileSystem(), self.lake
        refs: list[str] = []
        try:
            layers = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
        except OSError:
            return []
        for layer in sorted(layers, key=lambda i: i.base_name):
            if layer.type != pafs.FileType.Directory:
                continue
            for table in fs.get_file_info(pafs.FileSelector(layer.path)):
                log = fs.get_file_info(f"{table.path}/_delta_log")
                if log.type == pafs.FileType.Directory:
                    refs.append(f"{layer.base_name}.{table.base_name}")
        return sorted(refs)


def _store_tables(lake: str) -> list[str]:
    """``layer.name`` of every table of a lake on an object store: one delimited listing
    for the layers, one per layer, one per table folder."""
    from shoplake.sources.objects import object_fs

    fs, root = object_fs(lake)
    refs: list[str] = []
    for layer in fs.ls(root):
        for table in fs.ls(layer):
            if f"{table}/_delta_log" in fs.ls(table):
                name, layer_name = table.rpartition("/")[2], layer.rpartition("/")[2]
                refs.append(f"{layer_name}.{name}")
    return sorted(refs)


def sql_literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return "'" + value.isoformat(sep=" ") + "'"
    if isinstance(value, date):
        return "'" + value.isoformat() + "'"
    return "'" + str(value).replace("'", "''") + "'"


def partition_predicate(
    rows: Sequence[tuple[object, ...]], columns: Sequence[str], alias: str = "", quote: str = '"'
) -> str:
    """A SQL predicate matching exactly the partitions ``rows`` (values of ``columns``),
    with columns qualified by ``alias`` when given and quoted with ``quote`` (Spark SQL
    quotes names with backticks)."""
    if not rows:
        return "false"
    prefix = f"{alias}." if alias else ""

    def equal(column: str, value: object) -> str:
        name = f"{prefix}{quote}{column}{quote}"
        return f"{name} IS NULL" if value is None else f"{name} = {sql_literal(value)}"

    if len(columns) == 1:
        name = f"{prefix}{quote}{columns[0]}{quote}"
        values = sorted({r[0] for r in rows if r[0] is not None}, key=str)
        parts = [f"{name} IN ({', '.join(sql_literal(v) for v in values)})"] if values else []
        if any(r[0] is None for r in rows):
            parts.append(f"{name} IS NULL")
        return "(" + " OR ".join(parts) + ")"
    clauses = sorted(
        {
            "(" + " AND ".join(equal(c, v) for c, v in zip(columns, r, strict=True)) + ")"
            for r in rows
        }
    )
    return "(" + " OR ".join(clauses) + ")"
