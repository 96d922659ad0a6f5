"""Comparing two lakes table by table, as the Spark engine's tests need: the same landing
files run through two engines must give the same rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from lakes import comparable

RUN_SPECIFIC = ("_batch_id", "_ingested_at", "run_id", "quarantined_at")
"""Columns that legitimately differ between two runs (ids and clocks of the run)."""
CENT = 0.005


def tables(lake: Path, layers: tuple[str, ...] = ("silver", "gold", "quarantine")) -> list[str]:
    return sorted(
        f"{layer}.{path.name}"
        for layer in layers
        for path in (lake / layer).glob("*")
        if (path / "_delta_log").is_dir()
    )


def assert_same_tables(
    expected_lake: Path,
    actual_lake: Path,
    layers: tuple[str, ...] = ("silver", "gold", "quarantine"),
) -> dict[str, int]:
    """Every table of ``layers`` (silver, gold and quarantine by default) of the two lakes
    holds the same rows (sorted, floats equal to the cent, run ids and clocks aside);
    returns the row counts."""
    names = tables(expected_lake, layers)
    assert names == tables(actual_lake, layers)
    counts: dict[str, int] = {}
    for ref in names:
        layer, _, name = ref.partition(".")
        expected = comparable(pl.read_delta(str(expected_lake / layer / name)), RUN_SPECIFIC)
        actual = comparable(pl.read_delta(str(actual_lake / layer / name)), RUN_SPECIFIC)
        assert actual.columns == expected.columns, ref
        try:
            assert_frame_equal(
                actual, expected, check_dtypes=True, check_exact=False, abs_tol=CENT, rel_tol=0
            )
        except AssertionError as err:
            raise AssertionError(f"{ref}: {err}") from None
        counts[ref] = expected.height
    return counts
