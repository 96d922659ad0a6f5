"""The ingestion commands end to end, in-process: run in batches, batches, files, reprocess."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoplake.cli import app
from shoplake.config import load_settings
from shoplake.errors import ConfigError

sys.path.insert(0, str(Path(__file__).parent / "pipeline"))
from test_crash_recovery import PIPELINE

runner = CliRunner()


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    (tmp_path / "clishop.py").write_text(PIPELINE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "landing" / "orders"
    folder.mkdir(parents=True)
    for n in range(3):
        (folder / f"o{n}.jsonl").write_text(f'{{"order_id": "{n}", "amount": "1"}}\n')
    (folder / "broken.jsonl.gz").write_bytes(b"not gzip at all")
    return {"lake": str(tmp_path / "lake"), "landing": str(tmp_path / "landing")}


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_run_in_batches_then_list_batches_and_files(shop: dict[str, str]) -> None:
    where = ["--lake", shop["lake"], "--landing", shop["landing"], "--pipeline", "clishop:build"]
    output = cli("run", *where, "--max-files", "2")
    assert output.count("succeeded batch") == 2
    listing = cli("batches", "--lake", shop["lake"])
    assert listing.count("succeeded") == 2 and "run" in listing
    quarantined = cli("files", "--lake", shop["lake"], "--status", "quarantined")
    assert "broken.jsonl.gz" in quarantined and "BadGzipFile" in quarantined
    assert "nothing to do" in cli("run", *where)


def test_reprocess_a_batch_and_an_unknown_one(shop: dict[str, str]) -> None:
    where = ["--lake", shop["lake"], "--landing", shop["landing"], "--pipeline", "clishop:build"]
    cli("run", *where)
    from shoplake.engines.polars_delta import PolarsDeltaEngine
    from shoplake.ingest.batch_log import list_batches

    [batch] = list_batches(PolarsDeltaEngine(shop["lake"]))
    output = cli("reprocess", batch.batch_id, *where)
    assert f"batch {batch.batch_id}-r1 (reprocess): 0 file(s) ingested, 1 quarantined" in output
    missing = runner.invoke(app, ["reprocess", "nope", *where])
    assert missing.exit_code == 1 and "no batch 'nope'" in missing.output


def test_a_bad_archive_mode_is_a_short_error(shop: dict[str, str]) -> None:
    result = runner.invoke(app, ["run", "--lake", shop["lake"], "--archive", "shred"])
    assert result.exit_code == 1
    assert "archive mode 'shred'" in result.output and "move, delete, leave" in result.output


def test_ingest_settings_come_from_the_file_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "shoplake.toml"
    config.write_text('[shoplake]\narchive = "leave"\nmax_files = 50\n')
    monkeypatch.setenv("SHOPLAKE_MAX_BYTES", "1000000")
    settings = load_settings(config=config)
    assert (settings.archive, settings.max_files, settings.max_bytes) == ("leave", 50, 1000000)
    config.write_text('[shoplake]\nmax_files = "many"\n')
    with pytest.raises(ConfigError, match="max_files"):
        load_settings(config=config)


def test_a_file_in_another_format_is_recorded_shown_and_alerted_never_lost(
    shop: dict[str, str], tmp_path: Path
) -> None:
    where = ["--lake", shop["lake"], "--landing", shop["landing"], "--pipeline", "clishop:build"]
    garbage = tmp_path / "landing" / "orders" / "zz_garbage.csv"
    garbage.write_text("order_id,amount\n9,1\n")
    output = cli("run", *where)
    assert "1 file(s) in a format the source does not read" in output
    assert "zz_garbage.csv: unsupported format" in output
    assert "files_refused" in output or "were not ingested" in output  # the alert fired

    listed = cli("files", "--lake", shop["lake"], "--status", "unsupported")
    assert "zz_garbage" in listed and "unsupported" in listed
    from shoplake.engines.polars_delta import PolarsDeltaEngine
    from shoplake.ingest.file_log import file_rows

    rows = file_rows(PolarsDeltaEngine(shop["lake"]), status="unsupported")
    assert [(r["path"], r["rows"]) for r in rows] == [("orders/zz_garbage.csv", 0)]
    assert str(rows[0]["reason"]).startswith("unsupported format: this source reads jsonl files")
    assert garbage.exists()  # never read, moved or deleted: the user decides
    assert rows[0]["archive_path"] is None  # and not recorded as archived

    status = cli("status", "--lake", shop["lake"], "--landing", shop["landing"],
                 "--pipeline", "clishop:build")
    orders_line = next(line for line in status.splitlines() if "│ orders" in line)
    assert [cell.strip() for cell in orders_line.split("│")[1:-1]][1] == "0"  # none waiting
    assert orders_line.rstrip("│ ").endswith("1")  # one refused
    # Recorded once: the next run does not take it again.
    assert "nothing to do" in cli("run", *where)
    # Changed, it is a new file: recorded again.
    garbage.write_text("order_id,amount\n9,1\n10,2\n")
    assert "1 file(s) in a format the source does not read" in cli("run", *where)
