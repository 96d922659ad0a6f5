"""Applying SCD plans to a Delta table: read only the rows a batch can alter (the touched
hash buckets' files), and write a plan (``polars_cdc.plan_changes``) with one MERGE
restricted to those buckets, so delta-rs prunes every other file (delta-rs #2573, #2802).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
from deltalake import CommitProperties, DeltaTable

from shoplake.engines.base import CdcSpec
from shoplake.engines.polars_cdc import ACTION, BUCKET, MATCH, CdcPlan, bucket_of, with_bucket


def _scan(table: DeltaTable, spec: CdcSpec, parts: pl.Series, keys: pl.DataFrame) -> pl.DataFrame:
    """Rows of ``keys`` in the files of partitions ``parts`` only."""
    wanted = sorted(set(parts.to_list()))
    files = table.file_uris(file_pruning_predicate=[(BUCKET, "in", [str(p) for p in wanted])])
    if not files:
        return pl.DataFrame()
    rows = (
        pl.scan_parquet(files)
        .join(keys.lazy().select(spec.keys), on=list(spec.keys), how="semi", nulls_equal=True)
        .collect()
    )
    return with_bucket(rows, spec)


def read_affected(table: DeltaTable, spec: CdcSpec, changes: pl.DataFrame) -> pl.DataFrame:
    """The stored rows a batch can alter, reading the touched partitions only.

    Type 2 reads the current rows of the batch's keys, and closed history only for keys
    that need it: a change at or before the current version's start (late), or a key
    with no current row (new or deleted).
    """
    keys = list(spec.keys)
    first = "__first_change"
    keyed = changes.group_by(keys).agg(pl.col(spec.sequence_by).min().alias(first))
    bucket = bucket_of(keyed, spec)
    if spec.scd_type == 1:
        return _scan(table, spec, bucket, keyed)
    current = _scan(table, spec, bucket * 2 + 1, keyed)
    if current.height:
        starts = current.select(*keys, spec.valid_from)
        joined = keyed.join(starts, on=keys, how="left", nulls_equal=True)
    else:
        joined = keyed.with_columns(pl.lit(None).alias(spec.valid_from))
    late = pl.col(spec.valid_from).is_null() | (pl.col(first) <= pl.col(spec.valid_from))
    mask = joined.select(late.alias("m"))["m"]
    need = joined.filter(mask)
    if need.height == 0:
        return current
    closed = _scan(table, spec, bucket_of(need, spec) * 2, need)
    parts = [f for f in (current, closed) if f.height]
    return pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame()


def read_all(table: DeltaTable) -> pl.DataFrame:
    frame = pl.from_arrow(table.to_pyarrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def merge_plan(
    table: DeltaTable,
    plan: CdcPlan,
    spec: CdcSpec,
    properties: CommitProperties,
) -> Mapping[str, int]:
    """Apply the plan's source with one MERGE restricted to the touched buckets."""
    columns = [c for c in plan.source.columns if c not in (ACTION, MATCH)]
    match = [*spec.keys] if spec.scd_type == 1 else [*spec.keys, spec.valid_from]
    part_list = ", ".join(str(b) for b in plan.buckets or (-1,))
    # The literal partition list lets delta-rs skip every other partition's files.
    predicate = " AND ".join(
        [
            f"t.{BUCKET} IN ({part_list})",
            f"t.{BUCKET} = s.{MATCH}",
            *[f't."{c}" = s."{c}"' for c in match],
        ]
    )
    assignments = {f'"{c}"': f's."{c}"' for c in columns}
    metrics = (
        table.merge(
            plan.source.to_arrow(compat_level=pl.CompatLevel.oldest()),
            predicate,
            source_alias="s",
            target_alias="t",
            merge_schema=True,
            commit_properties=properties,
        )
        .when_matched_delete(predicate=f"s.{ACTION} = 'delete'")
        .when_matched_update(updates=assignments, predicate=f"s.{ACTION} = 'upsert'")
        .when_not_matched_insert(updates=assignments, predicate=f"s.{ACTION} = 'upsert'")
        .execute()
    )
    return {k: int(v) for k, v in metrics.items() if isinstance(v, int | float)}
