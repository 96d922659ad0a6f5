"""Table and column metadata declared with a table: description, owner, tags, column
comments, PII classes and declared column lineage.

The declaration is turned into a :class:`~shoplake.engines.base.TableMetadata` — the
engine-neutral shape every Delta reader sees: the description in the table's metadata,
owner and tags as table properties, comments and classes as column metadata.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from shoplake.engines.base import TableMetadata
from shoplake.errors import DefinitionError

OWNER = "shoplake.owner"
TAG_PREFIX = "shoplake.tag."
COMMENT = "comment"  # the key Spark, Databricks and DuckDB use for a column comment
PII = "shoplake.pii"
LINEAGE = "shoplake.lineage"
"""Declared column lineage, comma-separated ``layer.table.column`` refs."""

_CLASS = re.compile(r"^[a-z][a-z0-9_]*$")
_TAG = re.compile(r"^[A-Za-z0-9_.-]+$")
_COLUMN_REF = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Column:
    """What a column holds, declared with its table.

    ``pii`` names the column's personal-data class (``email``, ``phone``, ``name``,
    ``address``...; None: not personal data): masking policies are set per class.
    ``lineage`` names the input columns (``layer.table.column``) it is computed from,
    for tables whose lineage cannot be derived from their code.

    Example::

        @pipeline.table(layer="silver", columns={
            "email": Column("Customer e-mail", pii="email"),
            "revenue": Column("Net revenue", lineage=["silver.order_items.line_amount"]),
        })
    """

    description: str = ""
    pii: str | None = None
    lineage: Sequence[str] = ()
    """Stored as a tuple."""

    def __post_init__(self) -> None:
        if self.pii is not None and not _CLASS.fullmatch(self.pii):
            raise DefinitionError(
                f"Column(pii={self.pii!r}): a class is lower_snake_case, e.g. 'email'"
            )
        refs = tuple(self.lineage)
        bad = [r for r in refs if not _COLUMN_REF.fullmatch(r)]
        if bad:
            raise DefinitionError(
                f"Column(lineage={bad}): name input columns as 'layer.table.column'"
            )
        object.__setattr__(self, "lineage", refs)


def check_metadata(
    where: str,
    owner: str,
    tags: Mapping[str, str] | None,
    columns: Mapping[str, Column] | None,
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, Column], ...]]:
    """The declaration as frozen tuples, or a DefinitionError naming the fix."""
    for key, value in (tags or {}).items():
        if not _TAG.fullmatch(key) or not isinstance(value, str):
            raise DefinitionError(
                f"{where}: tag {key!r}={value!r}; tag names are letters, digits, '_', '.', '-' "
                "and values are text"
            )
    for name, column in (columns or {}).items():
        if not isinstance(column, Column):
            raise DefinitionError(
                f"{where}: columns[{name!r}] must be Column('description', pii=...), not {column!r}"
            )
    if not isinstance(owner, str):
        raise DefinitionError(f"{where}: owner must be text (a team or a person)")
    return tuple(sorted((tags or {}).items())), tuple((columns or {}).items())


def table_metadata(
    description: str,
    owner: str,
    tags: Iterable[tuple[str, str]],
    columns: Iterable[tuple[str, Column]],
) -> TableMetadata:
    """The stored form of a declaration."""
    properties = {OWNER: owner} if owner else {}
    properties.update({f"{TAG_PREFIX}{k}": v for k, v in tags})
    stored: dict[str, dict[str, str]] = {}
    for name, column in columns:
        values: dict[str, str] = {}
        if column.description:
            values[COMMENT] = column.description
        if column.pii:
            values[PII] = column.pii
        if column.lineage:
            values[LINEAGE] = ",".join(column.lineage)
        if values:
            stored[name] = values
    return TableMetadata(description, properties, stored)


def owner_of(meta: TableMetadata) -> str:
    return meta.properties.get(OWNER, "")


def tags_of(meta: TableMetadata) -> dict[str, str]:
    """Tags stored as properties (a removed tag is stored empty: Delta cannot unset)."""
    return {
        k.removeprefix(TAG_PREFIX): v
        for k, v in sorted(meta.properties.items())
        if k.startswith(TAG_PREFIX) and v
    }


def pii_of(meta: TableMetadata) -> dict[str, str]:
    """``{column: PII class}`` of the stored metadata."""
    return {c: v[PII] for c, v in meta.columns.items() if v.get(PII)}
