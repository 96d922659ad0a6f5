"""Change data capture on Polars frames: turn a batch of changes and the affected keys'
stored rows into SCD history — a pure plan (:func:`plan_changes`), no I/O. Reading the
affected rows and applying the plan with one MERGE is ``engines/delta_cdc.py``.

How a batch is applied (type 2):

1. The changes are deduplicated on (keys, sequence) and, for snapshots, completed with
   a delete for every known key a snapshot lacks (when asked).
2. Only the affected keys' rows are read from the target: the table is partitioned by
   a stable hash bucket of the keys, so this reads the touched buckets' files only.
3. Their history is rebuilt as an ordered list of events (each stored version is an
   event at its ``valid_from``; a gap before the next version is a delete), the new
   changes are slotted in by sequence, and runs of equal tracked values collapse into
   one version. A late change therefore lands in the middle of history, and a change
   that alters no tracked column opens nothing.
4. The rebuilt rows are compared with the stored ones; only rows that differ go into
   the MERGE source, and the MERGE predicate names the touched buckets, so delta-rs
   prunes every other file (see delta-rs #2573, #2802).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from shoplake.engines.base import DELETE, CdcSpec

BUCKET = "_scd_part"
"""The partition column: a stable hash bucket of the keys, times two plus ``is_current``
for type 2, so current rows and closed history live in separate files."""
MATCH = "__match_part"
"""The bucket a MERGE source row must match (-1: none, an insert)."""
CHANGES = "_scd_changes"
"""Type 2 (not snapshots): the sequence values of the changes inside a version other than
its first and last, so a late change can split the version exactly where it belongs."""
_POS = "__pos"
_ORIGIN = "__origin"
ACTION = "__action"
"""``upsert`` or ``delete``: what the MERGE does with a source row."""
_SEGMENT = "__segment"
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@dataclass(frozen=True)
class CdcPlan:
    """A batch turned into row operations on the target, before any write."""

    source: pl.DataFrame  # the MERGE source: rows to insert/update, plus deletes
    rows: pl.DataFrame  # the affected keys' rows after the batch
    inserted: int
    updated: int
    deleted: int
    opened: int  # versions (type 2) or keys (type 1) added, net
    closed_by_delete: int  # keys newly deleted
    changes: int  # distinct changes in the batch
    buckets: tuple[int, ...]


def stable_hash(frame: pl.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """A 64-bit FNV-1a hash of the columns' text, the same on every run and version of
    Polars (``Expr.hash`` is not stable across releases, and buckets live on disk)."""
    if frame.height == 0:
        return np.zeros(0, dtype=np.uint64)
    text = frame.select(
        pl.concat_str(
            [pl.col(c).cast(pl.String).fill_null("\x1e") for c in columns], separator="\x1f"
        ).alias("t")
    )["t"]
    raw = np.array(text.to_list(), dtype=np.bytes_)
    width = raw.dtype.itemsize
    codes = raw.view(np.uint8).reshape(len(raw), width)
    hashed = np.full(len(raw), _FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(width):
            byte = codes[:, j].astype(np.uint64)
            # Padding bytes (0) are skipped, so the width of the longest value never matters.
            hashed = np.where(byte != 0, (hashed ^ byte) * _FNV_PRIME, hashed)
    return hashed


def bucket_of(frame: pl.DataFrame, spec: CdcSpec) -> pl.Series:
    buckets = stable_hash(frame, spec.keys) % np.uint64(spec.buckets)
    return pl.Series("__bucket", buckets.astype(np.int32))


def with_bucket(frame: pl.DataFrame, spec: CdcSpec) -> pl.DataFrame:
    """Add the partition column: a row's bucket (type 2: and whether it is current)."""
    bucket = bucket_of(frame, spec)
    if spec.scd_type == 1:
        return frame.with_columns(bucket.alias(BUCKET))
    current = frame[spec.is_current].cast(pl.Int32)
    return frame.with_columns((bucket * 2 + current).alias(BUCKET))


def _keeps_changes(spec: CdcSpec) -> bool:
    # A daily snapshot repeats every key: recording each would rewrite every row daily.
    return spec.scd_type == 2 and not spec.snapshot


def _stored_columns(spec: CdcSpec, values: Sequence[str]) -> list[str]:
    inner = [CHANGES] if _keeps_changes(spec) else []
    return [*spec.keys, *values, *spec.history_columns, *inner, BUCKET]


def _snapshot_deletes(
    changes: pl.DataFrame, known_keys: pl.DataFrame, spec: CdcSpec
) -> pl.DataFrame:
    """A delete at each snapshot for every known key the snapshot does not list."""
    keys = list(spec.keys)
    snapshots = changes.select(spec.sequence_by).unique()
    parts = [changes.select(keys)]
    if known_keys.height:
        parts.append(known_keys.select(keys))
    every = pl.concat(parts, how="vertical_relaxed").unique()
    absent = every.join(snapshots, how="cross").join(
        changes.select(*keys, spec.sequence_by),
        on=[*keys, spec.sequence_by],
        how="anti",
        nulls_equal=True,
    )
    return absent.with_columns(pl.lit(True).alias(DELETE))


def _events_from_rows(rows: pl.DataFrame, spec: CdcSpec, values: Sequence[str]) -> pl.DataFrame:
    """Stored type 2 versions as events, plus a delete event where a version ends in a gap.

    A version stands for the run of changes from ``valid_from`` to its last change (the
    stored ``sequence_by``), with the ones in between in ``CHANGES``; each becomes an
    event again, so a late change landing inside the run splits it exactly there. (The
    events carry the version's newest untracked values: those of older changes in the
    run are not kept.)
    """
    keys = list(spec.keys)
    seq = spec.sequence_by
    first = rows.select(*keys, *values, pl.col(spec.valid_from).alias(_POS)).with_columns(
        pl.col(_POS).alias(seq)
    )
    last = rows.filter(pl.col(seq) > pl.col(spec.valid_from)).select(
        *keys, *values, pl.col(seq).alias(_POS)
    )
    parts = [first, last]
    if CHANGES in rows.columns:
        inner = rows.filter(pl.col(CHANGES).is_not_null()).select(*keys, *values, CHANGES)
        inner = inner.explode(CHANGES).drop(seq).rename({CHANGES: _POS})
        parts.append(inner.with_columns(pl.col(_POS).alias(seq)))
    versions = pl.concat(parts, how="diagonal_relaxed").with_columns(
        pl.lit(False).alias(DELETE), pl.lit(0).alias(_ORIGIN)
    )
    ends = rows.filter(pl.col(spec.valid_to).is_not_null()).select(
        *keys, pl.col(spec.valid_to).alias(_POS)
    )
    starts = rows.select(*keys, pl.col(spec.valid_from).alias(_POS))
    gaps = ends.join(starts, on=[*keys, _POS], how="anti", nulls_equal=True).with_columns(
        pl.lit(True).alias(DELETE), pl.lit(0).alias(_ORIGIN)
    )
    return pl.concat([versions, gaps], how="diagonal_relaxed")


def _ordered(events: pl.DataFrame, spec: CdcSpec, values: Sequence[str]) -> pl.DataFrame:
    """Events per key in sequence order, one per position (the later-sequenced, else the
    incoming one wins), with null updates filled from the key's previous event if asked."""
    keys = list(spec.keys)
    seq = spec.sequence_by
    ordered = events.sort([*keys, _POS, seq, _ORIGIN], nulls_last=False).unique(
        [*keys, _POS], keep="last", maintain_order=True
    )
    if spec.ignore_null_updates:
        fill = (pl.col(_ORIGIN) == 1) & ~pl.col(DELETE)
        ordered = ordered.with_columns(
            pl.when(fill & pl.col(c).is_null())
            .then(pl.col(c).forward_fill().over(keys))
            .otherwise(pl.col(c))
            .alias(c)
            for c in values
            if c != seq
        )
    return ordered


def _same_key(spec: CdcSpec, offset: int) -> pl.Expr:
    """Whether the row ``offset`` rows away belongs to the same key (rows sorted by key)."""
    return pl.all_horizontal(
        [pl.col(k).eq_missing(pl.col(k).shift(offset)) for k in spec.keys]
    ).fill_null(False)


def _history(events: pl.DataFrame, spec: CdcSpec, values: Sequence[str]) -> pl.DataFrame:
    """Collapse ordered events into versions with contiguous validity intervals.

    ``events`` are sorted by key then position, so neighbours are compared with plain
    shifts (window functions over millions of keys are far slower)."""
    keys = list(spec.keys)
    tracked = spec.tracked([*keys, *values])
    untracked = [c for c in values if c not in tracked]
    same = pl.all_horizontal(
        [pl.col(c).eq_missing(pl.col(c).shift(1)) for c in tracked] or [pl.lit(True)]
    )
    starts = (
        ~_same_key(spec, 1)
        | (pl.col(DELETE) != pl.col(DELETE).shift(1)).fill_null(True)
        | (~pl.col(DELETE) & ~same)
    )
    marked = events.with_columns(starts.cast(pl.Int64).cum_sum().alias(_SEGMENT))
    # Within a version, untracked columns take the newest change's value.
    marked = marked.sort([_SEGMENT, spec.sequence_by], nulls_last=False)
    segments = (
        marked.group_by(_SEGMENT)
        .agg(
            *[pl.col(k).first() for k in keys],
            pl.col(_POS).min().alias(spec.valid_from),
            pl.col(DELETE).first(),
            *[pl.col(c).first() for c in tracked],
            *[pl.col(c).last() for c in untracked],
            pl.col(_POS).sort().alias(CHANGES),
        )
        .sort(_SEGMENT)
    )
    inside = pl.col(CHANGES).list.len() - 2
    segments = segments.with_columns(
        pl.when(inside > 0).then(pl.col(CHANGES).list.slice(1, inside)).alias(CHANGES)
    )
    following = pl.col(spec.valid_from).shift(-1)
    return segments.with_columns(pl.when(_same_key(spec, -1)).then(following).alias(spec.valid_to))


def _closed_by_delete(history: pl.DataFrame, spec: CdcSpec) -> int:
    """Versions followed by a delete (a key deleted at that point)."""
    after_version = _same_key(spec, 1) & ~pl.col(DELETE).shift(1).fill_null(True)
    return int(history.filter(pl.col(DELETE) & after_version).height)


def _finish_type2(history: pl.DataFrame, spec: CdcSpec, values: Sequence[str]) -> pl.DataFrame:
    rows = history.filter(~pl.col(DELETE)).with_columns(
        pl.col(spec.valid_to).is_null().alias(spec.is_current)
    )
    surrogate = stable_hash(rows, [*spec.keys, spec.valid_from]).view(np.int64)
    rows = rows.with_columns(pl.Series(spec.surrogate_key, surrogate))
    rows = with_bucket(rows, spec)
    return rows.select(_stored_columns(spec, values))


def _diff(
    old: pl.DataFrame, new: pl.DataFrame, match: list[str], columns: list[str]
) -> tuple[pl.DataFrame, int, int, int]:
    """The MERGE source: new or changed rows (upsert) and vanished rows (delete)."""
    compare = [c for c in columns if c not in match]
    if old.height == 0:
        source = new.with_columns(pl.lit("upsert").alias(ACTION), pl.lit(-1).alias(MATCH))
        return source, new.height, 0, 0
    joined = new.join(
        old.select(columns),
        on=match,
        how="full",
        suffix="__old",
        nulls_equal=True,
        coalesce=True,
    )
    in_new = pl.col(BUCKET).is_not_null()
    in_old = pl.col(f"{BUCKET}__old").is_not_null()
    differs = ~pl.all_horizontal(
        [pl.col(c).eq_missing(pl.col(f"{c}__old")) for c in compare if c != BUCKET]
        or [pl.lit(True)]
    )
    inserts = joined.filter(in_new & ~in_old)
    updates = joined.filter(in_new & in_old & differs)
    deletes = joined.filter(~in_new & in_old)
    old_part = pl.col(f"{BUCKET}__old").alias(MATCH)
    removed = deletes.select(
        [pl.col(c) if c in match else pl.col(f"{c}__old").alias(c) for c in columns]
    )
    # Each row names the partition of the stored row it replaces (-1: none), so the
    # MERGE reads only those partitions.
    source = pl.concat(
        [
            inserts.select(columns).with_columns(
                pl.lit("upsert").alias(ACTION), pl.lit(-1).alias(MATCH)
            ),
            updates.select(*columns, old_part).with_columns(pl.lit("upsert").alias(ACTION)),
            removed.with_columns(
                pl.lit("delete").alias(ACTION), deletes[f"{BUCKET}__old"].alias(MATCH)
            ),
        ],
        how="diagonal_relaxed",
    )
    return source, inserts.height, updates.height, deletes.height


def _matched_parts(source: pl.DataFrame) -> tuple[int, ...]:
    if source.height == 0:
        return ()
    return tuple(sorted(p for p in set(source[MATCH].to_list()) if p >= 0))


def _one_per_change(changes: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """One row per (keys, sequence). Rows repeating one are ordered by their lineage
    columns (``_source``...; all columns when there are none) and the last kept, so the
    same row wins whatever order an engine delivered them in (Spark's is arbitrary)."""
    repeated = changes.select(key).is_duplicated()
    if not repeated.any():
        return changes  # the common case: no sort at all
    lineage = [c for c in changes.columns if c.startswith("_") and c not in (*key, DELETE)]
    ties = lineage or [c for c in changes.columns if c not in key]
    winners = (
        changes.filter(repeated)
        .sort([*key, *ties], nulls_last=False)
        .unique(key, keep="last", maintain_order=True)
    )
    return pl.concat([changes.filter(~repeated), winners], how="vertical")


def plan_changes(
    changes: pl.DataFrame,
    existing: pl.DataFrame,
    spec: CdcSpec,
    *,
    known_keys: pl.DataFrame | None = None,
) -> CdcPlan:
    """What applying ``changes`` to the affected keys' ``existing`` rows does.

    ``changes`` has the data columns and a boolean ``DELETE`` column; rows with a null
    sequence must have been removed (the flow quarantines them). ``known_keys`` (every
    key of the table) is needed for snapshots with ``missing_as_delete``.
    """
    keys = list(spec.keys)
    values = spec.values(changes.columns)
    changes = _one_per_change(changes, [*keys, spec.sequence_by])
    n_changes = changes.height
    if spec.snapshot and spec.missing_as_delete:
        known = known_keys if known_keys is not None else existing
        deletes = _snapshot_deletes(changes, known, spec)
        changes = pl.concat([changes, deletes], how="diagonal_relaxed")
    incoming = changes.with_columns(pl.col(spec.sequence_by).alias(_POS), pl.lit(1).alias(_ORIGIN))
    if spec.scd_type == 1:
        return _plan_type1(incoming, existing, spec, values, n_changes)
    if existing.height:
        stored = _events_from_rows(existing, spec, values)
        events = pl.concat([stored, incoming], how="diagonal_relaxed")
        old_history = _history(_ordered(stored, spec, values), spec, values)
        old_closed = _closed_by_delete(old_history, spec)
    else:
        events, old_closed = incoming, 0
    history = _history(_ordered(events, spec, values), spec, values)
    rows = _finish_type2(history, spec, values)
    columns = _stored_columns(spec, values)
    old = existing.select(columns) if existing.height else existing
    source, inserted, updated, deleted = _diff(old, rows, [*keys, spec.valid_from], columns)
    return CdcPlan(
        source=source,
        rows=rows,
        inserted=inserted,
        updated=updated,
        deleted=deleted,
        opened=rows.height - old.height,
        closed_by_delete=_closed_by_delete(history, spec) - old_closed,
        changes=n_changes,
        buckets=_matched_parts(source),
    )


def _plan_type1(
    incoming: pl.DataFrame,
    existing: pl.DataFrame,
    spec: CdcSpec,
    values: Sequence[str],
    n_changes: int,
) -> CdcPlan:
    keys = list(spec.keys)
    if existing.height:
        stored = existing.select(*keys, *values).with_columns(
            pl.col(spec.sequence_by).alias(_POS),
            pl.lit(False).alias(DELETE),
            pl.lit(0).alias(_ORIGIN),
        )
        events = pl.concat([stored, incoming], how="diagonal_relaxed")
    else:
        events = incoming
    latest = (
        _ordered(events, spec, values)
        .group_by(keys, maintain_order=True)
        .last()
        .filter(~pl.col(DELETE).fill_null(False))
    )
    rows = with_bucket(latest, spec).select(_stored_columns(spec, values))
    columns = _stored_columns(spec, values)
    old = existing.select(columns) if existing.height else existing
    source, inserted, updated, deleted = _diff(old, rows, keys, columns)
    return CdcPlan(
        source=source,
        rows=rows,
        inserted=inserted,
        updated=updated,
        deleted=deleted,
        opened=inserted,
        closed_by_delete=deleted,
        changes=n_changes,
        buckets=_matched_parts(source),
    )
