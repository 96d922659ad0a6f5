"""The shared names: the spellings users type and tables hold, and the clock helpers."""

from __future__ import annotations

import ast
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shoplake import names


def test_schema_modes_and_formats_keep_their_documented_spellings() -> None:
    assert names.SCHEMA_MODES == ("rescue", "addNewColumns", "failOnNewColumns", "none")
    assert names.FORMATS == ("csv", "jsonl", "parquet")
    assert names.SUFFIXES[names.JSONL] == (".jsonl", ".json", ".ndjson")


def test_lineage_columns_of_both_bronze_schemas() -> None:
    assert list(names.BRONZE_LINEAGE) == ["_rescued_data", "_source", "_ingested_at", "_batch_id"]
    assert list(names.STREAM_BRONZE)[-3:] == ["_source", "_batch_id", "_ingested_at"]


def test_utc_helpers_are_naive_utc() -> None:
    assert names.utc_from_epoch(0) == datetime(1970, 1, 1)
    assert names.utc_from_epoch(1_700_000_000.5) == datetime(2023, 11, 14, 22, 13, 20, 500000)
    now = names.utcnow()
    assert now.tzinfo is None
    assert abs(now - datetime.now(UTC).replace(tzinfo=None)) < timedelta(seconds=5)


def test_names_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(names.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported - {"__future__"} <= sys.stdlib_module_names
