"""Table kinds: how a table's flow turns its inputs into commits.

A kind is data the runner dispatches on, not flags scattered through code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import narwhals as nw


@dataclass(frozen=True)
class Append:
    """Append-only and incremental: each run sees only the rows its streaming
    input committed since the last run, and appends what it returns.

    Example::

        @pipeline.table(layer="silver", kind=Append())
        def clicks(bronze_clicks): ...
    """

    name: str = "append"


@dataclass(frozen=True)
class Upsert:
    """Incremental, one row per key: new input rows are deduplicated on ``keys``
    (the latest ``sequence_by`` wins; without it, the first seen wins) and
    merged into the table, so a key's newest version replaces the older one.

    Example::

        @pipeline.table(layer="silver", kind=Upsert(keys=["order_id"], sequence_by="updated_at"))
        def orders(bronze_orders): ...
    """

    keys: tuple[str, ...]
    sequence_by: str | None = None
    name: str = "upsert"

    def __init__(self, keys: list[str] | tuple[str, ...], sequence_by: str | None = None) -> None:
        object.__setattr__(self, "keys", tuple(keys))
        object.__setattr__(self, "sequence_by", sequence_by)
        object.__setattr__(self, "name", "upsert")


@dataclass(frozen=True)
class Materialized:
    """Recomputed from the full inputs whenever one of them has a new version,
    and replaced atomically (one overwrite commit)."""

    name: str = "materialized"


class PartitionPlan(Protocol):
    """How a :class:`Partitioned` table finds and recomputes the partitions a batch touched.

    ``changed`` maps an input parameter to the rows of that input which may have
    changed since the table last consumed it (old and new images of every row in a
    rewritten file: a superset); inputs without changes are absent. ``inputs`` maps
    every input parameter to its full current rows.
    """

    def affected(
        self, changed: Mapping[str, nw.LazyFrame], inputs: Mapping[str, nw.LazyFrame]
    ) -> nw.LazyFrame:
        """The partition keys (the table's ``by`` columns) whose rows may differ now."""
        ...

    def restrict(
        self, keys: nw.LazyFrame, inputs: Mapping[str, nw.LazyFrame]
    ) -> Mapping[str, nw.LazyFrame]:
        """``inputs`` narrowed to what the table function needs to recompute exactly the
        partitions in ``keys`` (include neighbours a partition's values depend on)."""
        ...


@dataclass(frozen=True)
class Partitioned:
    """Like :class:`Materialized`, but a batch recomputes only the partitions it touched.

    On each run the ``plan`` derives the affected keys (values of the ``by``
    output columns) from the changed input rows, the table function runs on the
    inputs the plan narrows to those keys, and the result replaces exactly the
    rows of those keys in one commit carrying the input versions consumed. The
    first run, a full refresh, or an input whose changes cannot be read
    recompute everything.

    ``store="partitions"`` (for few keys, such as months) stores the table
    Delta-partitioned by ``by`` and replaces whole partitions (replaceWhere);
    ``store="rows"`` (for many keys, such as customers) keeps one unpartitioned
    table and replaces the keys' rows with one MERGE that also deletes the rows of
    affected keys the function no longer returns.

    Example::

        @pipeline.table(layer="gold", kind=Partitioned(by=["month"], plan=OrderMonths()))
        def monthly_revenue(silver_orders, silver_order_items): ...
    """

    by: tuple[str, ...]
    plan: PartitionPlan
    store: str = "partitions"
    name: str = "partitioned"

    def __init__(
        self, by: list[str] | tuple[str, ...], plan: PartitionPlan, store: str = "partitions"
    ) -> None:
        object.__setattr__(self, "by", tuple(by))
        object.__setattr__(self, "plan", plan)
        object.__setattr__(self, "store", store)
        object.__setattr__(self, "name", "partitioned")

    @property
    def partition_by(self) -> tuple[str, ...]:
        """The Delta partition columns of the stored table."""
        return self.by if self.store == "partitions" else ()


@dataclass(frozen=True)
class ScdColumns:
    """Names of the columns an SCD type 2 table adds to each version."""

    valid_from: str = "valid_from"
    valid_to: str = "valid_to"
    is_current: str = "is_current"
    surrogate_key: str = "surrogate_key"


@dataclass(frozen=True)
class ApplyChanges:
    """Change data capture: apply a feed of changes (or periodic full snapshots) to a
    table, in ``sequence_by`` order, whatever order they arrive in.

    - ``scd_type=2`` keeps every version with ``valid_from``/``valid_to``/``is_current``
      and a surrogate key (names in ``columns``); ``scd_type=1`` keeps one row per key.
    - Only a change in a tracked column opens a version: ``track`` lists them, or
      ``track_except`` lists the columns that do not (default: every column except
      ``sequence_by`` and those starting with ``_``, such as the lineage column
      ``_source``). A change in an untracked column updates its version in place.
    - ``delete_when`` (a boolean column name or a narwhals expression) marks a row as a
      delete: type 2 closes the key's version at that sequence, type 1 removes the row.
    - ``ignore_null_updates``: a null in a change keeps the key's earlier value.
    - ``snapshot=True``: each distinct ``sequence_by`` value in the input is a full
      snapshot; with ``missing_as_delete=True`` a key absent from a snapshot is deleted.
      Use it for periodic full exports: as a change feed, every repeated row at a new
      sequence would be remembered inside its version (to place late changes exactly).
    - ``buckets``: the table is partitioned by a stable hash of the keys into this many
      buckets, so a batch's MERGE rewrites only the files of the keys it touches.

    A change with a null key or ``sequence_by`` is quarantined (rules ``keys_present``,
    ``sequence_by_present``), after the table's own rules.

    Example::

        @pipeline.table(
            layer="silver",
            kind=ApplyChanges(keys=["customer_id"], sequence_by="updated_at",
                              track_except=["phone"], delete_when="is_deleted"),
        )
        def customers(bronze_customers): ...
    """

    keys: tuple[str, ...]
    sequence_by: str
    scd_type: int = 2
    track: tuple[str, ...] | None = None
    track_except: tuple[str, ...] = ()
    delete_when: object = None
    ignore_null_updates: bool = False
    snapshot: bool = False
    missing_as_delete: bool = False
    buckets: int = 16
    columns: ScdColumns = ScdColumns()
    name: str = "apply_changes"

    def __init__(
        self,
        keys: list[str] | tuple[str, ...],
        sequence_by: str,
        *,
        scd_type: int = 2,
        track: list[str] | tuple[str, ...] | None = None,
        track_except: list[str] | tuple[str, ...] = (),
        delete_when: object = None,
        ignore_null_updates: bool = False,
        snapshot: bool = False,
        missing_as_delete: bool = False,
        buckets: int = 16,
        columns: ScdColumns | None = None,
    ) -> None:
        values = {
            "keys": tuple(keys),
            "sequence_by": sequence_by,
            "scd_type": scd_type,
            "track": None if track is None else tuple(track),
            "track_except": tuple(track_except),
            "delete_when": delete_when,
            "ignore_null_updates": ignore_null_updates,
            "snapshot": snapshot,
            "missing_as_delete": missing_as_delete,
            "buckets": buckets,
            "columns": columns or ScdColumns(),
            "name": "apply_changes",
        }
        for field_name, value in values.items():
            object.__setattr__(self, field_name, value)

    def problems(self) -> list[str]:
        """What is wrong with these options, each naming the fix."""
        found: list[str] = []
        if not self.keys:
            found.append("ApplyChanges needs at least one key column: keys=[...]")
        if not self.sequence_by:
            found.append("ApplyChanges needs sequence_by=<column that orders the changes>")
        if self.scd_type not in (1, 2):
            found.append(f"scd_type must be 1 or 2, not {self.scd_type!r}")
        if self.track is not None and self.track_except:
            found.append("give track=[...] or track_except=[...], not both")
        if self.missing_as_delete and not self.snapshot:
            found.append(
                "missing_as_delete=True needs snapshot=True (only a full snapshot "
                "says which keys are gone)"
            )
        if self.delete_when is not None and not isinstance(self.delete_when, str | nw.Expr):
            found.append(
                "delete_when must be a boolean column name or a narwhals expression, "
                f"not {self.delete_when!r}"
            )
        if not 1 <= self.buckets <= 4096:
            found.append(f"buckets must be between 1 and 4096, not {self.buckets}")
        names = [
            self.columns.valid_from,
            self.columns.valid_to,
            self.columns.is_current,
            self.columns.surrogate_key,
        ]
        if len(set(names)) != len(names):
            found.append(f"the SCD column names must differ: {names}")
        return found


Kind = Append | Upsert | Materialized | Partitioned | ApplyChanges

INCREMENTAL_KINDS = (Append, Upsert, ApplyChanges)
