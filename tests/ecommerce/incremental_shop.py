"""The generated shop the incremental-gold tests grow batch by batch."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from lakes import LakeHarness
from shoplake.ecommerce.generator import generate
from shoplake.ecommerce.pipeline import build_pipeline

NOW = datetime(2027, 1, 31)
"""The pipeline's clock in these tests: after the generated history and every batch."""


def make_history(root: Path) -> tuple[Path, Path]:
    """1,500 generated orders (seed 3) after one complete run: ``(landing, lake)``."""
    harness = LakeHarness(root, build_pipeline(now=NOW))
    generate(harness.landing, orders=1500, seed=3)
    result = harness.run()
    assert result.status == "completed", [f.message for f in result.flows if f.message]
    return harness.landing, harness.lake
