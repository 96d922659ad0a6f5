"""Comparing two lakes table by table, as the Spark engine's tests need: the same landing
files run through two engines must give the same rows."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

RUN_SPECIFIC = ("_batch_id", "_ingested_at", "run_id", "quarantined_at")
"""Columns that legitimately differ between two runs (ids and clocks of the run)."""
CENT = 0.005


def _comparable(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.drop([c for c in RUN_SPECIFIC if c in frame.columns])
    if "record" in frame.columns:
        # A quarantined row keeps its raw record, lineage included: drop the run's part.
        def clean(text: str | None) -> str | None:
            if text is None:
                return None
            row = {k: v for k, v in json.loads(text).items() if k not in RUN_SPECIFIC}
            return json.dumps(row, sort_keys=True)

        frame = frame.with_columns(pl.col("record").map_elements(clean, return_dtype=pl.String))
    frame = frame.select(sorted(frame.columns))
    # Sort on everything, floats to the cent: two engines may differ in the last bit.
    keys = [
        pl.col(c).round(2) if dtype.is_float() else pl.col(c)
        for c, dtype in frame.schema.items()
        if not dtype.is_nested()
    ]
    return frame.sort(keys, nulls_last=True)


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
        expected = _comparable(pl.read_delta(str(expected_lake / layer / name)))
        actual = _comparable(pl.read_delta(str(actual_lake / layer / name)))
        assert actual.columns == expected.columns, ref
        try:
            assert_frame_equal(
                actual, expected, check_dtypes=True, check_exact=False, abs_tol=CENT, rel_tol=0
            )
        except AssertionError as err:
            raise AssertionError(f"{ref}: {err}") from None
        counts[ref] = expected.height
    return counts
