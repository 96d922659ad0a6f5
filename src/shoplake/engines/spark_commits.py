"""Spark commits that carry shoplake's bookkeeping: every app transaction a write consumed
and its commit metadata, in the one Delta commit of the write.

Spark's Delta writer records one ``txn`` action per commit (``txnAppId`` / ``txnVersion``
writer options, or the ``spark.databricks.delta.write.txn*`` session conf for a MERGE)
and one free-text ``userMetadata``. The first transaction not yet recorded goes into the
``txn`` action, so delta-rs readers see it as usual; all of them, with the metadata, go
into ``userMetadata`` as JSON (``delta_log.TRANSACTIONS``), which the Spark engine's
``consumed`` also reads. One commit thus records everything, atomically.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa

from shoplake.engines import delta_log
from shoplake.engines.spark_cdc import quote
from shoplake.names import writer

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from shoplake.engines.delta_tables import DeltaTables

_TXN_CONF = ("spark.databricks.delta.write.txnAppId", "spark.databricks.delta.write.txnVersion")
_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
_SIGNED: dict[type[pl.DataType], type[pl.DataType]] = {
    pl.UInt8: pl.Int8,
    pl.UInt16: pl.Int16,
    pl.UInt32: pl.Int32,
    pl.UInt64: pl.Int64,
}


def to_spark(session: SparkSession, data: pl.DataFrame) -> DataFrame:
    """A Polars frame as a Spark DataFrame (through Arrow), with the types Delta and Spark
    lack made plain: null-typed and categorical columns as text, unsigned integers as
    signed ones of the same width (as delta-rs stores them)."""
    casts = []
    for name, dtype in data.schema.items():
        if dtype == pl.Null or isinstance(dtype, pl.Categorical | pl.Enum):
            casts.append(pl.col(name).cast(pl.String))
        elif dtype.is_unsigned_integer():
            # As delta-rs stores them (same width, signed), so both engines agree.
            casts.append(pl.col(name).cast(_SIGNED[type(dtype)]))
    if casts:
        data = data.with_columns(casts)
    table: pa.Table = data.to_arrow(compat_level=pl.CompatLevel.oldest())
    if table.num_columns == 0:
        return session.range(table.num_rows).select()
    from pyspark.sql.pandas.types import from_arrow_schema

    # A naive timestamp stays naive (TIMESTAMP_NTZ), as in the Polars engine's tables;
    # Spark's own inference would make it a zoned TIMESTAMP.
    schema = from_arrow_schema(table.schema, prefer_timestamp_ntz=True)
    return session.createDataFrame(table, schema=schema)


class SparkCommits:
    """Writes and MERGEs of one engine, serialised: a MERGE's app transaction is session
    conf, shared by every thread of the session."""

    def __init__(
        self,
        session: Callable[[], SparkSession],
        log: DeltaTables,
        lock: threading.RLock,
    ) -> None:
        self._session = session
        self._log = log
        self._write_lock = lock

    def options(
        self,
        ref: str,
        transactions: Mapping[str, int] | None,
        metadata: Mapping[str, str] | None,
    ) -> tuple[tuple[str, int] | None, str | None]:
        """The one app transaction Spark's writer records in the commit's ``txn`` action
        (the first one not yet recorded: Delta skips a write whose transaction it has
        seen, which the core decides itself) and the commit's ``userMetadata``."""
        values = {delta_log.WRITER: writer(), **(metadata or {})}
        primary: tuple[str, int] | None = None
        if transactions:
            values[delta_log.TRANSACTIONS] = json.dumps(dict(transactions), sort_keys=True)
            for app, version in transactions.items():
                seen = self._log.consumed(ref, app)
                if seen is None or version > seen:
                    primary = (app, int(version))
                    break
        return primary, json.dumps(values, sort_keys=True)

    def save(
        self,
        ref: str,
        data: DataFrame,
        mode: str,
        *,
        partition_by: Sequence[str] = (),
        transactions: Mapping[str, int] | None = None,
        metadata: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> int:
        txn, user = self.options(ref, transactions, metadata)
        writer = data.write.format("delta").mode(mode)
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        for key, value in (options or {}).items():
            writer = writer.option(key, value)
        if txn is not None:
            writer = writer.option("txnAppId", txn[0]).option("txnVersion", str(txn[1]))
        if user is not None:
            writer = writer.option("userMetadata", user)
        with self._write_lock:
            writer.save(self._log.uri(ref))
        version = self._log.version(ref)
        assert version is not None
        return version

    @contextmanager
    def _merge_commit(
        self,
        ref: str,
        transactions: Mapping[str, int] | None,
        metadata: Mapping[str, str] | None,
    ) -> Iterator[None]:
        """Session conf that puts the app transaction and metadata on a MERGE's commit,
        held under the write lock and cleared afterwards."""
        txn, user = self.options(ref, transactions, metadata)
        conf = self._session().conf
        with self._write_lock:
            try:
                if txn is not None:
                    conf.set(_TXN_CONF[0], txn[0])
                    conf.set(_TXN_CONF[1], str(txn[1]))
                if user is not None:
                    conf.set(_METADATA_CONF, user)
                yield
            finally:
                for key in (*_TXN_CONF, _METADATA_CONF):
                    conf.unset(key)

    def merge(
        self,
        ref: str,
        source: DataFrame,
        statement: str,
        *,
        transactions: Mapping[str, int] | None,
        metadata: Mapping[str, str] | None,
    ) -> dict[str, int]:
        """Run ``statement`` (MERGE INTO {target} t USING {source} s ...) in one commit
        that records ``transactions``; the commit's operation metrics, or {} when it
        committed nothing."""
        view = f"shoplake_source_{uuid.uuid4().hex}"
        source.createOrReplaceTempView(view)
        before = self._log.version(ref)
        try:
            with self._merge_commit(ref, transactions, metadata):
                target = f"delta.{quote(self._log.uri(ref))}"
                self._session().sql(statement.format(target=target, source=view)).collect()
        finally:
            self._session().catalog.dropTempView(view)
        if self._log.version(ref) == before:
            return {}
        last = self._log.history(ref, 1)[0]
        metrics = last.get("operationMetrics") or {}
        assert isinstance(metrics, dict)
        return {str(k): int(v) for k, v in metrics.items()}
