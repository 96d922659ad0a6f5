"""The Spark engine with its lake and landing zone on S3 (moto), through S3A: the tables
it writes equal those the Polars engine writes on local disk from the same files, and
delta-rs reads them back. ``shoplake run --engine spark`` runs in a process of its own:
the tests' shared Spark session has no hadoop-aws, and a session's jars are fixed when it
starts. The first run anywhere fetches hadoop-aws and the AWS SDK bundle (about 550 MB)
into ``.cache/ivy``.

A small pipeline (``tiny_shop``) in two batches, so the second one merges into silver on
S3: the e-commerce demo takes about three minutes on Spark on two cores."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from emulators import TINY, Store, cli
from store_lakes import assert_same_lake
from tiny_shop import order_lines

from shoplake.engines import create_engine

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("emulator", ["s3"], indirect=True)]

SECRET = "Sup3rS3cretValue-91c2e4"
"""Given only through ``SHOPLAKE_STORAGE_AWS_SECRET_ACCESS_KEY``: S3A gets it from the
store settings, as delta-rs does (moto takes any secret, but S3A refuses none at all)."""


def _landing(folder: Path) -> Path:
    """Two batches of ``--max-files 2``: o0 and o1, then o2, which repeats some of o0's
    orders (an upsert keeps their first rows) and adds new ones."""
    orders = folder / "orders"
    orders.mkdir(parents=True)
    for name, lines in (("o0", order_lines("o0", 20)), ("o1", order_lines("o1", 20))):
        (orders / f"{name}.jsonl").write_bytes(lines)
    (orders / "o2.jsonl").write_bytes(order_lines("o0", 30))
    return folder


def test_spark_on_s3_builds_the_lake_polars_builds_on_local_disk(
    store: Store, tmp_path: Path
) -> None:
    landing = _landing(tmp_path / "landing")
    local = tmp_path / "local"
    batches = ("--max-files", "2")
    on_disk = cli(
        store, tmp_path, "run", "--lake", str(local), "--landing", str(landing),
        "--archive", "leave", *batches, *TINY,
    )  # fmt: skip
    assert on_disk.returncode == 0, on_disk.stdout + on_disk.stderr

    store.upload(landing, "landing")
    lake = store.uri("lake")
    on_s3 = cli(
        store, tmp_path, "run", "--engine", "spark", "--lake", lake,
        "--landing", store.uri("landing"), *batches, *TINY,
        extra_env={"SHOPLAKE_STORAGE_AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SECRET_ACCESS_KEY": ""},
        timeout=600,
    )  # fmt: skip
    assert on_s3.returncode == 0, on_s3.stdout[-3000:] + on_s3.stderr[-3000:]

    # Read back with delta-rs (Polars), table by table, against the local-disk lake.
    counts = assert_same_lake(str(local), store, "lake")
    assert counts == {"gold.totals": 1, "quarantine.orders": 7, "silver.orders": 45}
    silver = DeltaTable(store.uri("lake/silver/orders"))
    history = silver.history()
    assert [c["operation"] for c in history] == ["MERGE", "WRITE"]
    assert all(str(c["engineInfo"]).startswith("Apache-Spark/") for c in history)
    assert pl.read_delta(store.uri("lake/gold/totals")).rows() == [(45, 225.0)]
    assert "_system.batches" in create_engine(lake).list_tables()
    assert store.keys("landing/") == []  # archived on S3, once each
    assert len([k for k in store.keys("archive/") if k.endswith(".jsonl")]) == 3

    assert SECRET not in on_s3.stdout + on_s3.stderr
    keys = store.keys()
    leaked = [key for key in keys if SECRET.encode() in store.read(key)]
    assert leaked == []
