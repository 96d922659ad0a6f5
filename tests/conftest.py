"""Fixtures shared by the pipeline and e-commerce tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backends import BACKENDS, Backend
from lakes import LakeHarness, MakeHarness, delta_versions
from shoplake import Pipeline


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """The one local Spark session (``local[2]``, Delta, two shuffle partitions) every
    Spark test shares: starting one costs seconds."""
    pytest.importorskip("pyspark")
    from shoplake.engines.spark_session import SparkSettings, build_session

    session = build_session(
        SparkSettings(master="local[2]", conf={"spark.sql.shuffle.partitions": "2"})
    )
    yield session
    session.stop()


@pytest.fixture(params=BACKENDS, ids=str)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each narwhals backend the transformations must run on, in turn: ``backend.lazy(rows)``
    makes its input frames, ``backend.polars(result)`` / ``backend.rows(result)`` read back."""
    if request.param.name == "pyspark":
        request.getfixturevalue("spark_session")  # the shared session, built first
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def versions_of() -> Callable[[Path], dict[str, int]]:
    """``versions_of(lake)``: the latest Delta version of every table in a lake."""
    return delta_versions


@pytest.fixture
def lake_harness(tmp_path: Path) -> MakeHarness:
    """``lake_harness(pipeline, harness=LakeHarness)``: an empty landing folder and lake in
    ``tmp_path`` with the pipeline that runs over them (``harness``: a subclass with a
    test file's own helpers)."""

    def make(pipeline: Pipeline, harness: type[LakeHarness] = LakeHarness) -> LakeHarness:
        return harness(tmp_path, pipeline)

    return make  # type: ignore[return-value]
