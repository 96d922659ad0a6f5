"""``watch`` on a store: listings polled at an interval, each source folder listed only
after the last key it saw; files dropped while it runs reach gold, each once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from emulators import TINY, Store
from tiny_shop import order_lines

from shoplake.sources.remote import RemoteLanding


def test_arrivals_lists_only_what_is_new_in_each_folder(store: Store) -> None:
    store.put("landing/orders/a.jsonl", b"{}\n")
    store.put("landing/customers/a.csv", b"x\n")
    landing = RemoteLanding(store.uri("landing"))
    assert landing.arrivals() == ["landing/customers/a.csv", "landing/orders/a.jsonl"]
    assert landing.arrivals() == []
    store.put("landing/orders/b.jsonl", b"{}\n")
    store.put("landing/customers/0.csv", b"x\n")  # sorts before the marker: not seen here
    assert landing.arrivals() == ["landing/orders/b.jsonl"]
    assert landing.markers == {
        "landing/customers": "landing/customers/a.csv",
        "landing/orders": "landing/orders/b.jsonl",
    }


def bronze_rows(store: Store) -> int:
    try:
        return pl.read_delta(store.uri("lake/bronze/orders")).height
    except Exception:  # not created yet
        return 0


@pytest.mark.slow
def test_files_dropped_while_watch_runs_are_ingested_once(store: Store, tmp_path: Path) -> None:
    store.put("landing/orders/early.jsonl", order_lines("early", 10))
    args = ["watch", "--lake", store.uri("lake"), "--landing", store.uri("landing")]
    watcher = subprocess.Popen(
        [sys.executable, "-m", "shoplake.cli", *args, "--poll-interval", "0.3", *TINY],
        cwd=tmp_path,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        expected = 10
        for n in range(3):
            deadline = time.monotonic() + 60
            while bronze_rows(store) < expected:
                assert watcher.poll() is None and time.monotonic() < deadline
                time.sleep(0.3)
            store.put(f"landing/orders/late-{n}.jsonl", order_lines(f"late{n}", 5))
            expected += 5
        deadline = time.monotonic() + 60
        while bronze_rows(store) < expected:
            assert watcher.poll() is None and time.monotonic() < deadline
            time.sleep(0.3)
    finally:
        watcher.send_signal(signal.SIGTERM)
        output = watcher.communicate(timeout=60)[0]
    assert watcher.returncode == 0, output
    bronze = pl.read_delta(store.uri("lake/bronze/orders"))
    assert bronze.height == 25 and bronze["order_id"].n_unique() == 25
    assert store.keys("landing/") == []
    assert len(store.keys("archive/")) == 4
