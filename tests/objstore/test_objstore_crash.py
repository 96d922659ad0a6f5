"""SIGKILL in the middle of a run on a store, then a rerun: every file once in bronze and
once in the archive, none left in landing."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from emulators import TINY, Store, cli
from tiny_shop import order_lines

pytestmark = pytest.mark.slow

FILES, ROWS = 4, 30


@pytest.mark.parametrize("point", ["after_bronze_commit", "archive_copied"])
def test_a_killed_run_then_a_rerun_keeps_every_file_once(
    store: Store, tmp_path: Path, point: str
) -> None:
    for n in range(FILES):
        store.put(f"landing/orders/o{n}.jsonl", order_lines(f"o{n}", ROWS))
    args = ["run", "--lake", store.uri("lake"), "--landing", store.uri("landing"), *TINY]
    killed = cli(store, tmp_path, *args, extra_env={"SHOPLAKE_FAULT": f"{point}:kill"})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    if point == "archive_copied":  # the copy made, the landing object still there
        assert len(store.keys("archive/")) == 1 and len(store.keys("landing/")) == FILES

    # The killed run's lease lapses (lock_ttl 2 s); the rerun waits for it.
    again = cli(store, tmp_path, *args, "--wait", "20", extra_env={"SHOPLAKE_LOCK_TTL": "2"})
    assert again.returncode == 0, again.stdout + again.stderr

    bronze = pl.read_delta(store.uri("lake/bronze/orders"))
    assert bronze.height == FILES * ROWS and bronze["order_id"].n_unique() == FILES * ROWS
    assert store.keys("landing/") == []
    archived = sorted(k.rpartition("/")[2] for k in store.keys("archive/"))
    assert archived == [f"o{n}.jsonl" for n in range(FILES)]
    totals = pl.read_delta(store.uri("lake/gold/totals"))
    assert totals["n"].to_list() == [FILES * ROWS * 9 // 10]  # a tenth quarantined
