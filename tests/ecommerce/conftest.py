"""Fixtures of the e-commerce tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from incremental_shop import make_history


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, Path]:
    """A generated shop's history after one run, ``(landing, lake)``, that the incremental
    tests add batches to (test_end_to_end has a shop of its own)."""
    return make_history(tmp_path)
