"""Table kinds: how a table's flow turns its inputs into commits.

A kind is data the runner dispatches on, not flags scattered through code.
"""

from __future__ import annotations

from dataclasses import dataclass


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


Kind = Append | Upsert | Materialized

INCREMENTAL_KINDS = (Append, Upsert)
