"""The archive on a store: an ``archive_dir`` URI on the landing's store, a copy of each
committed file there, and ``reprocess`` reading the archived copies back."""

from __future__ import annotations

import polars as pl
import pytest
from emulators import Store
from tiny_shop import build, order_lines

from shoplake.engines import create_engine
from shoplake.errors import ConfigError
from shoplake.ingest.archive import ArchivePolicy
from shoplake.ingest.loader import LoaderConfig, reprocess, run_available
from shoplake.sources.remote import RemoteLanding, open_landing


def test_reprocess_reads_the_archived_copies_and_duplicates_nothing(store: Store) -> None:
    store.put("landing/orders/a.jsonl", order_lines("a", 10))
    store.put("landing/orders/bad.jsonl.gz", b"not gzip")
    landing = open_landing(store.uri("landing"), store.uri("kept/archive"))
    engine = create_engine(store.uri("lake"))
    config = LoaderConfig(archive=ArchivePolicy())
    [batch] = run_available(build(), engine, landing, config=config)
    assert (batch.files, batch.quarantined, batch.archived) == (1, 1, 2)
    assert store.keys("landing/") == []
    assert [k.rpartition("/")[2] for k in store.keys("kept/archive/")] == [
        "a.jsonl",
        "bad.jsonl.gz",
    ]

    replay = reprocess(build(), engine, landing, batch.batch_id, config=config)
    assert replay.quarantined == 1  # the bad file, read again from the archive
    bronze = pl.read_delta(store.uri("lake/bronze/orders"))
    assert bronze.height == 10 and bronze["order_id"].n_unique() == 10


def test_an_archive_on_another_store_is_refused(store: Store) -> None:
    with pytest.raises(ConfigError, match="archives on its own store"):
        RemoteLanding(store.uri("landing"), "s3://elsewhere/archive")
