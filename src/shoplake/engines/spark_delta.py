"""The Spark engine: PySpark for compute, Delta Lake's Spark writer (delta-spark) for storage.

Transformations run on Spark: ``read`` gives narwhals LazyFrames over Spark DataFrames,
so a flow's joins, windows and aggregations are Spark jobs. ``collect`` brings a flow's
result to the driver (an Arrow batch, held as a Polars frame), where the engine-neutral
core judges its rules; the write sends it back through Spark: every data file and every
commit of a table is written by Delta's Spark writer (append, overwrite, replaceWhere,
MERGE, OPTIMIZE, VACUUM).

The Delta *log* is plain JSON and Parquet: versions, app transactions, commit metadata,
history and table listings are read from it on the driver with delta-rs (milliseconds,
not a Spark job per question), so the lake must be reachable from where shoplake runs —
as it is for a Spark Connect client of a cluster whose lake is on an object store.

Exactly once: one commit records every app transaction a write consumed (see
``spark_commits``), and :meth:`consumed` reads them back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import narwhals as nw
import polars as pl
import pyarrow as pa

from shoplake.engines import delta_log, spark_cdc
from shoplake.engines.base import (
    CdcSpec,
    ChangesResult,
    MaintenanceResult,
    Rows,
    TableInfo,
    TableMetadata,
    WriteResult,
)
from shoplake.engines.delta_tables import DeltaTables, partition_predicate
from shoplake.engines.spark_cdc import quote
from shoplake.engines.spark_commits import SparkCommits, to_spark
from shoplake.engines.spark_session import (
    SparkSettings,
    attach_lake,
    build_session,
    spark_settings,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


_REPORT = "_shoplake_task_report"
_CONFLICTS = frozenset(
    {
        "ConcurrentModificationException",
        "ConcurrentWriteException",
        "ConcurrentAppendException",
        "ConcurrentDeleteReadException",
        "ConcurrentDeleteDeleteException",
        "ConcurrentTransactionException",
        "MetadataChangedException",
        "ProtocolChangedException",
    }
)


def _tasks_runner(
    work: Callable[[str], tuple[pa.Table | None, str]], schema: pa.Schema
) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """What each executor runs over its partition of tasks: the rows ``work`` gives, then
    one row holding the task's report (its data columns null)."""

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for task in batch.column("task").to_pylist():
                table, report = work(task)
                if table is not None and table.num_rows:
                    marked = table.append_column(_REPORT, pa.nulls(table.num_rows, pa.string()))
                    yield from marked.cast(schema).to_batches()
                yield pa.RecordBatch.from_pylist([{_REPORT: report}], schema=schema)

    return run


class SparkDeltaEngine:
    """Runs flows on a Spark session (local, a standalone cluster or Spark Connect) and
    writes the lake with Delta's Spark writer.

    Example::

        engine = SparkDeltaEngine("./lake")          # local[2], Delta jars fetched once
        engine.read("silver.orders").group_by("status").agg(nw.len()).collect()
    """

    name = "spark"

    def __init__(
        self,
        lake: str,
        storage_options: Mapping[str, str] | None = None,
        *,
        session: SparkSession | None = None,
        settings: SparkSettings | None = None,
        reuse_snapshots: bool = False,
    ) -> None:
        if "://" not in lake:
            from pathlib import Path

            # Executors on other machines (a cluster) resolve no relative path.
            lake = str(Path(lake).resolve())
        self.lake = lake.rstrip("/")
        self._log = DeltaTables(self.lake, storage_options, reuse_snapshots=reuse_snapshots)
        self._session = session
        self._attached = session is None  # a session of our own is built for the lake
        self._settings = settings
        # Commits are serialised: a MERGE's app transaction is session conf, shared by
        # every thread of the session. Reading and computing stay parallel.
        self._write_lock = threading.RLock()
        self._commits = SparkCommits(lambda: self.spark, self._log, self._write_lock)
        self._cached: dict[int, DataFrame] = {}  # rows of distribute(), until written

    @property
    def spark(self) -> SparkSession:
        """The session, started on first use (commands that only read the log never
        start one)."""
        if self._session is None:
            options = self._log.storage_options
            self._session = build_session(self._settings or spark_settings(), self.lake, options)
        elif not self._attached:
            attach_lake(self._session, self.lake, self._log.storage_options)
            self._attached = True
        return self._session

    # -- the log, read with delta-rs ----------------------------------------------------
    def pinned_snapshots(self) -> AbstractContextManager[None]:
        # Spark commits bypass the log reader's snapshots: it keeps refreshing them.
        return nullcontext()

    def uri(self, ref: str) -> str:
        return self._log.uri(ref)

    def refresh(self) -> None:
        self._log.refresh()

    def commit_conflict(self, ref: str, err: BaseException) -> str | None:
        # Delta's optimistic concurrency errors (ConcurrentAppendException and kin,
        # DELTA_CONCURRENT_* error classes), whichever wrapper carries them here.
        name = type(err).__name__
        if not (name in _CONFLICTS or "DELTA_CONCURRENT" in str(err)[:500]):
            return self._log.commit_conflict(ref, err)
        self.refresh()
        newest = self._log.history(ref, 1)
        return delta_log.describe_commit(newest[0]) if newest else "a writer that left no commit"

    def explain_error(self, ref: str, err: BaseException) -> str | None:
        return self._log.explain_error(ref, err)

    def version(self, ref: str) -> int | None:
        return self._log.version(ref)

    def consumed(self, ref: str, app_id: str) -> int | None:
        recorded = self._log.consumed(ref, app_id)
        for value in self._log.commit_metadata(ref, delta_log.TRANSACTIONS):
            found = json.loads(value).get(app_id)
            if found is not None and (recorded is None or int(found) > recorded):
                recorded = int(found)
        return recorded

    def commit_metadata(self, ref: str, key: str) -> list[str]:
        return self._log.commit_metadata(ref, key)

    def commit_metadata_since(self, ref: str, key: str, after: int) -> list[tuple[int, str]]:
        return self._log.commit_metadata_since(ref, key, after)

    def history(self, ref: str, limit: int | None = None) -> list[dict[str, object]]:
        return self._log.history(ref, limit)

    def info(self, ref: str) -> TableInfo | None:
        return self._log.info(ref)

    def list_tables(self) -> list[str]:
        return self._log.list_tables()

    def arrow_dataset(self, ref: str) -> object:
        return self._log.arrow_dataset(ref)

    def metadata(self, ref: str) -> TableMetadata | None:
        return self._log.metadata(ref)

    def lineage_probe(
        self,
        schema: Mapping[str, nw.dtypes.DType],
        seen: Callable[[Sequence[str] | None], None],
    ) -> nw.LazyFrame[Any] | None:
        """None: Spark plans are not probed; column lineage falls back to what tables
        declare (``Column(lineage=...)``)."""
        return None

    def declare_metadata(self, ref: str, metadata: TableMetadata) -> None:
        self._log.declare_metadata(ref, metadata)

    def update_metadata(self, ref: str, metadata: TableMetadata) -> int:
        """The same metadata-only commits as the Polars engine's (delta-rs writes them
        onto the table Spark wrote, between this engine's writes), so a lake written on
        Spark has the same descriptions, owners, tags, comments and PII classes."""
        with self._write_lock:
            return self._log.update_metadata(ref, metadata)

    def checkpoint(self, ref: str) -> MaintenanceResult:
        # A checkpoint is a log file, not data: delta-rs writes the same Parquet checkpoint.
        return self._log.checkpoint(ref)

    # -- reading ------------------------------------------------------------------------
    def _reader(self, ref: str, version: int | None = None) -> DataFrame:
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(self.uri(ref))

    def read(self, ref: str, version: int | None = None) -> nw.LazyFrame[Any]:
        return nw.from_native(self._reader(ref, version))

    def row_count(self, ref: str, version: int, after: int | None = None) -> int | None:
        return self._log.row_count(ref, version, after)  # the log, not a Spark job

    def read_appended(self, ref: str, after: int, until: int) -> nw.LazyFrame[Any] | None:
        if self._log.delta_table(ref, until) is None:
            return None
        for commit in delta_log.commit_infos(self.uri(ref), range(after + 1, until + 1)):
            operation = str(commit.get("operation", ""))
            if operation in delta_log.SAME_ROWS:
                continue  # maintenance: same rows in new files, no change
            mode = (commit.get("operationParameters") or {}).get("mode")
            if operation != "WRITE" or mode != "Append":
                return None
        # Only appends: the rows added are the data files those commits added.
        return self.read_changes(ref, after, until)

    def read_changes(self, ref: str, after: int, until: int) -> nw.LazyFrame[Any] | None:
        table = self._log.delta_table(ref, until)
        if table is None or table.metadata().partition_columns:
            return None  # partition values live in paths, not in the files
        files = delta_log.data_files(self.uri(ref), after, until)
        if files is None or not all(delta_log.is_file(f) for f in files):
            return None
        schema = self._reader(ref, until).schema
        if not files:
            return nw.from_native(self.spark.createDataFrame([], schema))
        # The table's schema, not the files': older files lack later columns (null).
        return nw.from_native(self.spark.read.schema(schema).parquet(*files))

    def empty(self, schema: Mapping[str, nw.dtypes.DType]) -> nw.LazyFrame[Any]:
        frame = pl.DataFrame(schema=dict(nw.Schema(schema).to_polars()))
        return nw.from_native(self.spark_frame(nw.from_native(frame, eager_only=True)))

    def frame(self, data: Mapping[str, Sequence[object]]) -> nw.DataFrame[Any]:
        return nw.from_native(pl.DataFrame(dict(data)), eager_only=True)

    def collect(self, frame: nw.LazyFrame[Any]) -> nw.DataFrame[Any]:
        native = frame.to_native()
        if hasattr(native, "toArrow"):
            collected = pl.from_arrow(native.toArrow())
            assert isinstance(collected, pl.DataFrame)
            return nw.from_native(collected, eager_only=True)
        return frame.collect()  # a frame of another backend (a caller's own rows)

    @contextmanager
    def persist(self, frame: nw.LazyFrame[Any]) -> Iterator[nw.LazyFrame[Any]]:
        from pyspark import StorageLevel

        native: DataFrame = frame.to_native()
        cached = native.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            yield nw.from_native(cached)
        finally:
            cached.unpersist()

    def with_json(
        self, frame: nw.LazyFrame[Any], columns: Sequence[str], alias: str
    ) -> nw.LazyFrame[Any]:
        from pyspark.sql import functions as F
        from pyspark.sql.types import TimestampNTZType, TimestampType

        native: DataFrame = frame.to_native()
        types = {f.name: f.dataType for f in native.schema.fields}
        # A timestamp cast to text reads as the Polars engine writes it (2026-01-02
        # 03:04:05.123, no zone, trailing zeros dropped); nulls stay in the object.
        fields = [
            F.col(c).cast("string").alias(c)
            if isinstance(types.get(c), TimestampType | TimestampNTZType)
            else F.col(c)
            for c in columns
        ]
        encoded = F.to_json(F.struct(*fields), {"ignoreNullFields": "false"})
        return nw.from_native(native.withColumn(alias, encoded))

    # -- work on the executors -----------------------------------------------------------
    def distributes(self, size: int) -> bool:
        settings = self._settings or spark_settings()
        return size > settings.read_on_executors_above

    def distribute(
        self,
        tasks: Sequence[str],
        work: Callable[[str], tuple[pa.Table | None, str]],
        schema: pa.Schema,
    ) -> tuple[nw.LazyFrame[Any], list[str]]:
        from pyspark import StorageLevel
        from pyspark.sql import functions as F
        from pyspark.sql.pandas.types import from_arrow_schema

        out_schema = schema.append(pa.field(_REPORT, pa.string()))
        spark_schema = from_arrow_schema(out_schema, prefer_timestamp_ntz=True)
        # One task per partition, so the files are read side by side.
        inputs = self.spark.createDataFrame([(t,) for t in tasks], "task string")
        inputs = inputs.repartition(min(len(tasks), 256))
        done = inputs.mapInArrow(_tasks_runner(work, out_schema), spark_schema)
        # Kept on the executors: the reports are collected from it, then the rows written.
        done = done.persist(StorageLevel.MEMORY_AND_DISK)
        reports = [r[0] for r in done.where(F.col(_REPORT).isNotNull()).select(_REPORT).collect()]
        rows = done.where(F.col(_REPORT).isNull()).drop(_REPORT)
        self._cached[id(rows)] = done
        return nw.from_native(rows), reports

    # -- writing ------------------------------------------------------------------------
    def spark_frame(self, frame: nw.DataFrame[Any] | nw.LazyFrame[Any]) -> DataFrame:
        """A frame as a Spark DataFrame: an eager one (on the driver) is sent to Spark, a
        lazy one is already there."""
        if isinstance(frame, nw.LazyFrame):
            lazy: DataFrame = frame.to_native()
            return lazy
        native = frame.to_native()
        data = native if isinstance(native, pl.DataFrame) else pl.from_arrow(frame.to_arrow())
        assert isinstance(data, pl.DataFrame)
        return to_spark(self.spark, data)

    def merge(
        self,
        ref: str,
        source: DataFrame,
        statement: str,
        *,
        transactions: Mapping[str, int] | None,
        metadata: Mapping[str, str] | None,
    ) -> dict[str, int]:
        """See ``SparkCommits.merge``."""
        return self._commits.merge(
            ref, source, statement, transactions=transactions, metadata=metadata
        )

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
        if mode == "append":
            options = {"mergeSchema": "true"}
        elif predicate is not None:
            options = {"replaceWhere": predicate}
        else:
            options = {"overwriteSchema": "true"}
        data = self.spark_frame(frame)
        version = self._commits.save(
            ref,
            data,
            mode,
            partition_by=partition_by,
            transactions=transactions,
            metadata=metadata,
            options=options,
        )
        cached = self._cached.pop(id(data), None)
        if cached is not None:
            cached.unpersist()
        if isinstance(frame, nw.LazyFrame):  # counted by the write itself, not a second job
            commit = delta_log.commit_info(self.uri(ref), version) or {}
            rows = int((commit.get("operationMetrics") or {}).get("numOutputRows", 0))
        else:
            rows = len(frame)
        return WriteResult(version=version, rows_inserted=rows)

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
        if self.version(ref) is None:
            return self.overwrite(
                ref, frame, partition_by=partition_by, transactions=transactions, metadata=metadata
            )
        rows = keys.select(list(partition_by)).rows()
        predicate = partition_predicate(rows, partition_by, quote="`")
        return self._write(
            ref, frame, "overwrite", partition_by, transactions, metadata, predicate=predicate
        )

    def _record_only(
        self,
        ref: str,
        frame: Rows,
        metrics: Mapping[str, int],
        transactions: Mapping[str, int] | None,
        metadata: Mapping[str, str] | None,
    ) -> WriteResult:
        if metrics:
            version = self.version(ref)
            assert version is not None
        else:
            # A merge that changed nothing committed nothing: what it consumed must still
            # be recorded, or the next run would process the same input again.
            empty = frame.head(0)
            version = self.append(ref, empty, transactions=transactions, metadata=metadata).version
        return WriteResult(
            version=version,
            rows_inserted=metrics.get("numTargetRowsInserted", 0),
            rows_updated=metrics.get("numTargetRowsUpdated", 0),
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
        if self.version(ref) is None:
            return self.overwrite(ref, frame, transactions=transactions, metadata=metadata)
        columns = list(partition_by)
        identity = list(match_on or partition_by)
        match = " AND ".join(f"t.{quote(c)} <=> s.{quote(c)}" for c in identity)
        affected = partition_predicate(keys.select(columns).rows(), columns, "t", quote="`")
        statement = (
            f"MERGE INTO {{target}} t USING {{source}} s ON {match} "
            "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT * "
            f"WHEN NOT MATCHED BY SOURCE AND {affected} THEN DELETE"
        )
        metrics = self.merge(
            ref,
            self.spark_frame(frame),
            statement,
            transactions=transactions,
            metadata=metadata,
        )
        return self._record_only(ref, frame, metrics, transactions, metadata)

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
        if self.version(ref) is None:
            return self.append(ref, frame, transactions=transactions, metadata=metadata)
        # Null-safe: a batch keeps one row for a null key, so the merge must match it too.
        match = " AND ".join(f"t.{quote(k)} <=> s.{quote(k)}" for k in keys)
        # Without a sequence a key's first row stays (inserts only, as on delta-rs).
        matched = ""
        if sequence_by is not None:
            seq = quote(sequence_by)
            matched = f"WHEN MATCHED AND (s.{seq} > t.{seq} OR t.{seq} IS NULL) THEN UPDATE SET * "
        statement = (
            f"MERGE INTO {{target}} t USING {{source}} s ON {match} "
            f"{matched}WHEN NOT MATCHED THEN INSERT *"
        )
        metrics = self.merge(
            ref, self.spark_frame(frame), statement, transactions=transactions, metadata=metadata
        )
        return self._record_only(ref, frame, metrics, transactions, metadata)

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
        if isinstance(frame, nw.LazyFrame):
            # The one flow whose rows still come to the driver on Spark: the SCD plan is
            # made by polars_cdc over the touched buckets (a Spark-native plan is to come).
            frame = self.collect(frame)
        return spark_cdc.apply_changes(
            self,
            self._log,
            ref,
            frame,
            spec=spec,
            full=full,
            transactions=transactions,
            metadata=metadata,
        )

    # -- maintenance --------------------------------------------------------------------
    def _require(self, ref: str) -> str:
        if self.version(ref) is None:
            raise FileNotFoundError(f"{ref}: no Delta table at {self.uri(ref)}")
        return f"delta.{quote(self.uri(ref))}"

    def _optimize(self, ref: str, operation: str, suffix: str = "") -> MaintenanceResult:
        target = self._require(ref)
        with self._write_lock:
            rows = self.spark.sql(f"OPTIMIZE {target}{suffix}").collect()
        metrics = rows[0]["metrics"].asDict() if rows else {}
        return MaintenanceResult(
            operation,
            int(metrics.get("numFilesRemoved") or 0),
            int(metrics.get("numFilesAdded") or 0),
            self.version(ref),
        )

    def compact(self, ref: str) -> MaintenanceResult:
        return self._optimize(ref, "compact")

    def zorder(self, ref: str, columns: Sequence[str]) -> MaintenanceResult:
        return self._optimize(ref, "zorder", f" ZORDER BY ({', '.join(map(quote, columns))})")

    def vacuum(self, ref: str, retention_hours: int, *, force: bool = False) -> MaintenanceResult:
        target = self._require(ref)
        check = "spark.databricks.delta.retentionDurationCheck.enabled"
        with self._write_lock:
            if force:
                self.spark.conf.set(check, "false")
            try:
                doomed = self.spark.sql(f"VACUUM {target} RETAIN {retention_hours} HOURS DRY RUN")
                count = doomed.count()
                self.spark.sql(f"VACUUM {target} RETAIN {retention_hours} HOURS").collect()
            finally:
                if force:
                    self.spark.conf.unset(check)
        return MaintenanceResult("vacuum", count, 0, self.version(ref))
