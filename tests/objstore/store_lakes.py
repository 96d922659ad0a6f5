"""Reading a lake on a store back for comparison with a local one."""

from __future__ import annotations

import polars as pl
from emulators import Store
from polars.testing import assert_frame_equal

from lakes import comparable

RUN_SPECIFIC = ("_batch_id", "_ingested_at", "run_id", "quarantined_at", "_source")
"""Columns that differ between two runs of the same files (ids, clocks, file locations)."""


def store_tables(store: Store, lake_key: str, layers: tuple[str, ...]) -> list[str]:
    found = set()
    for key in store.keys(f"{lake_key}/"):
        parts = key[len(lake_key) + 1 :].split("/")
        if len(parts) > 3 and parts[0] in layers and parts[2] == "_delta_log":
            found.add(f"{parts[0]}.{parts[1]}")
    return sorted(found)


def assert_same_lake(local: str, store: Store, lake_key: str) -> dict[str, int]:
    """Every silver, gold and quarantine table of the store's lake equals the local one."""
    from pathlib import Path

    layers = ("silver", "gold", "quarantine")
    expected_names = sorted(
        f"{layer}.{p.name}"
        for layer in layers
        for p in (Path(local) / layer).glob("*")
        if (p / "_delta_log").is_dir()
    )
    assert store_tables(store, lake_key, layers) == expected_names
    counts: dict[str, int] = {}
    for ref in expected_names:
        layer, _, name = ref.partition(".")
        expected = comparable(pl.read_delta(f"{local}/{layer}/{name}"), RUN_SPECIFIC)
        actual = comparable(pl.read_delta(store.uri(f"{lake_key}/{layer}/{name}")), RUN_SPECIFIC)
        try:
            assert_frame_equal(actual, expected, check_exact=False, abs_tol=0.005, rel_tol=0)
        except AssertionError as err:
            raise AssertionError(f"{ref}: {err}") from None
        counts[ref] = expected.height
    return counts
