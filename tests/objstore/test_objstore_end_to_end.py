"""The demo pipeline with its lake and landing zone on S3 (moto) and ADLS (Azurite):
the same silver, gold and quarantine as on local disk, every file archived once,
and the commands that read a lake working against the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from emulators import PIPELINE, Store, cli, endpoint_env
from fixed_shop import build
from store_lakes import assert_same_lake

from shoplake.bench.store_proxy import ProxyProcess
from shoplake.ingest.quiet import watched_tables

pytestmark = pytest.mark.slow


def quiet_run_requests(
    store: Store, lake: str, landing: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, int]:
    """The store requests of one run (not the alert check after it) through a counting
    proxy in a process of its own (delta-rs may hold the GIL while it waits)."""
    from shoplake.engines import create_engine
    from shoplake.ingest.loader import run_available
    from shoplake.sources.remote import open_landing

    with ProxyProcess(store.emulator.endpoint) as proxy:
        for key, value in endpoint_env(store, proxy.url).items():
            monkeypatch.setenv(key, value)
        assert run_available(build(), create_engine(lake), open_landing(landing)) == []
        return proxy.counts()


def test_the_demo_on_a_store_builds_the_lake_local_disk_builds(
    store: Store, shop: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landed = store.upload(shop["landing"], "landing")
    lake, landing = store.uri("lake"), store.uri("landing")
    done = cli(store, tmp_path, "run", "--lake", lake, "--landing", landing, *PIPELINE)
    assert done.returncode == 0, done.stdout + done.stderr

    counts = assert_same_lake(str(shop["lake"]), store, "lake")
    assert counts["gold.monthly_revenue"] > 0 and counts["silver.orders"] > 100
    assert store.keys("landing/") == []  # everything archived...
    archived = [k for k in store.keys("archive/") if not k.endswith(".outcome.json")]
    assert len(archived) == landed  # ...once

    again = cli(store, tmp_path, "run", "--lake", lake, "--landing", landing, *PIPELINE)
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout
    counts = quiet_run_requests(store, lake, landing, monkeypatch)
    # Nothing new: one listing of each table's log after the version the last run noted,
    # a look at each source's landing folder, the lock and the note; no log is read.
    tables = len(watched_tables(build()))
    sources = len([d for d in build().definitions.values() if d.layer == "bronze"])
    assert counts.get("list", 0) <= tables + 2 * sources, counts
    assert counts.get("read", 0) <= sources + 3, counts  # + the lock, the note, _triggers
    assert counts.get("write", 0) + counts.get("commit", 0) <= 2, counts  # the lock only
    for command in (["tables"], ["batches"], ["files"]):
        shown = cli(store, tmp_path, *command, "--lake", lake)
        assert shown.returncode == 0, (command, shown.stdout + shown.stderr)
    store.put("landing/orders/waiting.jsonl", b'{"order_id": "w1"}\n')
    status = cli(store, tmp_path, "status", "--lake", lake, "--landing", landing, *PIPELINE)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "waiting" in status.stdout.lower() or "1 file" in status.stdout, status.stdout
