"""Names every part of shoplake shares, defined once: lineage columns, source formats,
schema modes, column hints, the stream bronze schema, and the clock.

Imports only the standard library, so the core, the stages, the adapters and the
engines can all read it. Types are named by strings here (``"string"``,
``"int64"``, ``"datetime[us]"``...); each library turns them into its own dtypes.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType

# -- lineage: the columns a bronze row carries besides its data ------------------------
INGESTED_AT = "_ingested_at"
"""When the row was ingested (naive UTC)."""
SOURCE = "_source"
"""Where the row came from: ``path:line`` of a landing file, or ``topic/partition/offset``."""
BATCH_ID = "_batch_id"
"""The batch (run id) that ingested the row."""
RESCUED_DATA = "_rescued_data"
"""Undeclared columns and values that did not fit their hint, as JSON."""
CORRUPT_RECORD = "_corrupt_record"
"""The key under which ``_rescued_data`` keeps the text of a line that could not be parsed."""
PROVENANCE = (SOURCE, BATCH_ID)
"""The lineage a quarantine row keeps of the row it holds."""

BRONZE_LINEAGE: Mapping[str, str] = MappingProxyType(
    {
        RESCUED_DATA: "string",
        SOURCE: "string",
        INGESTED_AT: "datetime[us]",
        BATCH_ID: "string",
    }
)
"""The lineage columns of a file source's bronze table, and their types."""

# -- file sources ------------------------------------------------------------------------
CSV = "csv"
JSONL = "jsonl"
PARQUET = "parquet"
SUFFIXES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {CSV: (".csv",), JSONL: (".jsonl", ".json", ".ndjson"), PARQUET: (".parquet",)}
)
"""Each source format and the file suffixes it reads (each also as ``.gz``)."""
FORMATS = tuple(SUFFIXES)

# What a source does with columns it did not declare (``docs/ingestion.md``):
RESCUE = "rescue"
"""Keep them, as JSON in ``_rescued_data`` (the default)."""
ADD_NEW_COLUMNS = "addNewColumns"
"""Add them to the table as text columns."""
FAIL_ON_NEW_COLUMNS = "failOnNewColumns"
"""Refuse the file."""
IGNORE_NEW_COLUMNS = "none"
"""Drop them."""
SCHEMA_MODES = (RESCUE, ADD_NEW_COLUMNS, FAIL_ON_NEW_COLUMNS, IGNORE_NEW_COLUMNS)
HINT_TYPES = ("string", "int", "float", "bool", "date", "datetime")
"""The types a source's ``hints`` may give a column."""

# -- event streams -----------------------------------------------------------------------
STREAM_BRONZE: Mapping[str, str] = MappingProxyType(
    {
        "topic": "string",
        "partition": "int32",
        "offset": "int64",
        "key": "binary",
        "timestamp": "datetime[ms]",
        "value": "binary",
        SOURCE: "string",
        BATCH_ID: "string",
        INGESTED_AT: "datetime[us]",
    }
)
"""The columns of an event stream's bronze table: one row per message, as received."""


def utcnow() -> datetime:
    """Now, in UTC, without a time zone: how every timestamp in the lake is kept."""
    return datetime.now(UTC).replace(tzinfo=None)


def utc_from_epoch(seconds: float) -> datetime:
    """A Unix time (file mtimes, Delta commit stamps) as a naive UTC datetime, like utcnow()."""
    return datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None)


_role = "shoplake"


def name_writer(role: str) -> None:
    """What this process is (``shoplake watch``, ``shoplake stream``…): every commit it
    makes records ``writer()``, so a writer that loses a commit race can say who won."""
    global _role
    _role = role


def writer() -> str:
    return f"{_role} (pid {os.getpid()} on {socket.gethostname()})"
