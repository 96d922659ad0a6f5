"""Table kinds: how a table's flow turns its inputs into commits.

A kind is a frozen, validated value the runner dispatches on, not flags scattered
through code: each checks its arguments when it is built (a mistake raises
:class:`~shoplake.errors.DefinitionError` naming the kind and the fix), its name is
fixed by its class, and it says what it can do through properties the flow code
asks (``incremental``, ``replaces``, ``partial``, ``keys``, ``partition_by``,
``required_columns``, ``stored_schema``, ``implied_rules``). Where the write itself
differs per kind, :mod:`shoplake.pipeline.writes` dispatches once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Protocol

import narwhals as nw

from shoplake.errors import DefinitionError
from shoplake.pipeline.expectations import Rule, expect


def _columns(kind: str, argument: str, value: Sequence[str], *, required: bool) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(c, str) and c for c in value):
        raise DefinitionError(f"{kind}({argument}=...) takes a list of column names, not {value!r}")
    if required and not value:
        raise DefinitionError(f"{kind}({argument}=[...]) needs at least one column")
    return tuple(value)


@dataclass(frozen=True)
class TableKind:
    """What every kind says about itself (class-level: a kind cannot be renamed)."""

    name: ClassVar[str]
    incremental: ClassVar[bool] = False
    """Reads only the rows its stream input committed since the last run."""
    replaces: ClassVar[bool] = False
    """Each commit replaces what the table held (in full, or the parts it recomputed)."""
    partial: ClassVar[bool] = False
    """Recomputes only the parts of the table a batch touched (``plan``)."""

    @property
    def keys(self) -> tuple[str, ...]:
        """The columns that identify a row (none for kinds without keys)."""
        return ()

    @property
    def partition_by(self) -> tuple[str, ...]:
        """The Delta partition columns the kind imposes on the stored table."""
        return ()

    @property
    def required_columns(self) -> tuple[str, ...]:
        """The columns the table function's output must have for the kind to write it."""
        return ()

    def stored_schema(self, output: Mapping[str, nw.dtypes.DType]) -> dict[str, nw.dtypes.DType]:
        """The stored table's columns (what downstream tables read) for a function
        output of schema ``output``."""
        return dict(output)

    def implied_rules(self) -> tuple[Rule, ...]:
        """Rules the kind adds after the table's own: rows it could not place."""
        return ()


@dataclass(frozen=True)
class Append(TableKind):
    """Append-only and incremental: each run sees only the rows its streaming
    input committed since the last run, and appends what it returns.

    Example::

        @pipeline.table(layer="silver", kind=Append())
        def clicks(bronze_clicks): ...
    """

    name: ClassVar[str] = "append"
    incremental: ClassVar[bool] = True


@dataclass(frozen=True)
class Upsert(TableKind):
    """Incremental, one row per key: new input rows are deduplicated on ``keys``
    (the latest ``sequence_by`` wins; without it, the first seen wins) and
    merged into the table, so a key's newest version replaces the older one.

    Example::

        @pipeline.table(layer="silver", kind=Upsert(keys=["order_id"], sequence_by="updated_at"))
        def orders(bronze_orders): ...
    """

    name: ClassVar[str] = "upsert"
    incremental: ClassVar[bool] = True
    key_columns: tuple[str, ...] = field(default=())
    sequence_by: str | None = None

    def __init__(self, keys: Sequence[str], sequence_by: str | None = None) -> None:
        object.__setattr__(self, "key_columns", _columns("Upsert", "keys", keys, required=True))
        if sequence_by is not None and (not isinstance(sequence_by, str) or not sequence_by):
            raise DefinitionError(
                f"Upsert(sequence_by=...) takes a column name, not {sequence_by!r}"
            )
        object.__setattr__(self, "sequence_by", sequence_by)

    @property
    def keys(self) -> tuple[str, ...]:
        return self.key_columns

    @property
    def required_columns(self) -> tuple[str, ...]:
        return (*self.key_columns, *([self.sequence_by] if self.sequence_by else []))


@dataclass(frozen=True)
class Materialized(TableKind):
    """Recomputed from the full inputs whenever one of them has a new version,
    and replaced atomically (one overwrite commit)."""

    name: ClassVar[str] = "materialized"
    replaces: ClassVar[bool] = True


class PartitionPlan(Protocol):
    """How a :class:`Partitioned` table finds and recomputes the partitions a batch touched.

    ``changed`` maps an input parameter to the rows of that input which may have
    changed since the table last consumed it (old and new images of every row in a
    rewritten file: a superset); inputs without changes are absent. ``inputs`` maps
    every input parameter to its full current rows.
    """

    def affected(
        self, changed: Mapping[str, nw.LazyFrame[Any]], inputs: Mapping[str, nw.LazyFrame[Any]]
    ) -> nw.LazyFrame[Any]:
        """The partition keys (the table's ``by`` columns) whose rows may differ now."""
        ...

    def restrict(
        self, keys: nw.LazyFrame[Any], inputs: Mapping[str, nw.LazyFrame[Any]]
    ) -> Mapping[str, nw.LazyFrame[Any]]:
        """``inputs`` narrowed to what the table function needs to recompute exactly the
        partitions in ``keys`` (include neighbours a partition's values depend on)."""
        ...


@dataclass(frozen=True)
class Partitioned(TableKind):
    """Like :class:`Materialized`, but a batch recomputes only the partitions it touched.

    On each run the ``plan`` derives the affected keys (values of the ``by``
    output columns) from the changed input rows, the table function runs on the
    inputs the plan narrows to those keys, and the result replaces exactly those
    Delta partitions (the table is partitioned by ``by``) in one commit
    (replaceWhere) carrying the input versions consumed. The first run, a full
    refresh, or an input whose changes cannot be read recompute everything. For few
    keys, such as months; for many keys, such as customers, use :class:`ReplaceRows`.

    Example::

        @pipeline.table(layer="gold", kind=Partitioned(by=["month"], plan=OrderMonths()))
        def monthly_revenue(silver_orders, silver_order_items): ...
    """

    name: ClassVar[str] = "partitioned"
    replaces: ClassVar[bool] = True
    partial: ClassVar[bool] = True
    unit: ClassVar[str] = "partition"
    """What one affected key names: a Delta partition (or, for ReplaceRows, a key's rows)."""
    by: tuple[str, ...]
    plan: PartitionPlan

    def __init__(self, by: Sequence[str], plan: PartitionPlan) -> None:
        kind = type(self).__name__
        object.__setattr__(self, "by", _columns(kind, "by", by, required=True))
        if not callable(getattr(plan, "affected", None)) or not callable(
            getattr(plan, "restrict", None)
        ):
            raise DefinitionError(
                f"{kind}(plan=...) needs an object with affected() and restrict() "
                f"(a PartitionPlan), not {plan!r}"
            )
        object.__setattr__(self, "plan", plan)

    @property
    def keys(self) -> tuple[str, ...]:
        return self.by

    @property
    def partition_by(self) -> tuple[str, ...]:
        return self.by

    @property
    def required_columns(self) -> tuple[str, ...]:
        return self.by


@dataclass(frozen=True, init=False)
class ReplaceRows(Partitioned):
    """Like :class:`Partitioned`, for many keys (such as customers): the table stays
    unpartitioned and a batch replaces exactly the rows of the keys it touched, with one
    MERGE that also deletes the rows of affected keys the function no longer returns.

    A key may own several rows: ``rows`` names the columns that tell one row from
    another (default: ``by``, one row per key), which the MERGE matches on.

    Example::

        @pipeline.table(layer="gold", kind=ReplaceRows(by=["customer_id"], plan=OrderCustomers()))
        def customer_lifetime_value(silver_orders): ...
    """

    name: ClassVar[str] = "replace_rows"
    unit: ClassVar[str] = "key"
    rows: tuple[str, ...]

    def __init__(
        self, by: Sequence[str], plan: PartitionPlan, rows: Sequence[str] | None = None
    ) -> None:
        super().__init__(by, plan)
        chosen = self.by if rows is None else _columns("ReplaceRows", "rows", rows, required=True)
        missing = [c for c in self.by if c not in chosen]
        if missing:
            raise DefinitionError(
                f"ReplaceRows(rows=[...]) must include the by columns; add {', '.join(missing)}"
            )
        object.__setattr__(self, "rows", chosen)

    @property
    def partition_by(self) -> tuple[str, ...]:
        return ()

    @property
    def required_columns(self) -> tuple[str, ...]:
        return self.rows


@dataclass(frozen=True)
class ScdColumns:
    """Names of the columns an SCD type 2 table adds to each version."""

    valid_from: str = "valid_from"
    valid_to: str = "valid_to"
    is_current: str = "is_current"
    surrogate_key: str = "surrogate_key"


@dataclass(frozen=True)
class ApplyChanges(TableKind):
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

    name: ClassVar[str] = "apply_changes"
    incremental: ClassVar[bool] = True
    key_columns: tuple[str, ...] = field(default=())
    sequence_by: str = ""
    scd_type: int = 2
    track: tuple[str, ...] | None = None
    track_except: tuple[str, ...] = ()
    delete_when: object = None
    ignore_null_updates: bool = False
    snapshot: bool = False
    missing_as_delete: bool = False
    buckets: int = 16
    columns: ScdColumns = field(default_factory=ScdColumns)

    def __init__(
        self,
        keys: Sequence[str],
        sequence_by: str,
        *,
        scd_type: int = 2,
        track: Sequence[str] | None = None,
        track_except: Sequence[str] = (),
        delete_when: object = None,
        ignore_null_updates: bool = False,
        snapshot: bool = False,
        missing_as_delete: bool = False,
        buckets: int = 16,
        columns: ScdColumns | None = None,
    ) -> None:
        values = {
            "key_columns": tuple(keys),
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
        }
        for field_name, value in values.items():
            object.__setattr__(self, field_name, value)
        found = self.problems()
        if found:
            raise DefinitionError(f"ApplyChanges: {'; '.join(found)}")

    @property
    def keys(self) -> tuple[str, ...]:
        return self.key_columns

    @property
    def required_columns(self) -> tuple[str, ...]:
        return (*self.key_columns, self.sequence_by)

    @property
    def tracks_history(self) -> bool:
        """Keeps every version of a key (SCD type 2) rather than only the latest."""
        return self.scd_type == 2

    def stored_schema(self, output: Mapping[str, nw.dtypes.DType]) -> dict[str, nw.dtypes.DType]:
        schema = dict(output)
        if self.tracks_history:
            names = self.columns
            if self.sequence_by in schema:
                schema[names.valid_from] = schema[self.sequence_by]
                schema[names.valid_to] = schema[self.sequence_by]
            schema[names.is_current] = nw.Boolean()
            schema[names.surrogate_key] = nw.Int64()
        return schema

    def implied_rules(self) -> tuple[Rule, ...]:
        """A change without its key or its sequence cannot be placed in history:
        quarantine it."""
        keys, sequence_by = self.key_columns, self.sequence_by
        key_present = ~nw.any_horizontal(*[nw.col(k).is_null() for k in keys], ignore_nulls=False)
        return (
            expect(
                "keys_present",
                key_present,
                action="quarantine",
                severity="critical",
                description=f"the change names its key ({', '.join(keys)})",
            ),
            expect(
                "sequence_by_present",
                ~nw.col(sequence_by).is_null(),
                action="quarantine",
                severity="high",
                description=f"the change has a {sequence_by} to order it by",
            ),
        )

    def _value(self) -> tuple[object, ...]:
        # A narwhals expression has no value equality (== builds another expression), so
        # two kinds are equal only when they share the very same delete_when expression.
        return tuple(
            ("expr", id(v)) if isinstance(v := getattr(self, f.name), nw.Expr) else v
            for f in fields(self)
        )

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, ApplyChanges)
        return self._value() == other._value()

    def __hash__(self) -> int:
        return hash(self._value())

    def problems(self) -> list[str]:
        """What is wrong with these options, each naming the fix."""
        found: list[str] = []
        if not self.key_columns:
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


Kind = Append | Upsert | Materialized | Partitioned | ReplaceRows | ApplyChanges
KINDS = (Append, Upsert, Materialized, Partitioned, ReplaceRows, ApplyChanges)
