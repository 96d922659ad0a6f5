"""Fixtures shared by the pipeline and e-commerce tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from deltalake import DeltaTable

from backends import BACKENDS, Backend


def delta_versions(lake: Path) -> dict[str, int]:
    """Every Delta table under ``lake`` as ``layer.name`` → its latest version."""
    versions: dict[str, int] = {}
    for log in sorted(Path(lake).glob("*/*/_delta_log")):
        table = log.parent
        versions[f"{table.parent.name}.{table.name}"] = DeltaTable(str(table)).version()
    return versions


@pytest.fixture(params=BACKENDS, ids=str)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each narwhals backend the transformations must run on, in turn: ``backend.lazy(rows)``
    makes its input frames, ``backend.polars(result)`` / ``backend.rows(result)`` read back."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def versions_of() -> Callable[[Path], dict[str, int]]:
    """``versions_of(lake)``: the latest Delta version of every table in a lake."""
    return delta_versions
