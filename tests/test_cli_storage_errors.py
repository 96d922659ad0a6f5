"""A full disk, a read-only lake, a damaged Delta log, a lake that is a file: each one
line naming what is wrong and what to do, never a traceback or a Rust backtrace; and
after a full disk is freed, the rerun converges to the lake a clean run builds."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

PIPELINE = textwrap.dedent(
    """
    import narwhals as nw
    from shoplake import Pipeline, Upsert

    def build():
        p = Pipeline("disk")
        p.source("orders", format="jsonl", columns=["order_id", "amount", "note"])

        @p.table(layer="silver", kind=Upsert(keys=["order_id"]))
        def orders(bronze_orders):
            return bronze_orders.with_columns(nw.col("amount").cast(nw.Float64))

        @p.table(layer="gold")
        def totals(silver_orders):
            return silver_orders.select(nw.len().alias("n"), nw.col("amount").sum().alias("sum"))

        return p
    """
)


def shoplake(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUST_BACKTRACE": "1", "PYTHONPATH": str(root)}
    pipeline = ["--pipeline", "diskshop:build"] if args[0] == "run" else []
    command = [sys.executable, "-m", "shoplake.cli", *args, *pipeline]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)


def assert_one_line(result: subprocess.CompletedProcess[str], *phrases: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stdout
    for noise in ("Traceback", "panicked", "<unknown>", "stack backtrace"):
        assert noise not in result.stdout + result.stderr
    for phrase in phrases:
        assert phrase in errors[0]
    return errors[0]


def land(landing: Path, count: int, name: str) -> None:
    folder = landing / "orders"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        # Random notes do not compress: enough bytes that a small disk fills up.
        f'{{"order_id": "{name}-{i}", "amount": "{i}", "note": "{uuid.uuid4().hex * 4}"}}'
        for i in range(count)
    ]
    (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "diskshop.py").write_text(PIPELINE)
    return tmp_path


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 300 kB tmpfs (needs the right to mount, as the test machine's root has)."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def lake_rows(lake: Path) -> dict[str, list[tuple[object, ...]]]:
    tables = {}
    for ref in ("silver/orders", "gold/totals"):
        frame = pl.read_delta(str(lake / ref))
        tables[ref] = sorted(frame.drop("_ingested_at", "_batch_id", strict=False).rows())
    return tables


@pytest.mark.slow  # real subprocesses on a real tmpfs
def test_a_full_disk_is_one_line_and_the_rerun_converges(root: Path, small_disk: Path) -> None:
    landing, lake = root / "landing", small_disk / "lake"
    for n in range(6):
        land(landing, 500, f"orders-{n}")
    where = ["--lake", str(lake), "--landing", str(landing), "--archive", "leave"]

    full = shoplake(root, "run", *where)
    assert_one_line(full, "is full", "free some space and run again")

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    again = shoplake(root, "run", *where)
    assert again.returncode == 0, again.stdout + again.stderr
    clean = shoplake(root, "run", "--lake", str(root / "clean"), *where[2:])
    assert clean.returncode == 0, clean.stdout
    assert lake_rows(lake) == lake_rows(root / "clean")
    assert lake_rows(lake)["gold/totals"][0][0] == 3000  # every row once


@pytest.mark.slow
def test_a_read_only_lake_is_one_line(root: Path, small_disk: Path) -> None:
    landing, lake = root / "landing", small_disk / "lake"
    land(landing, 3, "orders-a")
    where = ["--lake", str(lake), "--landing", str(landing), "--archive", "leave"]
    assert shoplake(root, "run", *where).returncode == 0
    land(landing, 3, "orders-b")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    assert_one_line(shoplake(root, "run", *where), "read-only file system", "writable folder")


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_log_names_the_table_the_file_and_the_way_out(root: Path, damage: str) -> None:
    landing, lake = root / "landing", root / "lake"
    where = ["--lake", str(lake), "--landing", str(landing), "--archive", "leave"]
    for name in ("orders-a", "orders-b"):
        land(landing, 3, name)
        assert shoplake(root, "run", *where).returncode == 0
    log = lake / "silver" / "orders" / "_delta_log"
    latest = sorted(log.glob("*.json"))[-1]
    assert latest.name == "00000000000000000001.json"
    if damage == "truncated":
        latest.write_bytes(latest.read_bytes()[:40])  # cut mid-record
    else:
        latest.write_bytes(b"\x00\xff not a log \x7f" * 20)

    line = assert_one_line(
        shoplake(root, "tables", "--lake", str(lake)),
        "the Delta log of silver.orders is damaged",
        "00000000000000000001.json",
        "delete it and rebuild with `shoplake run --full-refresh`",
    )
    land(landing, 3, "orders-c")
    assert_one_line(shoplake(root, "run", *where), "silver.orders", "00000000000000000001.json")
    # The way out it gave works: every table rebuilt, every row once.
    assert "delete it" in line
    latest.unlink()
    assert shoplake(root, "run", *where, "--full-refresh").returncode == 0
    assert lake_rows(lake)["gold/totals"][0][0] == 9
    assert pl.read_delta(str(lake / "silver" / "orders")).height == 9


def test_a_lake_that_is_a_file_is_one_line(root: Path) -> None:
    (root / "lake.txt").write_text("not a lake")
    result = shoplake(root, "run", "--lake", str(root / "lake.txt"), "--landing", str(root))
    assert_one_line(result, "is a file, not a folder", "--lake")
