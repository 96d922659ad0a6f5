"""The lake described in Unity Catalog's shapes (its open-source REST API specification).

One catalog (``shoplake`` unless told otherwise) holds one schema per layer (bronze,
silver, gold, quarantine); each Delta table is an ``EXTERNAL`` ``DELTA`` table whose
``storage_location`` is the table's folder or URI, whose ``table_id`` is the Delta
table's own id, whose comment, properties and column comments come from its Delta
metadata. Field names and enums follow the specification, so Unity Catalog clients
(Polars' ``pl.Catalog``, DuckDB's ``unity_catalog`` extension, ``unitycatalog-client``)
read them as they would a Unity Catalog server's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from shoplake.engines.polars_delta import PolarsDeltaEngine

SHARED_LAYERS = ("bronze", "silver", "gold", "quarantine")
LAYER_COMMENTS = {
    "bronze": "Landing files as received, with their lineage",
    "silver": "Cleaned, typed, deduplicated and conformed tables",
    "gold": "Business tables: the star schema and the marts",
    "quarantine": "Rows refused by data-quality rules, with the reason",
}


class ErrorBody(BaseModel):
    error_code: str
    message: str


class CatalogInfo(BaseModel):
    name: str
    comment: str | None = None
    properties: dict[str, str] = {}
    options: dict[str, str] = {}
    owner: str | None = None
    created_at: int | None = None
    created_by: str | None = None
    updated_at: int | None = None
    updated_by: str | None = None
    id: str
    storage_root: str | None = None
    storage_location: str | None = None


class ListCatalogsResponse(BaseModel):
    catalogs: list[CatalogInfo]
    next_page_token: str | None = None


class SchemaInfo(BaseModel):
    name: str
    catalog_name: str
    comment: str | None = None
    properties: dict[str, str] = {}
    full_name: str
    owner: str | None = None
    created_at: int | None = None
    created_by: str | None = None
    updated_at: int | None = None
    updated_by: str | None = None
    schema_id: str
    storage_location: str | None = None


class ListSchemasResponse(BaseModel):
    schemas: list[SchemaInfo]
    next_page_token: str | None = None


class ColumnInfo(BaseModel):
    name: str
    type_text: str
    type_json: str
    type_name: str
    type_precision: int = 0
    type_scale: int = 0
    type_interval_type: str | None = None
    position: int
    comment: str | None = None
    nullable: bool = True
    partition_index: int | None = None


class TableInfo(BaseModel):
    name: str
    catalog_name: str
    schema_name: str
    table_type: str = "EXTERNAL"
    data_source_format: str = "DELTA"
    columns: list[ColumnInfo]
    storage_location: str
    comment: str | None = None
    properties: dict[str, str] = {}
    owner: str | None = None
    created_at: int | None = None
    created_by: str | None = None
    updated_at: int | None = None
    updated_by: str | None = None
    table_id: str


class ListTablesResponse(BaseModel):
    tables: list[TableInfo]
    next_page_token: str | None = None


class GenerateTemporaryTableCredential(BaseModel):
    table_id: str
    operation: str


class TemporaryCredentials(BaseModel):
    expiration_time: int
    url: str
    azure_user_delegation_sas: dict[str, str] | None = None
    aws_temp_credentials: dict[str, str] | None = None


class QueryRequest(BaseModel):
    query: str = Field(min_length=1)
    max_rows: int | None = Field(default=None, ge=1)


def sent_query(raw: bytes) -> str | None:
    """The ``query`` of a body whose other fields may be wrong (the audit log keeps it)."""
    try:
        sent = json.loads(raw)
    except (ValueError, RecursionError):  # deeply nested JSON is a bad body, not a bug
        return None
    query = sent.get("query") if isinstance(sent, dict) else None
    return query if isinstance(query, str) else None


_SIMPLE = {
    "string": ("STRING", "string"),
    "long": ("LONG", "bigint"),
    "integer": ("INT", "int"),
    "short": ("SHORT", "smallint"),
    "byte": ("BYTE", "tinyint"),
    "float": ("FLOAT", "float"),
    "double": ("DOUBLE", "double"),
    "boolean": ("BOOLEAN", "boolean"),
    "binary": ("BINARY", "binary"),
    "date": ("DATE", "date"),
    "timestamp": ("TIMESTAMP", "timestamp"),
    "timestamp_ntz": ("TIMESTAMP_NTZ", "timestamp_ntz"),
}
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")


def _type_text(kind: Any, naive_as: str = "timestamp_ntz") -> str:
    """A Delta type as Spark SQL's catalog string (``bigint``, ``array<string>`` ...)."""
    if isinstance(kind, str):
        return naive_as if kind == "timestamp_ntz" else _SIMPLE.get(kind, (kind.upper(), kind))[1]
    if kind["type"] == "array":
        return f"array<{_type_text(kind['elementType'], naive_as)}>"
    if kind["type"] == "map":
        key, value = _type_text(kind["keyType"], naive_as), _type_text(kind["valueType"], naive_as)
        return f"map<{key},{value}>"
    fields = ",".join(f"{f['name']}:{_type_text(f['type'], naive_as)}" for f in kind["fields"])
    return f"struct<{fields}>"


def column_info(
    field: dict[str, Any], position: int, partitions: list[str], naive_as: str = "timestamp_ntz"
) -> ColumnInfo:
    kind = field["type"]
    precision = scale = 0
    if isinstance(kind, str):
        decimal = _DECIMAL.match(kind)
        if decimal:
            type_name = "DECIMAL"
            precision, scale = int(decimal.group(1)), int(decimal.group(2))
        else:
            type_name = _SIMPLE.get(kind, (kind.upper(), kind))[0]
    else:
        type_name = str(kind["type"]).upper()
    comment = (field.get("metadata") or {}).get("comment")
    name = str(field["name"])
    return ColumnInfo(
        name=name,
        type_text=_type_text(kind, naive_as),
        type_json=json.dumps(field),
        type_name=type_name,
        type_precision=precision,
        type_scale=scale,
        position=position,
        comment=str(comment) if comment is not None else None,
        nullable=bool(field.get("nullable", True)),
        partition_index=partitions.index(name) if name in partitions else None,
    )


def storage_location(engine: PolarsDeltaEngine, ref: str) -> str:
    uri = engine.uri(ref)
    return uri if "://" in uri else Path(uri).resolve().as_uri()


def table_info(
    engine: PolarsDeltaEngine, catalog: str, ref: str, naive_as: str = "timestamp_ntz"
) -> TableInfo | None:
    """The table as Unity Catalog describes one, from its Delta log; None if absent.

    ``naive_as`` is the type text of a naive timestamp column: Spark's ``timestamp_ntz``,
    except for clients that cannot parse it (see ``client_naive_type``)."""
    table = engine.delta_table(ref)
    if table is None:
        return None
    meta = table.metadata()
    layer, _, name = ref.partition(".")
    schema = json.loads(table.schema().to_json())
    partitions = list(meta.partition_columns)
    columns = [column_info(f, i, partitions, naive_as) for i, f in enumerate(schema["fields"])]
    history = table.history(limit=1)
    updated = int(history[0].get("timestamp") or 0) if history else None
    properties = {str(k): str(v) for k, v in (meta.configuration or {}).items()}
    return TableInfo(
        name=name,
        catalog_name=catalog,
        schema_name=layer,
        columns=columns,
        storage_location=storage_location(engine, ref),
        comment=meta.description or None,
        properties=properties,
        owner=properties.get("shoplake.owner"),
        created_at=int(meta.created_time) if meta.created_time else None,
        updated_at=updated,
        table_id=str(meta.id),
    )


def client_naive_type(user_agent: str) -> str:
    """How to name a naive timestamp column for this client. DuckDB's unity_catalog
    extension (1.5) knows no ``timestamp_ntz`` and refuses a whole schema holding one;
    told ``timestamp`` it binds the column, and its ``delta_scan`` reads the values with
    the type the Delta log gives. Every other client gets the specification's name."""
    return "timestamp" if user_agent.lower().startswith("duckdb/") else "timestamp_ntz"
