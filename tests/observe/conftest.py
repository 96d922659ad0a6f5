"""Fixtures: a small shop lake after one run."""

from __future__ import annotations

from pathlib import Path

import pytest
from observe_shop import Shop, make_shop


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """A lake after one run (read-only for the tests that share it)."""
    return make_shop(tmp_path_factory.mktemp("shop"))


@pytest.fixture
def fresh_shop(tmp_path: Path) -> Shop:
    """A lake of its own, for tests that run the pipeline again or write alert state."""
    return make_shop(tmp_path)
