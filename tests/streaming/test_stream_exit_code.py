"""`shoplake stream --available-now` exits 1 when the tables after bronze failed."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import Kafka, event
from shoplake.cli import app

PIPELINE = """
    import narwhals as nw
    from shoplake import Pipeline

    def build():
        pipeline = Pipeline("failing_stream")
        pipeline.stream_source("events")

        @pipeline.table(layer="silver")
        def events(bronze_events):
            raise ValueError("cannot parse the payload column")

        return pipeline
"""


@pytest.mark.slow  # ~12 s: the consumer group joins the mock cluster
def test_a_failed_downstream_table_is_exit_1_naming_it(
    kafka: Kafka, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "failing_stream.py").write_text(textwrap.dedent(PIPELINE))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("failing_stream", None)
    topic = kafka.topic()
    kafka.send(topic, [event(n) for n in range(5)])
    args = [
        "stream", "--bootstrap", kafka.bootstrap, "--topic", topic, "--available-now",
        "--lake", str(tmp_path / "lake"), "--landing", str(tmp_path),
        "--pipeline", "failing_stream:build", "--group", f"g-{topic}",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "5 events" in result.output  # bronze kept every event
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors and "silver.events" in errors[0], result.output
    assert "cannot parse the payload column" in errors[0]
