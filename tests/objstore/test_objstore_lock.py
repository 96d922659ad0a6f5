"""The lock of a lake on a store: a lease written with conditional puts, renewed by a
heartbeat, taken over once its holder stops renewing; two processes never update one
lake at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import polars as pl
import pytest
from emulators import TINY, Store, cli, one_error_line
from tiny_shop import order_lines

from shoplake.ingest.lease import LOCK_NAME, Lease
from shoplake.ingest.lock import LakeBusy, lake_lock


def test_one_holder_at_a_time_and_the_next_one_after_release(store: Store) -> None:
    lake = store.uri("lake")
    first, second = Lease(lake, ttl_s=30), Lease(lake, ttl_s=30)
    assert first.try_acquire({}) is None
    assert second.try_acquire({}) == first.owner
    first.release()
    assert store.keys("lake/") == []
    assert second.try_acquire({}) is None
    second.release()


def test_a_lapsed_lease_is_taken_over_and_a_renewed_one_is_not(store: Store) -> None:
    lake = store.uri("lake")
    stale = orjson.dumps({"owner": "dead:1", "expires_at": time.time() - 1, "ttl_s": 30})
    store.put(f"lake/{LOCK_NAME}", stale)
    taker = Lease(lake, ttl_s=1.5)
    assert taker.try_acquire({}) is None  # expired: replaced
    taker.start()  # renews every 0.5 s
    waiter = Lease(lake, ttl_s=1.5)
    seen: dict[str, float] = {}
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        assert waiter.try_acquire(seen) == taker.owner
        time.sleep(0.3)
    assert not taker.lost
    taker.release()


def test_lake_lock_waits_then_refuses_in_one_line(store: Store) -> None:
    lake = store.uri("lake")
    with lake_lock(lake, ttl_s=30):
        started = time.monotonic()
        busy = pytest.raises(LakeBusy, match=r"another shoplake process .* is updating the lake")
        with busy, lake_lock(lake, wait_s=1.0):
            pass
        assert time.monotonic() - started >= 1.0
    with lake_lock(lake, wait_s=0):
        pass


@pytest.mark.slow
def test_two_processes_one_refuses_and_a_killed_holder_lapses(store: Store, tmp_path: Path) -> None:
    for n in range(4):
        store.put(f"landing/orders/o{n}.jsonl", order_lines(f"o{n}", 50))
    args = ["run", "--lake", store.uri("lake"), "--landing", store.uri("landing"), *TINY]
    env = dict(os.environ, SHOPLAKE_FAULT="holding_lock:pause", SHOPLAKE_LOCK_TTL="3")
    holder = subprocess.Popen(
        [sys.executable, "-m", "shoplake.cli", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(k.endswith(LOCK_NAME) for k in store.keys("lake/")):
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        refused = cli(store, tmp_path, *args)
        assert "is updating the lake" in one_error_line(refused)
        assert "--wait" in refused.stdout
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The dead holder's lease lapses within its ttl; a waiting run then takes the lake.
    waited = cli(store, tmp_path, *args, "--wait", "30", extra_env={"SHOPLAKE_LOCK_TTL": "3"})
    assert waited.returncode == 0, waited.stdout + waited.stderr
    bronze = pl.read_delta(store.uri("lake/bronze/orders"))
    assert bronze.height == 200 and bronze["order_id"].n_unique() == 200
    assert not any(k.endswith(LOCK_NAME) for k in store.keys("lake/"))
