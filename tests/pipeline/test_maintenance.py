"""Maintenance: fewer files, the same rows at every version, a safe vacuum minimum."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import narwhals as nw
import polars as pl
import pytest

from shoplake import Materialized, Pipeline, ShoplakeError
from shoplake.engines.polars_delta import PolarsDeltaEngine
from shoplake.pipeline.maintenance import MIN_RETENTION_HOURS, maintain, maintain_table


def _small_files(lake: Path, commits: int = 12) -> PolarsDeltaEngine:
    engine = PolarsDeltaEngine(str(lake))
    for i in range(commits):
        frame = nw.from_native(
            pl.DataFrame({"id": list(range(i * 10, i * 10 + 10)), "tier": ["a", "b"] * 5}),
            eager_only=True,
        )
        engine.append("silver.facts", frame)
    return engine


def _rows(lake: Path, version: int | None = None) -> pl.DataFrame:
    return pl.read_delta(str(lake / "silver" / "facts"), version=version).sort("id")


def test_compaction_keeps_every_version_s_rows_and_reduces_files(tmp_path: Path) -> None:
    engine = _small_files(tmp_path)
    before = engine.info("silver.facts")
    assert before is not None and before.files == 12
    result = maintain_table(engine, "silver.facts")
    assert result.operation == "compact"
    assert result.files_rewritten == 12 and result.files_after == 1
    assert _rows(tmp_path).equals(_rows(tmp_path, before.version))
    # A second pass has nothing to do.
    again = maintain_table(engine, "silver.facts")
    assert again.operation == "skipped" and again.version_after == result.version_after


def test_zorder_uses_the_declared_columns(tmp_path: Path) -> None:
    engine = _small_files(tmp_path)
    pipeline = Pipeline("t")

    @pipeline.table(layer="silver", kind=Materialized(), zorder_by=["tier"])
    def facts(silver_other: nw.LazyFrame) -> nw.LazyFrame:
        return silver_other

    [result] = maintain(pipeline, engine)
    assert result.operation == "zorder" and result.zorder_by == ("tier",)
    assert result.files_after == 1
    assert _rows(tmp_path).height == 120


def test_vacuum_refuses_a_retention_below_the_minimum_unless_forced(tmp_path: Path) -> None:
    engine = _small_files(tmp_path)
    with pytest.raises(ShoplakeError, match="below the safe minimum of 168 h"):
        maintain_table(engine, "silver.facts", retention_hours=1)
    result = maintain_table(engine, "silver.facts", retention_hours=0, force=True)
    assert result.files_vacuumed == 12  # the compacted-away small files
    assert _rows(tmp_path).height == 120
    assert MIN_RETENTION_HOURS == 168


@contextmanager
def _reading(lake: Path) -> Iterator[list[int]]:
    """A thread reading the table over and over meanwhile; the row counts it saw."""
    counts: list[int] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            counts.append(_rows(lake).height)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        yield counts
    finally:
        done.set()
        reader.join()


def test_a_reader_during_maintenance_always_sees_every_row(tmp_path: Path) -> None:
    engine = _small_files(tmp_path, commits=30)
    with _reading(tmp_path) as counts:
        maintain_table(engine, "silver.facts")
    assert counts and set(counts) == {300}


def test_every_skips_tables_with_few_commits(tmp_path: Path) -> None:
    engine = _small_files(tmp_path, commits=3)
    pipeline = Pipeline("t")
    assert maintain(pipeline, engine, every=5) == []
    assert [r.ref for r in maintain(pipeline, engine, every=3)] == ["silver.facts"]


class _Conflicting(PolarsDeltaEngine):
    def compact(self, ref: str):  # type: ignore[no-untyped-def]
        if ref == "silver.facts":
            raise RuntimeError("CommitFailedError: a concurrent transaction won")
        return super().compact(ref)


def test_a_failed_table_is_reported_and_the_others_are_maintained(tmp_path: Path) -> None:
    _small_files(tmp_path, commits=3)
    engine = _Conflicting(str(tmp_path))
    frame = nw.from_native(pl.DataFrame({"id": [1]}), eager_only=True)
    engine.append("silver.other", frame)
    engine.append("silver.other", frame)
    results = {r.ref: r for r in maintain(Pipeline("t"), engine)}
    assert results["silver.facts"].operation == "failed"
    assert "run maintain again" in results["silver.facts"].message
    assert results["silver.other"].operation == "compact"
    assert _rows(tmp_path).height == 30


@pytest.mark.slow  # a real process killed with SIGKILL
@pytest.mark.parametrize("point", ["after_compact", "after_vacuum"])
def test_sigkill_during_maintenance_with_a_reader_running_loses_nothing(
    tmp_path: Path, point: str
) -> None:
    import os
    import subprocess
    import sys

    from shoplake.pipeline.faults import FAULT_ENV

    _small_files(tmp_path, commits=30)
    script = (
        "import sys; from shoplake.engines import create_engine; "
        "from shoplake.pipeline.maintenance import maintain_table; "
        "maintain_table(create_engine(sys.argv[1]), 'silver.facts', retention_hours=0, force=True)"
    )
    with _reading(tmp_path) as counts:
        env = {**os.environ, FAULT_ENV: f"{point}:kill"}
        killed = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env)
        assert killed.returncode == -9
        # The rerun finishes the job; the reader never saw a row missing or doubled.
        subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True)
    assert counts and set(counts) == {300}
    assert _rows(tmp_path)["id"].to_list() == list(range(300))
    assert PolarsDeltaEngine(str(tmp_path)).info("silver.facts").files == 1  # type: ignore[union-attr]
