"""The demo pipeline with its lake and landing zone on S3 (moto) and ADLS (Azurite):
the same silver, gold and quarantine as on local disk, every file archived once,
and the commands that read a lake working against the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from emulators import PIPELINE, Store, cli
from store_lakes import assert_same_lake

pytestmark = pytest.mark.slow


def test_the_demo_on_a_store_builds_the_lake_local_disk_builds(
    store: Store, shop: dict[str, Path], tmp_path: Path
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
    for command in (["tables"], ["batches"], ["files"]):
        shown = cli(store, tmp_path, *command, "--lake", lake)
        assert shown.returncode == 0, (command, shown.stdout + shown.stderr)
    store.put("landing/orders/waiting.jsonl", b'{"order_id": "w1"}\n')
    status = cli(store, tmp_path, "status", "--lake", lake, "--landing", landing, *PIPELINE)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "waiting" in status.stdout.lower() or "1 file" in status.stdout, status.stdout
