"""Applying a change feed as SCD history on the Spark engine.

The plan is the engine-neutral one (``polars_cdc.plan_changes``): the batch of changes
is already on the driver, and the stored rows it can alter are read from the touched
hash buckets' files only (``delta_cdc.read_affected``), so both are small. The plan's
source is then applied with one Spark MERGE whose predicate names the touched buckets,
so Delta prunes every other partition: the table is rewritten only where keys changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import narwhals as nw
import polars as pl

from shoplake.engines import delta_cdc, polars_cdc
from shoplake.engines.base import CdcSpec, ChangesResult, WriteResult
from shoplake.engines.polars_cdc import ACTION, BUCKET, MATCH, CdcPlan

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from shoplake.engines.delta_tables import DeltaTables


def quote(name: str) -> str:
    """A column name quoted for Spark SQL."""
    return "`" + name.replace("`", "``") + "`"


class ChangeWriter(Protocol):
    """What applying changes needs from the Spark engine."""

    def version(self, ref: str) -> int | None: ...

    def spark_frame(self, frame: nw.DataFrame[Any]) -> DataFrame: ...

    def merge(
        self,
        ref: str,
        source: DataFrame,
        statement: str,
        *,
        transactions: Mapping[str, int] | None,
        metadata: Mapping[str, str] | None,
    ) -> dict[str, int]: ...

    def append(
        self,
        ref: str,
        frame: nw.DataFrame[Any],
        *,
        partition_by: Sequence[str] = (),
        transactions: Mapping[str, int] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> WriteResult: ...

    def overwrite(
        self,
        ref: str,
        frame: nw.DataFrame[Any],
        *,
        partition_by: Sequence[str] = (),
        transactions: Mapping[str, int] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> WriteResult: ...


def merge_statement(plan: CdcPlan, spec: CdcSpec) -> str:
    """The MERGE applying ``plan``'s source (``{target}``, ``{source}`` left to fill)."""
    columns = [c for c in plan.source.columns if c not in (ACTION, MATCH)]
    match = [*spec.keys] if spec.scd_type == 1 else [*spec.keys, spec.valid_from]
    part_list = ", ".join(str(b) for b in plan.buckets or (-1,))
    # The literal partition list lets Delta skip every other partition's files.
    predicate = " AND ".join(
        [
            f"t.{BUCKET} IN ({part_list})",
            f"t.{BUCKET} = s.{MATCH}",
            *[f"t.{quote(c)} = s.{quote(c)}" for c in match],
        ]
    )
    names = ", ".join(quote(c) for c in columns)
    values = ", ".join(f"s.{quote(c)}" for c in columns)
    updates = ", ".join(f"{quote(c)} = s.{quote(c)}" for c in columns)
    return (
        f"MERGE INTO {{target}} t USING {{source}} s ON {predicate} "
        f"WHEN MATCHED AND s.{ACTION} = 'delete' THEN DELETE "
        f"WHEN MATCHED AND s.{ACTION} = 'upsert' THEN UPDATE SET {updates} "
        f"WHEN NOT MATCHED AND s.{ACTION} = 'upsert' THEN INSERT ({names}) VALUES ({values})"
    )


def apply_changes(
    engine: ChangeWriter,
    log: DeltaTables,
    ref: str,
    frame: nw.DataFrame[Any],
    *,
    spec: CdcSpec,
    full: bool,
    transactions: Mapping[str, int] | None,
    metadata: Mapping[str, str] | None,
) -> ChangesResult:
    """See ``Engine.apply_changes``."""
    changes = frame.to_native()
    assert isinstance(changes, pl.DataFrame)
    table = None if full else log.delta_table(ref)
    if table is None:
        empty = pl.DataFrame()
        plan = polars_cdc.plan_changes(changes, empty, spec, known_keys=empty)
        written = engine.overwrite(
            ref,
            nw.from_native(plan.rows, eager_only=True),
            partition_by=[BUCKET],
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
        known: pl.DataFrame | None = existing.select(spec.keys)
    else:
        existing = delta_cdc.read_affected(table, spec, changes)
        known = None
    plan = polars_cdc.plan_changes(changes, existing, spec, known_keys=known)
    metrics: Mapping[str, int] = {}
    if plan.source.height:
        source = engine.spark_frame(nw.from_native(plan.source, eager_only=True))
        metrics = engine.merge(
            ref,
            source,
            merge_statement(plan, spec),
            transactions=transactions,
            metadata=metadata,
        )
    if metrics:
        version = engine.version(ref)
        assert version is not None
    else:
        # Nothing changed (a replay): still record what was consumed.
        empty_frame = nw.from_native(plan.rows.head(0), eager_only=True)
        version = engine.append(
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
        files_rewritten=int(metrics.get("numTargetFilesRemoved", 0)),
        rows_rewritten=int(metrics.get("numTargetRowsCopied", 0))
        + int(metrics.get("numTargetRowsUpdated", 0))
        + int(metrics.get("numTargetRowsDeleted", 0)),
    )
