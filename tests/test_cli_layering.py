"""The command layer: one error handler, the bench group and its old names, --engine,
and the pipeline named once in settings."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplake.cli import app

runner = CliRunner()


def test_an_error_is_one_line_with_secrets_and_emails_masked() -> None:
    spec = "shop password=hunter2 jane.doe@example.com:build"
    result = runner.invoke(app, ["validate", "--pipeline", spec])

    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: --pipeline ")
    assert "cannot load it" in lines[0]
    assert "hunter2" not in result.output
    assert "jane.doe@example.com" not in result.output
    assert "password=***" in result.output
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback() -> None:
    result = runner.invoke(app, ["validate", "--pipeline", "nowhere:build", "--debug"])

    assert result.exit_code == 1
    assert "Traceback" in result.output
    assert "Error: --pipeline 'nowhere:build': cannot load it" in result.output


def test_an_unknown_engine_names_the_known_ones(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tables", "--lake", str(tmp_path), "--engine", "nosuch"])

    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: engine 'nosuch' is not known; choose one of: polars"
    )


def test_bench_groups_the_five_benchmarks() -> None:
    result = runner.invoke(app, ["bench", "--help"])

    assert result.exit_code == 0
    for name in ("run", "incremental", "scd2", "stream", "latency"):
        assert f" {name} " in result.output


@pytest.mark.parametrize("name", ["incremental", "scd2", "stream", "latency"])
def test_the_old_benchmark_names_still_work_and_are_hidden(name: str) -> None:
    old = runner.invoke(app, [f"bench-{name}", "--help"])
    new = runner.invoke(app, ["bench", name, "--help"])

    assert old.exit_code == 0 and new.exit_code == 0
    assert old.output.split("\n", 3)[3] == new.output.split("\n", 3)[3]  # same options
    assert f"bench-{name}" not in runner.invoke(app, ["--help"]).output


def test_the_pipeline_comes_from_shoplake_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tiny_shop.py").write_text(
        textwrap.dedent(
            """
            from shoplake import Pipeline

            pipeline = Pipeline("tiny")
            pipeline.source("orders", format="jsonl", columns=["order_id"])
            """
        )
    )
    (tmp_path / "shoplake.toml").write_text(
        '[shoplake]\npipeline = "tiny_shop:pipeline"\nlake = "lake"\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("tiny_shop", None)

    result = runner.invoke(app, ["validate"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "ok: 1 tables, no problems found"
    overridden = runner.invoke(app, ["validate", "--pipeline", "tiny_shop:missing"])
    assert overridden.exit_code == 1
    assert "tiny_shop:missing" in overridden.output
