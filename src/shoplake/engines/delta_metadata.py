"""Table metadata on delta-rs: read it back, carry it on writes, update it in place.

The description lives in the Delta ``metaData`` action, owner and tags in its
``configuration`` (table properties), column comments and classes in the schema's field
metadata — where Spark, Databricks, DuckDB and Polars look. Updates go through
``DeltaTable.alter`` and commit metadata only; no data file is rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pyarrow as pa
from deltalake import DeltaTable

from shoplake.engines import delta_log
from shoplake.engines.base import TableMetadata

OURS = "shoplake."
"""Properties and column keys under this prefix are shoplake's to set and clear."""
_COMMENT = "comment"
METADATA_OPERATIONS = delta_log.METADATA_OPERATIONS
"""delta-rs's names for the commits ``update`` makes: they change no rows."""


def stored(table: DeltaTable) -> TableMetadata:
    meta = table.metadata()
    fields = json.loads(table.schema().to_json())["fields"]
    columns = {
        f["name"]: {k: str(v) for k, v in f.get("metadata", {}).items() if v != ""} for f in fields
    }
    properties = {k: v for k, v in meta.configuration.items() if v is not None and v != ""}
    return TableMetadata(meta.description or "", properties, columns)


def with_field_metadata(data: pa.Table, metadata: TableMetadata | None) -> pa.Table:
    """``data`` with the declared column metadata on its fields, so a commit that creates
    the table or replaces its schema keeps the comments."""
    if metadata is None or not metadata.columns:
        return data
    fields = [
        f.with_metadata({**(f.metadata or {}), **metadata.columns[f.name]})
        if f.name in metadata.columns
        else f
        for f in data.schema
    ]
    return data.cast(pa.schema(fields, metadata=data.schema.metadata))


def _changes(current: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str]:
    """What to set: differing values, and ours no longer wanted cleared (Delta cannot unset
    a property or a field key, so an empty value stands for none)."""
    changes = {k: v for k, v in wanted.items() if current.get(k) != v}
    for key, value in current.items():
        if key not in wanted and value and (key.startswith(OURS) or key == _COMMENT):
            changes[key] = ""
    return changes


def update(table: DeltaTable, wanted: TableMetadata) -> int:
    """Commit what differs between the table's metadata and ``wanted``: one commit for the
    description, one for the properties, one per changed column. Returns the commits."""
    have = stored(table)
    commits = 0
    if wanted.description != have.description and (wanted.description or have.description):
        table.alter.set_table_description(wanted.description)
        commits += 1
    properties = _changes(
        {k: v for k, v in have.properties.items() if k.startswith(OURS)}, wanted.properties
    )
    if properties:
        table.alter.set_table_properties(properties, raise_if_not_exists=False)
        commits += 1
    for column, current in have.columns.items():
        changes = _changes(current, wanted.columns.get(column, {}))
        if changes:
            table.alter.set_column_metadata(column, changes)
            commits += 1
    return commits
