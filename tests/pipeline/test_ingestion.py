"""Landing-folder ingestion: identities, corrupt files, unsafe names, limits, archive, batches.

Every test drives real batches (``run_available``) against real Delta tables on
disk and checks what a user relies on: rows in bronze and gold, what
``_system/files`` and ``_system/batches`` say, and where files end up.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import narwhals as nw
import polars as pl
import pytest

from shoplake import Append, Pipeline
from shoplake.engines.polars_delta import PolarsDeltaEngine
from shoplake.errors import ShoplakeError
from shoplake.ingest.archive import ArchivePolicy, purge
from shoplake.ingest.batch_log import list_batches
from shoplake.ingest.file_log import FILES_TABLE, file_rows, reconcile_files
from shoplake.ingest.loader import LoaderConfig, reprocess, run_available, sources_of


def build(mode: str = "rescue", hints: dict[str, str] | None = None) -> Pipeline:
    p = Pipeline("ingest")
    p.source(
        "orders",
        format="jsonl",
        columns=["order_id", "amount"],
        schema_mode=mode,
        hints=hints,
    )
    p.source("events", format="csv", columns=["event_id", "kind"])

    @p.table(layer="silver", kind=Append())
    def orders(bronze_orders: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_orders

    @p.table(layer="gold")
    def order_count(silver_orders: nw.LazyFrame) -> nw.LazyFrame:
        return silver_orders.select(nw.len().alias("n"))

    return p


class Shop:
    def __init__(self, root: Path, pipeline: Pipeline | None = None, **config: object) -> None:
        self.root = root
        self.landing = root / "landing"
        self.lake = root / "lake"
        self.archive = root / "archive"
        self.pipeline = pipeline or build()
        self.engine = PolarsDeltaEngine(str(self.lake))
        self.config = LoaderConfig(**config)  # type: ignore[arg-type]

    def drop(
        self, name: str, rows: list[dict[str, object]] | bytes, source: str = "orders"
    ) -> Path:
        path = self.landing / source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(rows, bytes):
            path.write_bytes(rows)
        else:
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path

    def run(self, **kwargs: object):  # type: ignore[no-untyped-def]
        return run_available(self.pipeline, self.engine, self.landing, config=self.config, **kwargs)

    def bronze(self) -> pl.DataFrame:
        native = self.engine.collect(self.engine.read("bronze.orders")).to_native()
        assert isinstance(native, pl.DataFrame)
        return native

    def gold_count(self) -> int:
        return int(self.engine.collect(self.engine.read("gold.order_count")).item(0, "n"))

    def files(self, **kwargs: object) -> list[dict[str, object]]:
        return file_rows(self.engine, **kwargs)  # type: ignore[arg-type]


def rows(*ids: str) -> list[dict[str, object]]:
    return [{"order_id": i, "amount": "1.5"} for i in ids]


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    return Shop(tmp_path)


# -- identities ---------------------------------------------------------------------------


def test_a_batch_ingests_archives_and_records_each_file(shop: Shop) -> None:
    shop.drop("a.jsonl", rows("1", "2"))
    shop.drop("b.jsonl", rows("3"))
    [batch] = shop.run()
    assert (batch.status, batch.files, batch.archived) == ("succeeded", 2, 2)
    assert shop.gold_count() == 3
    assert not list((shop.landing / "orders").iterdir())
    recorded = {r["path"]: r for r in shop.files()}
    assert set(recorded) == {"orders/a.jsonl", "orders/b.jsonl"}
    for path, record in recorded.items():
        assert record["status"] == "ingested" and record["batch_id"] == batch.batch_id
        assert (shop.archive / str(record["archive_path"])).is_file()
        assert str(record["archive_path"]).endswith(f"{batch.batch_id}/{path}")
    [row] = list_batches(shop.engine)
    assert (row.batch_id, row.trigger, row.status, row.files) == (
        batch.batch_id, "run", "succeeded", 2,
    )  # fmt: skip
    assert row.rows["bronze.orders"] == 3 and row.ended_at is not None


def test_the_same_file_dropped_again_after_archiving_adds_nothing(shop: Shop) -> None:
    shop.drop("a.jsonl", rows("1", "2"))
    shop.run()
    shop.drop("a.jsonl", rows("1", "2"))  # same bytes, new modified time
    [batch] = shop.run()
    assert batch.files == 0 and shop.gold_count() == 2
    [again] = shop.files(batch_id=batch.batch_id)
    assert again["status"] == "skipped" and "same content" in str(again["reason"])
    assert not (shop.landing / "orders" / "a.jsonl").exists()  # archived with its batch


def test_a_renamed_copy_adds_nothing_and_a_rewritten_file_is_new(tmp_path: Path) -> None:
    shop = Shop(tmp_path, archive=ArchivePolicy("leave"))
    original = shop.drop("a.jsonl", rows("1", "2"))
    shop.run()
    os.rename(original, shop.landing / "orders" / "renamed.jsonl")
    shop.run()
    assert shop.gold_count() == 2
    shop.drop("renamed.jsonl", rows("1", "2", "3"))  # rewritten in place with new content
    shop.run()
    assert shop.gold_count() == 5  # the new content is a new file: all of it lands again
    statuses = Counter((r["path"], r["status"]) for r in shop.files())
    assert statuses == Counter(
        {("orders/a.jsonl", "ingested"): 1, ("orders/renamed.jsonl", "skipped"): 1,
         ("orders/renamed.jsonl", "ingested"): 1}
    )  # fmt: skip


def test_leave_mode_keeps_files_and_a_second_run_is_a_no_op(tmp_path: Path) -> None:
    shop = Shop(tmp_path, archive=ArchivePolicy("leave"))
    shop.drop("a.jsonl", rows("1"))
    shop.run()
    versions = shop.engine.version("bronze.orders")
    assert shop.run() == []
    assert (shop.landing / "orders" / "a.jsonl").exists() and not shop.archive.exists()
    assert shop.engine.version("bronze.orders") == versions
    assert shop.files()[0]["archive_path"] is None


def test_delete_mode_removes_archive_days_past_retention(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    old = root / (datetime.now() - timedelta(days=10)).strftime("%Y-%m-%d") / "b1"
    new = root / datetime.now().strftime("%Y-%m-%d") / "b2"
    for folder in (old, new):
        folder.mkdir(parents=True)
        (folder / "x.jsonl").write_text("{}\n")
    (root / "notes").mkdir()
    assert purge(root, retention_days=7) == [old.parent]
    assert new.is_dir() and (root / "notes").is_dir()


def test_reconciling_files_twice_does_not_double_rows(shop: Shop) -> None:
    shop.drop("a.jsonl", rows("1"))
    shop.run()
    before = shop.engine.version(FILES_TABLE)
    assert reconcile_files(shop.engine, sources_of(shop.pipeline)) == 0
    assert shop.engine.version(FILES_TABLE) == before and len(shop.files()) == 1


# -- corrupt files ------------------------------------------------------------------------


def _parquet(ids: list[str]) -> bytes:
    buffer = io.BytesIO()
    pl.DataFrame({"event_id": ids, "kind": ["k"] * len(ids)}).write_parquet(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("bad.jsonl.gz", b"this is not gzip", "BadGzipFile"),
        ("cut.jsonl.gz", gzip.compress(b'{"order_id": "9", "amount": "1"}\n' * 50)[:40], "gzip"),
    ],
)
def test_a_corrupt_gzip_is_quarantined_whole_and_the_batch_proceeds(
    shop: Shop, name: str, content: bytes, reason: str
) -> None:
    shop.drop("good.jsonl", rows("1", "2"))
    shop.drop(name, content)
    [batch] = shop.run()
    assert (batch.status, batch.files, batch.quarantined) == ("succeeded", 1, 1)
    assert shop.gold_count() == 2
    [bad] = shop.files(status="quarantined")
    assert bad["path"] == f"orders/{name}" and reason in str(bad["reason"])
    assert (shop.archive / str(bad["archive_path"])).read_bytes() == content


def test_bad_parquet_footer_and_undecodable_csv_are_quarantined(tmp_path: Path) -> None:
    p = Pipeline("formats")
    p.source("events", format="parquet", columns=["event_id", "kind"])
    p.source("notes", format="csv", columns=["event_id", "kind"])
    shop = Shop(tmp_path, p)
    shop.drop("ok.parquet", _parquet(["e1", "e2"]), "events")
    shop.drop("cut.parquet", _parquet(["e3"])[:-12], "events")  # footer cut off
    shop.drop("latin1.csv", "event_id,kind\ne4,caf\xe9\n".encode("latin-1"), "notes")
    [batch] = shop.run()
    assert batch.status == "succeeded"
    reasons = {r["path"]: str(r["reason"]) for r in shop.files(status="quarantined")}
    assert set(reasons) == {"events/cut.parquet", "notes/latin1.csv"}
    assert "parquet" in reasons["events/cut.parquet"]
    assert "csv" in reasons["notes/latin1.csv"]
    events = shop.engine.collect(shop.engine.read("bronze.events")).to_native()
    assert sorted(events["event_id"].to_list()) == ["e1", "e2"]


def test_a_quarantined_file_is_not_retried_until_its_content_changes(tmp_path: Path) -> None:
    shop = Shop(tmp_path, archive=ArchivePolicy("leave"))
    bad = shop.drop("x.jsonl.gz", b"broken")
    shop.run()
    assert shop.run() == []  # left in place, not read again
    shop.drop("copy.jsonl.gz", b"broken")  # the same bad content under another name
    [batch] = shop.run()
    [copy] = shop.files(batch_id=batch.batch_id)
    assert copy["status"] == "skipped" and "quarantined" in str(copy["reason"])
    bad.write_bytes(gzip.compress(b'{"order_id": "1", "amount": "2"}\n'))  # fixed
    [fixed] = shop.run()
    assert fixed.files == 1 and shop.gold_count() == 1


def test_malformed_lines_keep_file_and_line(shop: Shop) -> None:
    shop.drop("a.jsonl", b'{"order_id": "1", "amount": "2"}\nnot json\n')
    shop.run()
    bronze = shop.bronze().sort("_source")
    assert bronze["_source"].to_list() == ["orders/a.jsonl:1", "orders/a.jsonl:2"]
    assert json.loads(bronze["_rescued_data"][1]) == {"_corrupt_record": "not json"}


# -- unsafe names -------------------------------------------------------------------------


def test_hostile_names_are_reported_and_never_followed_or_moved(shop: Shop, tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "passwords.jsonl").write_text('{"order_id": "stolen", "amount": "1"}\n')
    folder = shop.landing / "orders"
    shop.drop("good.jsonl", rows("1"))
    os.symlink(outside / "passwords.jsonl", folder / "link.jsonl")
    os.symlink(outside, folder / "linked-dir")
    weird = os.fsencode(folder) + b"/caf\xe9.jsonl"  # not UTF-8
    with open(weird, "wb") as handle:
        handle.write(b'{"order_id": "w", "amount": "1"}\n')
    (folder / "line\nbreak.jsonl").write_text('{"order_id": "n", "amount": "1"}\n')
    [batch] = shop.run()
    assert shop.bronze()["order_id"].to_list() == ["1"]
    rejected = {r["path"]: str(r["reason"]) for r in shop.files(status="rejected")}
    assert set(rejected) == {
        "orders/link.jsonl",
        "orders/linked-dir",
        "orders/caf\\xe9.jsonl",
        "orders/line\nbreak.jsonl",
    }
    assert "symlink" in rejected["orders/link.jsonl"]
    assert "UTF-8" in rejected["orders/caf\\xe9.jsonl"]
    assert "control" in rejected["orders/line\nbreak.jsonl"]
    # Reported, untouched: the links and odd names stay; the target is never moved.
    assert (folder / "link.jsonl").is_symlink() and os.path.exists(weird)
    assert (outside / "passwords.jsonl").is_file()
    assert "refused" in batch.run.flow("bronze.orders").message  # type: ignore[union-attr]
    assert shop.run() == []  # reported once, not on every run


def test_a_symlinked_source_folder_is_not_followed(shop: Shop, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "a.jsonl").write_text('{"order_id": "1", "amount": "1"}\n')
    shop.landing.mkdir()
    os.symlink(outside, shop.landing / "orders")
    shop.run()
    assert shop.files(status="rejected")[0]["path"] == "orders"
    assert (outside / "a.jsonl").is_file()
    assert shop.engine.collect(shop.engine.read("bronze.orders")).shape[0] == 0


# -- limits -------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [{"max_files": 3}, {"max_bytes": 200}])
def test_a_backlog_is_processed_in_bounded_batches(tmp_path: Path, limit: dict[str, int]) -> None:
    shop = Shop(tmp_path, **limit)
    for n in range(10):
        shop.drop(f"f{n:02}.jsonl", rows(f"{n}a", f"{n}b"))  # 72 bytes each
        shop.drop(f"e{n:02}.csv", f"event_id,kind\ne{n},x\n".encode(), source="events")
    batches = shop.run()
    assert len(batches) >= 5 and all(b.status == "succeeded" for b in batches)
    for batch in batches:  # the limit holds over all sources together
        taken = shop.files(batch_id=batch.batch_id)
        if "max_files" in limit:
            assert len(taken) <= limit["max_files"]
        else:
            assert sum(int(str(r["size"])) for r in taken) <= limit["max_bytes"]
    assert sum(b.files for b in batches) == 20
    assert shop.gold_count() == 20 and shop.bronze()["order_id"].n_unique() == 20
    assert len(list_batches(shop.engine)) == len(batches)


# -- schema modes -------------------------------------------------------------------------


def _two_files(shop: Shop) -> None:
    shop.drop("1.jsonl", rows("1"))
    shop.run()
    shop.drop("2.jsonl", [{"order_id": "2", "amount": "3", "coupon": "SAVE"}])
    shop.run()


def test_rescue_mode_keeps_a_new_column_in_rescued_data(tmp_path: Path) -> None:
    shop = Shop(tmp_path, build("rescue"))
    _two_files(shop)
    bronze = shop.bronze().sort("order_id")
    assert "coupon" not in bronze.columns
    assert bronze["_rescued_data"].to_list() == [None, '{"coupon":"SAVE"}']


def test_add_new_columns_mode_adds_the_column(tmp_path: Path) -> None:
    shop = Shop(tmp_path, build("addNewColumns"))
    _two_files(shop)
    bronze = shop.bronze().sort("order_id")
    assert bronze["coupon"].to_list() == [None, "SAVE"]
    assert bronze["_rescued_data"].to_list() == [None, None]


def test_none_mode_ignores_a_new_column(tmp_path: Path) -> None:
    shop = Shop(tmp_path, build("none"))
    _two_files(shop)
    bronze = shop.bronze().sort("order_id")
    assert "coupon" not in bronze.columns and bronze["_rescued_data"].null_count() == 2
    assert bronze["order_id"].to_list() == ["1", "2"]


def test_fail_on_new_columns_fails_the_file_and_reprocess_replays_it(tmp_path: Path) -> None:
    shop = Shop(tmp_path, build("failOnNewColumns"))
    shop.drop("1.jsonl", rows("1"))
    shop.run()
    shop.drop("2.jsonl", [{"order_id": "2", "amount": "3", "coupon": "SAVE"}])
    shop.drop("3.jsonl", rows("3"))
    [failed] = shop.run()
    assert failed.status == "failed" and "coupon" in str(failed.error)
    assert sorted(shop.bronze()["order_id"].to_list()) == ["1", "3"]  # the rest proceeded
    [record] = shop.files(status="failed")
    assert record["path"] == "orders/2.jsonl" and record["archive_path"] is None
    assert (shop.landing / "orders" / "2.jsonl").exists()  # kept to be retried
    assert shop.run() == []  # not retried while nothing changed
    shop.pipeline = build("addNewColumns")  # the fix: accept the new column
    replay = reprocess(shop.pipeline, shop.engine, shop.landing, failed.batch_id,
                       config=shop.config)  # fmt: skip
    assert (replay.status, replay.files, replay.batch_id, replay.error) == (
        "succeeded", 1, f"{failed.batch_id}-r1", None,
    )  # fmt: skip
    bronze = shop.bronze().sort("order_id")
    assert bronze["order_id"].to_list() == ["1", "2", "3"]  # 3 was not duplicated
    assert bronze["coupon"].to_list() == [None, "SAVE", None]
    assert list_batches(shop.engine)[0].replays == failed.batch_id


def test_hints_type_columns_and_rescue_values_that_do_not_parse(tmp_path: Path) -> None:
    shop = Shop(tmp_path, build("rescue", {"amount": "float"}))
    shop.drop("a.jsonl", [{"order_id": "1", "amount": "2.5"}, {"order_id": "2", "amount": "lots"}])
    shop.run()
    bronze = shop.bronze().sort("order_id")
    assert bronze.schema["amount"] == pl.Float64
    assert bronze["amount"].to_list() == [2.5, None]
    assert bronze["_rescued_data"].to_list() == [None, '{"amount":"lots"}']


def test_unknown_schema_mode_or_hint_is_a_definition_error() -> None:
    with pytest.raises(ShoplakeError, match="schema_mode"):
        build("merge")
    with pytest.raises(ShoplakeError, match="hint"):
        build("rescue", {"amount": "money"})


# -- reprocess ----------------------------------------------------------------------------


def test_reprocessing_a_succeeded_batch_duplicates_nothing(shop: Shop) -> None:
    shop.drop("a.jsonl", rows("1", "2"))
    shop.drop("bad.jsonl.gz", b"nope")
    [batch] = shop.run()
    versions = shop.engine.version("silver.orders")
    replay = reprocess(shop.pipeline, shop.engine, shop.landing, batch.batch_id,
                       config=shop.config)  # fmt: skip
    assert replay.files == 0 and replay.quarantined == 1  # read again from the archive
    assert shop.gold_count() == 2 and shop.engine.version("silver.orders") == versions


def test_reprocessing_an_unknown_batch_names_the_fix(shop: Shop) -> None:
    with pytest.raises(ShoplakeError, match="shoplake batches"):
        reprocess(shop.pipeline, shop.engine, shop.landing, "nope", config=shop.config)


def test_a_batch_finishes_quickly_on_a_small_lake(shop: Shop) -> None:
    shop.drop("a.jsonl", rows("1"))
    start = time.perf_counter()
    shop.run()
    assert time.perf_counter() - start < 10


# -- an object-store landing (fsspec) -----------------------------------------------------


def test_a_memory_landing_is_listed_read_archived_and_replayed(tmp_path: Path) -> None:
    import fsspec

    from shoplake.sources.remote import RemoteLanding

    fs = fsspec.filesystem("memory")
    fs.pipe("/shop-test/landing/orders/a.jsonl", b'{"order_id": "1", "amount": "2"}\n')
    fs.pipe("/shop-test/landing/orders/bad.jsonl.gz", b"not gzip")
    fs.pipe("/shop-test/landing/orders/ctl\x07.jsonl", b'{"order_id": "x", "amount": "2"}\n')
    try:
        landing = RemoteLanding("memory://shop-test/landing")
        shop = Shop(tmp_path)
        [batch] = run_available(shop.pipeline, shop.engine, landing, config=shop.config)
        assert (batch.status, batch.files, batch.quarantined, batch.archived) == (
            "succeeded", 1, 1, 2,
        )  # fmt: skip
        assert shop.bronze()["order_id"].to_list() == ["1"]
        assert fs.find("/shop-test/landing/orders") == ["/shop-test/landing/orders/ctl\x07.jsonl"]
        archived = fs.find("/shop-test/archive")
        assert sorted(p.rpartition("/")[2] for p in archived) == ["a.jsonl", "bad.jsonl.gz"]
        assert shop.files(status="rejected")[0]["reason"] == "the name holds control characters"
        fs.pipe("/shop-test/landing/orders/a-again.jsonl", b'{"order_id": "1", "amount": "2"}\n')
        [again] = run_available(shop.pipeline, shop.engine, landing, config=shop.config)
        assert again.files == 0 and shop.gold_count() == 1  # same content: skipped
        replay = reprocess(shop.pipeline, shop.engine, landing, batch.batch_id, config=shop.config)
        assert (replay.files, replay.quarantined) == (0, 1)  # read back from the archive
        assert shop.gold_count() == 1
    finally:
        fs.rm("/shop-test", recursive=True)


@pytest.mark.parametrize(
    ("mode", "bronze_coupon", "rescued", "status"),
    [
        ("rescue", None, [None, '{"coupon":"SAVE"}'], "succeeded"),
        ("addNewColumns", [None, "SAVE"], [None, None], "succeeded"),
        ("none", None, [None, None], "succeeded"),
        ("failOnNewColumns", None, [None], "failed"),
    ],
)
def test_a_new_csv_column_in_a_later_file_under_each_mode(
    tmp_path: Path,
    mode: str,
    bronze_coupon: list[str | None] | None,
    rescued: list[str | None],
    status: str,
) -> None:
    p = Pipeline("csv")
    p.source("events", format="csv", columns=["event_id", "kind"], schema_mode=mode)
    shop = Shop(tmp_path, p)
    shop.drop("1.csv", b"event_id,kind\ne1,a\n", "events")
    shop.run()
    shop.drop("2.csv", b"event_id,kind,coupon\ne2,b,SAVE\n", "events")
    [batch] = shop.run()
    assert batch.status == status
    native = shop.engine.collect(shop.engine.read("bronze.events")).to_native()
    bronze = native.sort("event_id")
    assert bronze["_rescued_data"].to_list() == rescued
    if bronze_coupon is None:
        assert "coupon" not in bronze.columns
    else:
        assert bronze["coupon"].to_list() == bronze_coupon


def test_a_full_refresh_rebuilds_bronze_from_archived_files(shop: Shop) -> None:
    shop.drop("a.jsonl", rows("1", "2"))
    shop.run()
    shop.drop("b.jsonl", rows("3"))
    shop.run()
    assert not list((shop.landing / "orders").iterdir())
    [rebuild] = shop.run(full_refresh=True)
    assert rebuild.status == "succeeded"
    assert sorted(shop.bronze()["order_id"].to_list()) == ["1", "2", "3"]
    assert shop.gold_count() == 3
    # The files stay where they were archived; nothing new appears there.
    archived = sorted(p.name for p in shop.archive.rglob("*.jsonl"))
    assert archived == ["a.jsonl", "b.jsonl"]
    assert shop.run() == []  # and the next run has nothing to do


def test_a_lake_deleted_and_made_again_in_one_process_is_read_afresh(tmp_path: Path) -> None:
    import shutil

    for _ in range(2):  # same paths, same versions, new files: nothing may be taken as seen
        shop = Shop(tmp_path)
        shop.drop("a.jsonl", rows("1", "2"))
        [batch] = shop.run()
        assert batch.files == 1 and shop.gold_count() == 2
        shutil.rmtree(tmp_path)
        tmp_path.mkdir()


def test_a_run_selecting_no_source_ends_with_files_waiting(shop: Shop) -> None:
    shop.drop("a.jsonl", rows("1"))
    shop.run()
    shop.drop("b.jsonl", rows("2"))
    batches = shop.run(select=["gold"])  # the new file is not for this run
    assert len(batches) == 1 and batches[0].files == 0
    assert (shop.landing / "orders" / "b.jsonl").exists()
    [later] = shop.run()
    assert later.files == 1 and shop.gold_count() == 2
