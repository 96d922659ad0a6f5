"""The default engine: Polars for compute, delta-rs (``deltalake``) for storage."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import narwhals as nw
import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import DeltaError

from shoplake.engines import delta_cdc, delta_log, delta_metadata, polars_cdc
from shoplake.engines.base import (
    CdcSpec,
    ChangesResult,
    MaintenanceResult,
    Rows,
    WriteResult,
)
from shoplake.engines.delta_tables import DeltaTables, partition_predicate, sql_literal
from shoplake.names import writer

ROW_GROUP_ROWS = 65_536
"""Rows per Parquet row group. Each group carries min/max statistics, so a filtered read
(the orders of a few months, the lines of a range of order ids) skips the groups it
cannot match instead of decoding the whole file."""
_CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")


class PolarsDeltaEngine(DeltaTables):
    """Reads Delta tables as Polars lazy frames and writes them with delta-rs.

    Example::

        engine = PolarsDeltaEngine("./lake")
        engine.read("silver.orders").collect()
    """

    name = "polars"

    # -- locating -----------------------------------------------------------------------

    # -- reading ------------------------------------------------------------------------
    def read(self, ref: str, version: int | None = None) -> nw.LazyFrame[Any]:
        if self._held:
            # The pinned snapshot, when it is the version asked for: no second log replay.
            with self._lock:
                kept = (self._snapshots or {}).get(ref)
            if kept is not None and version in (None, kept.version()):
                return nw.from_native(pl.scan_delta(kept))
        return nw.from_native(
            pl.scan_delta(self.uri(ref), version=version, storage_options=self.storage_options)
        )

    def read_appended(self, ref: str, after: int, until: int) -> nw.LazyFrame[Any] | None:
        table = self._table(ref, until)
        if table is None:
            return None
        for commit in delta_log.commit_infos(self.uri(ref), range(after + 1, until + 1)):
            if commit.get("operation") in delta_log.SAME_ROWS:
                continue  # maintenance: the change feed skips its rewritten files
            mode = (commit.get("operationParameters") or {}).get("mode")
            if commit.get("operation") != "WRITE" or mode != "Append":
                return None
        try:
            reader = table.load_cdf(starting_version=after + 1, ending_version=until)
            # Through a stream reader, not pa.table(): that probes for pandas and imports
            # it (half a second, on every incremental run).
            frame = pl.from_arrow(pa.RecordBatchReader.from_stream(reader).read_all())
        except DeltaError:
            # A commit that evolved the schema (a new column) cannot be read as a change
            # feed; the appended rows are then the data files added in the range.
            return self.read_changes(ref, after, until)
        assert isinstance(frame, pl.DataFrame)
        return nw.from_native(frame.drop([c for c in _CDF_COLUMNS if c in frame.columns]).lazy())

    def read_changes(self, ref: str, after: int, until: int) -> nw.LazyFrame[Any] | None:
        table = self._table(ref, until)
        if table is None or table.metadata().partition_columns:
            # Partition values live in paths, not in the files: read in full instead.
            return None
        changed = delta_log.data_files(self.uri(ref), after, until)
        if changed is None:
            return None
        current = self.read(ref, version=until).to_native()
        assert isinstance(current, pl.LazyFrame)
        schema = current.collect_schema()
        if not changed:
            return nw.from_native(current.head(0))
        if not all(delta_log.is_file(uri) for uri in changed):
            return None  # an old version's files were vacuumed: its rows are unknown
        parts = [pl.scan_parquet(uri, storage_options=self.storage_options) for uri in changed]
        frame = pl.concat(parts, how="diagonal_relaxed")
        present = frame.collect_schema().names()
        frame = frame.select(
            [
                (pl.col(c) if c in present else pl.lit(None)).cast(t).alias(c)
                for c, t in schema.items()
            ]
        )
        return nw.from_native(frame)

    def empty(self, schema: Mapping[str, nw.dtypes.DType]) -> nw.LazyFrame[Any]:
        return nw.from_native(pl.DataFrame(schema=dict(nw.Schema(schema).to_polars())).lazy())

    def frame(self, data: Mapping[str, Sequence[object]]) -> nw.DataFrame[Any]:
        return nw.from_native(pl.DataFrame(dict(data)), eager_only=True)

    def collect(self, frame: nw.LazyFrame[Any]) -> nw.DataFrame[Any]:
        native = frame.to_native()
        if isinstance(native, pl.LazyFrame):
            return nw.from_native(native.collect(), eager_only=True)
        return frame.collect()

    @contextmanager
    def persist(self, frame: nw.LazyFrame[Any]) -> Iterator[nw.LazyFrame[Any]]:
        # One machine: the plan's result, materialised once, is what every reader scans.
        yield nw.from_native(self._eager(frame).to_native().lazy())

    def with_json(
        self, frame: nw.LazyFrame[Any], columns: Sequence[str], alias: str
    ) -> nw.LazyFrame[Any]:
        native = frame.to_native()
        assert isinstance(native, pl.LazyFrame)
        encoded = pl.struct(list(columns)).struct.json_encode().alias(alias)
        return nw.from_native(native.with_columns(encoded))

    def _eager(self, frame: Rows) -> nw.DataFrame[Any]:
        return self.collect(frame) if isinstance(frame, nw.LazyFrame) else frame

    # -- writing ------------------------------------------------------------------------
    @staticmethod
    def _arrow(frame: nw.DataFrame[Any]) -> pa.Table:
        native = frame.to_native()
        if isinstance(native, pl.DataFrame):
            # Null-typed columns (all values missing) have no Delta type: store them as text.
            casts = [pl.col(c).cast(pl.String) for c, t in native.schema.items() if t == pl.Null]
            if casts:
                native = native.with_columns(casts)
            return native.to_arrow(compat_level=pl.CompatLevel.oldest())
        return frame.to_arrow()

    @staticmethod
    def _properties(
        transactions: Mapping[str, int] | None, metadata: Mapping[str, str] | None
    ) -> CommitProperties:
        txns = [Transaction(app_id=k, version=v) for k, v in (transactions or {}).items()]
        custom = {delta_log.WRITER: writer(), **(metadata or {})}
        return CommitProperties(app_transactions=txns or None, custom_metadata=custom)

    def distributes(self, size: int) -> bool:
        return False  # one machine: the caller reads where it runs

    def distribute(
        self,
        tasks: Sequence[str],
        work: Callable[[str], tuple[pa.Table | None, str]],
        schema: pa.Schema,
    ) -> tuple[nw.LazyFrame[Any], list[str]]:
        # The same contract, run here: tests and callers need not special-case it.
        tables, reports = [], []
        for task in tasks:
            table, report = work(task)
            reports.append(report)
            if table is not None:
                tables.append(table.cast(schema))
        data = pa.concat_tables(tables) if tables else schema.empty_table()
        frame = pl.from_arrow(data)
        assert isinstance(frame, pl.DataFrame)
        return nw.from_native(frame.lazy()), reports

    def _write(
        self,
        ref: str,
        frame: nw.DataFrame[Any] | nw.LazyFrame[Any],
        mode: str,
        partition_by: Sequence[str],
        transactions: Mapping[str, int] | None,
        metadata: Mapping[str, str] | None,
        predicate: str | None = None,
    ) -> WriteResult:
        """One write commit; an overwrite with ``predicate`` replaces only the rows it
        matches (replaceWhere) and keeps the table's schema."""
        data = self._arrow(self._eager(frame))
        if mode == "append":
            schema_mode: str | None = "merge"
        else:
            schema_mode = None if predicate else "overwrite"
        declared = self._declared.get(ref)
        # Only a table with declared metadata pays for the look-up.
        creates = declared is not None and self._table(ref) is None
        if creates or schema_mode == "overwrite":
            # Replacing the schema replaces its field metadata: carry the comments along.
            data = delta_metadata.with_field_metadata(data, declared)
        description = declared.description if declared and creates else ""
        write_deltalake(  # type: ignore[call-overload,misc]  # mode is a runtime choice
            self.uri(ref),
            data,
            mode=mode,
            description=description or None,
            partition_by=list(partition_by) or None,
            predicate=predicate,
            schema_mode=schema_mode,
            storage_options=self.storage_options,
            commit_properties=self._properties(transactions, metadata),
            writer_properties=WriterProperties(max_row_group_size=ROW_GROUP_ROWS),
        )
        self._committed(ref)
        version = self.version(ref)
        assert version is not None
        return WriteResult(version=version, rows_inserted=data.num_rows)

    def append(
        self,
        ref: str,
        frame: nw.DataFrame[Any] | nw.LazyFrame[Any],
        *,
        partition_by: Sequence[str] = (),
        transactions: Mapping[str, int] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> WriteResult:
        return self._write(ref, frame, "append", partition_by, transactions, metadata)

    def overwrite(
        self,
        ref: str,
        frame: nw.DataFrame[Any] | nw.LazyFrame[Any],
        *,
        partition_by: Sequence[str] = (),
        transactions: Mapping[str, int] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> WriteResult:
        return self._write(ref, frame, "overwrite", partition_by, transactions, metadata)

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
        if self._table(ref) is None:
            return self.overwrite(
                ref,
                frame,
                partition_by=partition_by,
                transactions=transactions,
                metadata=metadata,
            )
        predicate = partition_predicate(keys.select(list(partition_by)).rows(), partition_by)
        return self._write(
            ref, frame, "overwrite", partition_by, transactions, metadata, predicate=predicate
        )

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
        frame = self._eager(frame)
        table = self._table(ref)
        if table is None:
            return self.overwrite(ref, frame, transactions=transactions, metadata=metadata)
        columns = list(partition_by)
        identity = list(match_on or partition_by)
        match = " AND ".join(f'(t."{c}" IS NOT DISTINCT FROM s."{c}")' for c in identity)
        affected = partition_predicate(keys.select(columns).rows(), columns, alias="t")
        before = table.version()
        metrics = (
            table.merge(
                self._arrow(frame),
                match,
                source_alias="s",
                target_alias="t",
                commit_properties=self._properties(transactions, metadata),
                writer_properties=WriterProperties(max_row_group_size=ROW_GROUP_ROWS),
            )
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(predicate=affected)
            .execute()
        )
        version = self.version(ref)
        assert version is not None
        if version == before:  # nothing changed: still record what was consumed
            version = self.append(
                ref, frame.head(0), transactions=transactions, metadata=metadata
            ).version
        return WriteResult(
            version=version,
            rows_inserted=int(metrics.get("num_target_rows_inserted", 0)),
            rows_updated=int(metrics.get("num_target_rows_updated", 0)),
        )

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
        frame = self._eager(frame)
        table = self._table(ref)
        if table is None:
            return self.append(ref, frame, transactions=transactions, metadata=metadata)
        data = self._arrow(frame)
        # Null-safe: a batch keeps one row for a null key, so the merge must match it too.
        predicate = " AND ".join(f'(t."{k}" IS NOT DISTINCT FROM s."{k}")' for k in keys)
        pruning = _key_range(frame, keys[0])
        if pruning:
            predicate = f"{pruning} AND {predicate}"
        merger = table.merge(
            data,
            predicate,
            source_alias="s",
            target_alias="t",
            merge_schema=True,
            commit_properties=self._properties(transactions, metadata),
            writer_properties=WriterProperties(max_row_group_size=ROW_GROUP_ROWS),
        )
        if sequence_by is not None:
            newer = f's."{sequence_by}" > t."{sequence_by}" OR t."{sequence_by}" IS NULL'
            merger = merger.when_matched_update_all(predicate=newer)
        before = table.version()
        metrics = merger.when_not_matched_insert_all().execute()
        version = self.version(ref)
        assert version is not None
        if version == before:
            # A merge that changes no row commits nothing; what it consumed must still be
            # recorded, or the next run would process the same input again.
            empty = frame.head(0)
            version = self.append(ref, empty, transactions=transactions, metadata=metadata).version
        return WriteResult(
            version=version,
            rows_inserted=int(metrics.get("num_target_rows_inserted", 0)),
            rows_updated=int(metrics.get("num_target_rows_updated", 0)),
        )

    # -- maintenance --------------------------------------------------------------------

    def compact(self, ref: str) -> MaintenanceResult:
        table = self._require(ref)
        metrics = table.optimize.compact()
        self._committed(ref)
        return MaintenanceResult(
            "compact",
            int(metrics.get("numFilesRemoved", 0)),
            int(metrics.get("numFilesAdded", 0)),
            table.version(),
        )

    def zorder(self, ref: str, columns: Sequence[str]) -> MaintenanceResult:
        table = self._require(ref)
        metrics = table.optimize.z_order(list(columns))
        self._committed(ref)
        return MaintenanceResult(
            "zorder",
            int(metrics.get("numFilesRemoved", 0)),
            int(metrics.get("numFilesAdded", 0)),
            table.version(),
        )

    def vacuum(self, ref: str, retention_hours: int, *, force: bool = False) -> MaintenanceResult:
        table = self._require(ref)
        deleted = table.vacuum(
            retention_hours=retention_hours, dry_run=False, enforce_retention_duration=not force
        )
        self._committed(ref)
        return MaintenanceResult("vacuum", len(deleted), 0, table.version())

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
        frame = self._eager(frame)
        changes = frame.to_native()
        assert isinstance(changes, pl.DataFrame)
        table = None if full else self._table(ref)
        properties = self._properties(transactions, metadata)
        if table is None:
            empty = pl.DataFrame()
            plan = polars_cdc.plan_changes(changes, empty, spec, known_keys=empty)
            written = self.overwrite(
                ref,
                nw.from_native(plan.rows, eager_only=True),
                partition_by=[polars_cdc.BUCKET],
                transactions=transactions,
                metadata=metadata,
            )
            return ChangesResult(
                written.version,
                plan.changes,
                plan.rows.height,
                0,
                0,
                plan.opened,
                plan.closed_by_delete,
                rows_rewritten=plan.rows.height,
            )
        if spec.snapshot and spec.missing_as_delete:
            # A snapshot can delete any key: the whole table is affected.
            existing = delta_cdc.read_all(table)
            known = existing.select(spec.keys)
        else:
            existing = delta_cdc.read_affected(table, spec, changes)
            known = None
        plan = polars_cdc.plan_changes(changes, existing, spec, known_keys=known)
        before = table.version()
        metrics: Mapping[str, int] = {}
        if plan.source.height:
            metrics = delta_cdc.merge_plan(table, plan, spec, properties)
        version = table.version()  # the merge updated this handle: no second log replay
        if version == before:
            # Nothing changed (a replay): still record what was consumed.
            empty_frame = nw.from_native(plan.rows.head(0), eager_only=True)
            version = self.append(
                ref, empty_frame, transactions=transactions, metadata=metadata
            ).version
        return ChangesResult(
            version=version,
            changes=plan.changes,
            rows_inserted=plan.inserted,
            rows_updated=plan.updated,
            rows_deleted=plan.deleted,
            opened=plan.opened,
            deleted_keys=plan.closed_by_delete,
            files_rewritten=int(metrics.get("num_target_files_removed", 0)),
            rows_rewritten=int(metrics.get("num_target_rows_copied", 0))
            + int(metrics.get("num_target_rows_updated", 0))
            + int(metrics.get("num_target_rows_deleted", 0)),
        )

    # -- catalog ------------------------------------------------------------------------

    def lineage_probe(
        self,
        schema: Mapping[str, nw.dtypes.DType],
        seen: Callable[[Sequence[str] | None], None],
    ) -> nw.LazyFrame[Any] | None:
        from shoplake.engines.polars_probe import probe_frame

        return probe_frame(schema, seen)


def _key_range(frame: nw.DataFrame[Any], key: str) -> str:
    """``t.key`` between the batch's smallest and largest key: lets a merge skip the target
    files whose statistics lie outside (delta-rs otherwise scans and rewrites the whole
    target). Left out when the batch holds a null key, which only a full scan can match."""
    column = frame[key]
    if len(column) == 0 or column.null_count() > 0:
        return ""
    low, high = column.min(), column.max()
    return f'(t."{key}" >= {sql_literal(low)} AND t."{key}" <= {sql_literal(high)})'
