"""A flaky store: an asyncio proxy in front of the emulator answers some requests with
503, drops some connections and cuts some after the store did the work. A run retries
or fails in one line; the next runs converge, nothing lost or doubled."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from emulators import TINY, Store, cli, endpoint_env
from tiny_shop import order_lines

from shoplake.bench.store_proxy import Faults, StoreProxy

pytestmark = pytest.mark.slow

FILES, ROWS = 4, 20


def test_runs_through_a_flaky_proxy_converge(store: Store, tmp_path: Path) -> None:
    for n in range(FILES):
        store.put(f"landing/orders/o{n}.jsonl", order_lines(f"o{n}", ROWS))
    args = ["run", "--lake", store.uri("lake"), "--landing", store.uri("landing"), *TINY]
    faults = Faults(unavailable=0.06, dropped=0.03, cut=0.02, seed=3)
    outcomes = []
    with StoreProxy(store.emulator.endpoint, faults) as proxy:
        env = {**endpoint_env(store, proxy.url), "SHOPLAKE_LOCK_TTL": "3"}
        for _ in range(2):
            done = cli(store, tmp_path, *args, "--max-files", "2", "--wait", "20", extra_env=env)
            outcomes.append(done)
            if done.returncode != 0:
                errors = [line for line in done.stdout.splitlines() if "Error" in line]
                assert errors, done.stdout + done.stderr  # failed, but said so
                assert "Traceback" not in done.stdout + done.stderr
    assert sum(proxy.injected.values()) > 0
    # Then the store is healthy again: one more run finishes whatever is left.
    final = cli(store, tmp_path, *args, "--wait", "20", extra_env={"SHOPLAKE_LOCK_TTL": "3"})
    assert final.returncode == 0, final.stdout + final.stderr

    bronze = pl.read_delta(store.uri("lake/bronze/orders"))
    assert bronze["order_id"].n_unique() == FILES * ROWS
    assert bronze.height == FILES * ROWS, "a file was ingested twice"
    assert store.keys("landing/") == []
    archived = sorted(k.rpartition("/")[2] for k in store.keys("archive/"))
    assert archived == [f"o{n}.jsonl" for n in range(FILES)]
    totals = pl.read_delta(store.uri("lake/gold/totals"))
    assert totals["n"].to_list() == [FILES * ROWS * 9 // 10]
