"""The command layer: one error handler, the bench group and its old names, --engine,
and the pipeline named once in settings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import shoplake
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


def test_an_error_is_printed_as_written_on_one_line() -> None:
    # Brackets are text, not markup, and a long message is not wrapped.
    spec = "a[/]b" + "x" * 200 + ":[alerts] y"
    result = runner.invoke(app, ["validate", "--pipeline", spec])

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: --pipeline {spec!r}: cannot load it")


def test_debug_shows_an_error_raised_outside_an_except_block(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--out", str(tmp_path / "r.txt"), "--debug"])

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.output.splitlines()[-1] == (
        f"Error: --out {tmp_path / 'r.txt'}: the report is HTML; name it *.html"
    )


def test_a_failed_tables_message_is_masked_and_named_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "failing_shop.py").write_text(
        textwrap.dedent(
            """
            from shoplake import Pipeline

            pipeline = Pipeline("failing")
            pipeline.source("orders", format="csv", columns=["order_id", "amount"])

            @pipeline.table(layer="silver")
            def orders(bronze_orders):
                raise ValueError("cannot reach [db] password=hunter2 as ops@example.com")
            """
        )
    )
    (tmp_path / "landing" / "orders").mkdir(parents=True)
    (tmp_path / "landing" / "orders" / "a.csv").write_text("order_id,amount\n1,2.5\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("failing_shop", None)

    result = runner.invoke(app, ["run", "--pipeline", "failing_shop:pipeline"])

    assert result.exit_code == 1
    assert "hunter2" not in result.output
    assert "ops@example.com" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: silver.orders: ValueError: cannot reach [db] password=*** as o***@example.com"
    ]
    # The batch line's error too: masked, brackets kept.
    assert (
        "cannot reach [db] password=*** as o***@example.com"
        in result.output.split("failed batch", 1)[1]
    )


@pytest.mark.parametrize(
    "command",
    [
        ["run"],
        ["validate"],
        ["demo", "--dir", "{tmp}/demo"],
        ["watch", "--poll"],
        ["reprocess", "some-batch"],
        ["maintain"],
        ["stream", "--available-now"],
        ["tables"],
        ["events"],
    ],
)
def test_every_command_on_the_pipeline_takes_an_engine(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lake").mkdir()
    (tmp_path / "landing").mkdir()
    args = [a.format(tmp=tmp_path) for a in command]

    result = runner.invoke(app, [*args, "--engine", "nosuch"])

    assert result.exit_code == 1
    expected = "Error: engine 'nosuch' is not known; choose one of: polars, spark"
    assert result.output.strip() == expected
    assert not (tmp_path / "demo").exists()  # nothing generated for a demo that cannot run


def test_the_engine_setting_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHOPLAKE_ENGINE", "fromenv")
    (tmp_path / "lake").mkdir()

    result = runner.invoke(app, ["tables"])

    assert result.exit_code == 1
    assert "engine 'fromenv' is not known" in result.output


@pytest.mark.parametrize("args", [["--help"], ["bench", "--help"], ["run", "--help"]])
def test_help_imports_no_heavy_library(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from shoplake.cli import app\n"
        f"sys.argv = ['shoplake', *{args!r}]\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "heavy = ('polars', 'deltalake', 'pyarrow', 'duckdb', 'confluent_kafka', 'streamlit',\n"
        "         'shoplake.ingest.loader', 'shoplake.bench.run')\n"
        "print('heavy:', sorted(m for m in heavy if m in sys.modules))\n"
    )
    src = str(Path(shoplake.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )

    assert "Usage:" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "heavy: []"


def test_an_unknown_engine_names_the_known_ones(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tables", "--lake", str(tmp_path), "--engine", "nosuch"])

    assert result.exit_code == 1
    expected = "Error: engine 'nosuch' is not known; choose one of: polars, spark"
    assert result.output.strip() == expected


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
