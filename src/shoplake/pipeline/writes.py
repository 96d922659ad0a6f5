"""Committing a flow's kept rows the way its kind says.

The one place where the write truly differs per kind: everything else in the flow
asks the kind's properties (see :mod:`shoplake.pipeline.kinds`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import narwhals as nw

from shoplake.engines.base import DELETE, CdcSpec, Engine
from shoplake.pipeline.kinds import ApplyChanges, Partitioned, ReplaceRows, Upsert
from shoplake.pipeline.tables import TableDef


@dataclass(frozen=True)
class Written:
    """What a flow's commit did."""

    version: int
    rows: int
    """Rows inserted, updated (and for a change feed, deleted)."""
    duplicates: int = 0
    """Input rows that changed nothing (a key's older or repeated version)."""


def write_rows(
    engine: Engine,
    definition: TableDef,
    kept: nw.LazyFrame[Any],
    kept_rows: int,
    *,
    full: bool,
    transactions: Mapping[str, int],
    metadata: Mapping[str, str],
) -> Written:
    """Commit ``kept`` (``kept_rows`` rows, still the engine's plan) to the table: in
    full (``full``, or a kind that replaces) or as its kind adds rows (append, merge on
    keys, apply changes). The engine writes straight from the plan."""
    target, kind = definition.ref, definition.kind
    match kind:
        case Upsert():
            # Read twice (its count, then the write): computed once.
            with engine.persist(_latest_per_key(kept, kind)) as unique:
                unique_rows = int(engine.collect(unique.select(nw.len())).item())
                duplicates = kept_rows - unique_rows
                if full:
                    written = engine.overwrite(
                        target,
                        unique,
                        partition_by=definition.partition_by,
                        transactions=transactions,
                        metadata=metadata,
                    )
                else:
                    written = engine.upsert(
                        target,
                        unique,
                        keys=kind.keys,
                        sequence_by=kind.sequence_by,
                        transactions=transactions,
                        metadata=metadata,
                    )
                    duplicates += unique_rows - written.rows_inserted
            return Written(
                written.version, written.rows_inserted + written.rows_updated, duplicates
            )
        case ApplyChanges():
            applied = engine.apply_changes(
                target,
                kept.with_columns(_delete_flag(kind).alias(DELETE)),
                spec=cdc_spec(kind),
                full=full,
                transactions=transactions,
                metadata=metadata,
            )
            # A change that opened no version and deleted nothing repeated what was known. (A
            # late change splitting a version opens two: never report fewer than none.)
            return Written(
                applied.version,
                applied.rows_inserted + applied.rows_updated + applied.rows_deleted,
                max(0, kept_rows - applied.opened - applied.deleted_keys),
            )
        case _:
            write = engine.overwrite if full or kind.replaces else engine.append
            written = write(
                target,
                kept,
                partition_by=kind.partition_by if kind.partial else definition.partition_by,
                transactions=transactions,
                metadata=metadata,
            )
            return Written(written.version, written.rows_inserted)


def replace_affected(
    engine: Engine,
    target: str,
    kind: Partitioned,
    kept: nw.LazyFrame[Any],
    keys: nw.DataFrame[Any],
    *,
    transactions: Mapping[str, int],
    metadata: Mapping[str, str],
) -> Written:
    """Replace exactly what the affected ``keys`` name with ``kept``, in one commit: their
    Delta partitions (:class:`Partitioned`) or their rows (:class:`ReplaceRows`)."""
    if isinstance(kind, ReplaceRows):
        written = engine.replace_rows(
            target,
            kept,
            keys,
            partition_by=list(kind.by),
            match_on=list(kind.rows),
            transactions=transactions,
            metadata=metadata,
        )
    else:
        written = engine.replace_partitions(
            target,
            kept,
            keys,
            partition_by=list(kind.by),
            transactions=transactions,
            metadata=metadata,
        )
    return Written(written.version, written.rows_inserted)


def cdc_spec(kind: ApplyChanges) -> CdcSpec:
    """The engine's view of an ApplyChanges kind."""
    names = kind.columns
    return CdcSpec(
        keys=kind.keys,
        sequence_by=kind.sequence_by,
        scd_type=kind.scd_type,
        track=kind.track,
        track_except=kind.track_except,
        ignore_null_updates=kind.ignore_null_updates,
        snapshot=kind.snapshot,
        missing_as_delete=kind.missing_as_delete,
        buckets=kind.buckets,
        valid_from=names.valid_from,
        valid_to=names.valid_to,
        is_current=names.is_current,
        surrogate_key=names.surrogate_key,
    )


def _delete_flag(kind: ApplyChanges) -> nw.Expr:
    rule = kind.delete_when
    if rule is None:
        return nw.lit(False)
    # The kind checked delete_when when it was built: a column name or an expression.
    expr = nw.col(rule) if isinstance(rule, str) else rule
    assert isinstance(expr, nw.Expr)
    return expr.cast(nw.Boolean).fill_null(value=False)


def _latest_per_key(frame: nw.LazyFrame[Any], kind: Upsert) -> nw.LazyFrame[Any]:
    """One row per key: the latest by ``sequence_by`` (without one, the first to arrive),
    as a window the engine computes. Rows reach here in no guaranteed order (joins and
    sorts are not stable on every engine), so rows with an equal sequence are ordered by
    their lineage columns (``_source`` and the like; all columns when there are none):
    the same row wins on every run and every engine, whatever threads did the work."""
    columns = frame.collect_schema().names()
    sequence = [kind.sequence_by] if kind.sequence_by else []
    lineage = [c for c in columns if c.startswith("_") and c not in sequence]
    ties = lineage or [c for c in columns if c not in sequence]
    # Nulls order first: a row with a sequence beats one without.
    if sequence:
        return frame.unique(list(kind.keys), keep="last", order_by=[*sequence, *ties])
    return frame.unique(list(kind.keys), keep="first", order_by=ties)
