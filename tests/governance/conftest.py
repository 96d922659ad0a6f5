"""One demo lake (300 orders) shared by the governance tests that only read it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplake.cli import app


@pytest.fixture(scope="session")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("governed-demo")
    result = CliRunner().invoke(app, ["demo", "--dir", str(folder), "--orders", "300"])
    assert result.exit_code == 0, result.output
    return folder / "lake"
