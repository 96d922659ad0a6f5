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


Kind = Append | Upsert | Materialized | Partitioned

INCREMENTAL_KINDS = (Append, Upsert)
