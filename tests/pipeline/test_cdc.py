"""ApplyChanges (CDC / SCD) on a tiny pipeline against real Delta tables in tmp_path.

A CSV change feed ``changes`` (key ``id``, sequence ``seq``) feeds
``silver.people`` as SCD type 2: ``city`` and ``tier`` are tracked, ``phone`` is
updated in place, ``op = D`` marks a delete.
"""

from __future__ import annotations

import random
from itertools import pairwise
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest
from deltalake import DeltaTable

import shoplake
from shoplake import ApplyChanges, DefinitionError, Pipeline, ScdColumns
from shoplake.engines.polars_delta import PolarsDeltaEngine

HEADER = "id,city,tier,phone,seq,op\n"


def build(**options: Any) -> Pipeline:
    p = Pipeline("cdc")
    p.source("changes", format="csv", columns=["id", "city", "tier", "phone", "seq", "op"])
    kind_options: dict[str, Any] = {
        "track": ["city", "tier"],
        "delete_when": nw.col("op") == "D",
    }
    kind_options.update(options)

    @p.table(layer="silver", kind=ApplyChanges(["id"], "seq", **kind_options))
    def people(bronze_changes: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_changes.select(
            "id", "city", "tier", "phone", nw.col("seq").cast(nw.Int64), "op"
        )

    return p


class Lake:
    def __init__(self, root: Path, pipeline: Pipeline) -> None:
        self.root, self.pipeline, self.files = root, pipeline, 0

    def feed(self, *rows: str) -> Any:
        self.files += 1
        folder = self.root / "landing" / "changes"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"changes-{self.files:03d}.csv").write_text(
            HEADER + "".join(f"{r}\n" for r in rows)
        )
        return self.run()

    def run(self, **options: Any) -> Any:
        engine = PolarsDeltaEngine(str(self.root / "lake"))
        return shoplake.run(self.pipeline, engine=engine, landing=self.root / "landing", **options)

    def table(self, name: str = "people") -> pl.DataFrame:
        return pl.read_delta(str(self.root / "lake" / "silver" / name))

    def history(self, *columns: str) -> list[tuple[Any, ...]]:
        cols = columns or ("id", "city", "tier", "valid_from", "valid_to", "is_current")
        return self.table().sort("id", "valid_from").select(cols).rows()

    def version(self) -> int:
        return DeltaTable(str(self.root / "lake" / "silver" / "people")).version()


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path, build())


def assert_contiguous(frame: pl.DataFrame, key: str = "id") -> None:
    """No overlap, no hole between versions, at most one current row per key."""
    for _, rows in frame.sort(key, "valid_from").group_by(key, maintain_order=True):
        spans = rows.select("valid_from", "valid_to", "is_current").rows()
        for (start, end, _), (next_start, _, _) in pairwise(spans):
            assert end is not None and start < end <= next_start
        assert sum(current for _, _, current in spans) <= 1
        assert spans[-1][2] == (spans[-1][1] is None)


def test_changes_open_versions_with_contiguous_intervals(lake: Lake) -> None:
    lake.feed("A,Oslo,gold,1,10,U", "B,Rome,silver,2,10,U")
    lake.feed("A,Bergen,gold,1,20,U")
    assert lake.history() == [
        ("A", "Oslo", "gold", 10, 20, False),
        ("A", "Bergen", "gold", 20, None, True),
        ("B", "Rome", "silver", 10, None, True),
    ]
    surrogates = lake.table()["surrogate_key"]
    assert surrogates.n_unique() == 3
    assert_contiguous(lake.table())


def test_replaying_the_same_changes_changes_nothing(lake: Lake) -> None:
    rows = ("A,Oslo,gold,1,10,U", "A,Bergen,gold,1,20,U", "B,Rome,silver,2,10,U")
    lake.feed(*rows)
    before, version = lake.history(), lake.version()
    run = lake.feed(*reversed(rows))  # the same changes in another file
    flow = run.flow("silver.people")
    assert lake.history() == before
    assert flow.rows_written == 0
    assert flow.rows_duplicate == 3
    # The replay commits nothing but the record of what it consumed.
    assert lake.version() == version + 1
    assert lake.table().height == 3


def test_a_change_to_an_untracked_column_updates_in_place(lake: Lake) -> None:
    lake.feed("A,Oslo,gold,111,10,U")
    lake.feed("A,Oslo,gold,222,20,U")
    assert lake.history("city", "phone", "valid_from", "seq", "is_current") == [
        ("Oslo", "222", 10, 20, True)
    ]


def test_a_late_change_slots_into_history_without_closing_the_newer_version(lake: Lake) -> None:
    lake.feed("A,Oslo,gold,1,10,U")
    lake.feed("A,Rome,gold,1,30,U")
    lake.feed("A,Paris,gold,1,20,U")  # arrives last, happened in between
    assert lake.history() == [
        ("A", "Oslo", "gold", 10, 20, False),
        ("A", "Paris", "gold", 20, 30, False),
        ("A", "Rome", "gold", 30, None, True),
    ]
    # Older than everything known: becomes the first version.
    lake.feed("A,Lima,gold,1,5,U")
    assert lake.history()[0] == ("A", "Lima", "gold", 5, 10, False)
    assert_contiguous(lake.table())


def test_a_late_change_equal_to_its_neighbour_opens_nothing(lake: Lake) -> None:
    lake.feed("A,Oslo,gold,1,10,U", "A,Rome,gold,1,30,U")
    lake.feed("A,Oslo,gold,9,20,U")
    assert lake.history("city", "phone", "valid_from", "valid_to") == [
        ("Oslo", "9", 10, 30),
        ("Rome", "1", 30, None),
    ]


def test_several_changes_to_one_key_in_one_batch_become_ordered_versions(lake: Lake) -> None:
    lake.feed("A,Rome,gold,1,30,U", "A,Oslo,gold,1,10,U", "A,Oslo,silver,1,20,U")
    assert lake.history() == [
        ("A", "Oslo", "gold", 10, 20, False),
        ("A", "Oslo", "silver", 20, 30, False),
        ("A", "Rome", "gold", 30, None, True),
    ]


def test_duplicate_change_rows_count_once(lake: Lake) -> None:
    run = lake.feed("A,Oslo,gold,1,10,U", "A,Oslo,gold,1,10,U", "A,Rome,gold,1,20,U")
    assert lake.table().height == 2
    assert run.flow("silver.people").rows_duplicate == 1


def test_a_null_sequence_or_key_is_quarantined_with_a_reason(lake: Lake, tmp_path: Path) -> None:
    run = lake.feed("A,Oslo,gold,1,10,U", "B,Rome,gold,1,,U", ",Lima,gold,1,10,U")
    assert run.flow("silver.people").rows_quarantined == 2
    quarantine = pl.read_delta(str(tmp_path / "lake" / "quarantine" / "people"))
    assert sorted(quarantine.select("rule", "severity").rows()) == [
        ("keys_present", "critical"),
        ("sequence_by_present", "high"),
    ]
    assert any('"id":"B"' in record for record in quarantine["record"])
    assert lake.history("id") == [("A",)]


def test_a_delete_closes_the_current_version_and_a_return_reopens(lake: Lake) -> None:
    lake.feed("A,Oslo,gold,1,10,U", "B,Rome,gold,1,10,U")
    run = lake.feed("A,,,,20,D")
    assert lake.history() == [
        ("A", "Oslo", "gold", 10, 20, False),
        ("B", "Rome", "gold", 10, None, True),
    ]
    assert run.flow("silver.people").rows_duplicate == 0
    # A late change from before the delete slots in; the key stays deleted.
    lake.feed("A,Bergen,gold,1,15,U")
    assert lake.history()[:2] == [
        ("A", "Oslo", "gold", 10, 15, False),
        ("A", "Bergen", "gold", 15, 20, False),
    ]
    lake.feed("A,Oslo,gold,1,40,U")
    assert lake.history()[2] == ("A", "Oslo", "gold", 40, None, True)
    assert_contiguous(lake.table())


def test_ignore_null_updates_keeps_earlier_values(tmp_path: Path) -> None:
    lake = Lake(tmp_path, build(ignore_null_updates=True))
    lake.feed("A,Oslo,gold,1,10,U")
    lake.feed("A,,silver,,20,U")
    assert lake.history("city", "tier", "phone", "valid_from") == [
        ("Oslo", "gold", "1", 10),
        ("Oslo", "silver", "1", 20),
    ]


def test_scd_type_1_keeps_one_row_and_ignores_older_changes(tmp_path: Path) -> None:
    lake = Lake(tmp_path, build(scd_type=1))
    lake.feed("A,Oslo,gold,1,10,U", "B,Rome,gold,1,10,U")
    lake.feed("A,Rome,gold,1,30,U", "A,Lima,gold,1,20,U", "B,,,,20,D")
    assert lake.table().select("id", "city", "seq").rows() == [("A", "Rome", 30)]
    assert "valid_from" not in lake.table().columns


def test_renamed_history_columns(tmp_path: Path) -> None:
    names = ScdColumns("start_at", "end_at", "current", "person_sk")
    lake = Lake(tmp_path, build(columns=names))
    lake.feed("A,Oslo,gold,1,10,U", "A,Rome,gold,1,20,U")
    table = lake.table().sort("start_at")
    assert table.select("start_at", "end_at", "current").rows() == [
        (10, 20, False),
        (20, None, True),
    ]
    assert table["person_sk"].n_unique() == 2


def test_snapshots_with_missing_keys_as_deletes(tmp_path: Path) -> None:
    lake = Lake(tmp_path, build(snapshot=True, missing_as_delete=True))
    lake.feed("A,Oslo,gold,1,1,U", "B,Rome,gold,1,1,U")
    lake.feed("A,Oslo,gold,1,2,U")  # B is gone
    lake.feed("A,Oslo,gold,1,2,U", "A,Oslo,gold,1,2,U")  # the same snapshot again
    lake.feed("A,Oslo,gold,1,3,U", "B,Rome,gold,1,3,U")  # B is back
    assert lake.history() == [
        ("A", "Oslo", "gold", 1, None, True),
        ("B", "Rome", "gold", 1, 2, False),
        ("B", "Rome", "gold", 3, None, True),
    ]


def test_a_crash_after_the_quarantine_commit_converges_on_rerun(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake.feed("A,Oslo,gold,1,10,U")

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk went away")

    with monkeypatch.context() as patch:
        patch.setattr(PolarsDeltaEngine, "apply_changes", crash)
        failed = lake.feed("A,Rome,gold,1,20,U", "B,Lima,gold,1,,U")
    assert failed.flow("silver.people").status == "failed"
    rerun = lake.run()
    assert rerun.flow("silver.people").status == "completed"
    assert lake.history() == [
        ("A", "Oslo", "gold", 10, 20, False),
        ("A", "Rome", "gold", 20, None, True),
    ]
    quarantine = pl.read_delta(str(lake.root / "lake" / "quarantine" / "people"))
    assert quarantine.height == 1
    assert lake.run().flow("silver.people").status == "skipped"


def test_a_batch_touches_only_the_files_of_its_keys(tmp_path: Path) -> None:
    lake = Lake(tmp_path, build(buckets=8))
    lake.feed(*[f"K{i},Oslo,gold,1,10,U" for i in range(200)])
    files = len(DeltaTable(str(tmp_path / "lake" / "silver" / "people")).file_uris())
    assert files == 8
    lake.feed("K7,Rome,gold,1,20,U")
    log = DeltaTable(str(tmp_path / "lake" / "silver" / "people")).history(limit=1)[0]
    metrics = log["operationMetrics"]
    assert log["operation"] == "MERGE"
    assert metrics["num_target_files_removed"] == 1
    assert metrics["num_target_rows_inserted"] == 1
    # The MERGE commit itself records the bronze version it consumed.
    table = DeltaTable(str(tmp_path / "lake" / "silver" / "people"))
    bronze = DeltaTable(str(tmp_path / "lake" / "bronze" / "changes"))
    assert table.transaction_version("silver.people<-bronze.changes") == bronze.version()


def test_full_refresh_rebuilds_the_same_history(lake: Lake) -> None:
    lake.feed("A,Oslo,gold,1,10,U")
    lake.feed("A,Rome,gold,1,30,U")
    lake.feed("A,Paris,gold,1,20,U")
    before = lake.history("id", "city", "valid_from", "valid_to", "surrogate_key")
    lake.run(full_refresh=True)
    assert lake.history("id", "city", "valid_from", "valid_to", "surrogate_key") == before


def test_bad_options_are_refused_at_definition() -> None:
    with pytest.raises(DefinitionError, match=r"track=.*or track_except"):
        build(track=["city"], track_except=["phone"])
    with pytest.raises(DefinitionError, match="missing_as_delete=True needs snapshot=True"):
        build(missing_as_delete=True)
    with pytest.raises(DefinitionError, match=r"^ApplyChanges: delete_when must be"):
        build(delete_when=42)


def random_changes(seed: int, *, distinct: bool, deletes: float = 0.1) -> list[str]:
    """40 changes to 4 keys at distinct sequences, a share of them deletes; with
    ``distinct`` every change carries a new tier (each is a real change)."""
    rng = random.Random(seed)
    rows = []
    for seq in rng.sample(range(1, 500), 40):
        tier = f"t{seq}" if distinct else rng.choice(["a", "b"])
        op = "D" if rng.random() < deletes else "U"
        rows.append(
            f"K{rng.randint(1, 4)},{rng.choice(['Oslo', 'Rome'])},{tier},{rng.randint(1, 9)},"
            f"{seq},{op}"
        )
    return rows


COLUMNS = ("id", "city", "tier", "phone", "seq", "valid_from", "valid_to", "is_current")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_in_sequence_order_give_the_history_of_one_batch(tmp_path: Path, seed: int) -> None:
    rows = sorted(random_changes(seed, distinct=False), key=lambda r: int(r.split(",")[4]))
    at_once = Lake(tmp_path / "once", build())
    at_once.feed(*rows)
    batched = Lake(tmp_path / "batched", build())
    for i in range(0, len(rows), 7):
        batched.feed(*rows[i : i + 7])
    assert batched.history(*COLUMNS) == at_once.history(*COLUMNS)
    assert_contiguous(batched.table())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_late_batches_slot_in_to_the_history_of_one_batch(tmp_path: Path, seed: int) -> None:
    """Batches arriving in a shuffled order: every late change lands at its place.

    (Without deletes: a delete that arrives before the version it would close is not
    kept, so it cannot close that version when it arrives later.)"""
    rows = random_changes(seed, distinct=True, deletes=0.0)
    at_once = Lake(tmp_path / "once", build())
    at_once.feed(*rows)
    shuffled = Lake(tmp_path / "shuffled", build())
    batches = [rows[i : i + 7] for i in range(0, len(rows), 7)]
    random.Random(seed).shuffle(batches)
    for batch in batches:
        shuffled.feed(*batch)
    assert shuffled.history(*COLUMNS) == at_once.history(*COLUMNS)
    assert_contiguous(shuffled.table())


def test_the_key_hash_is_standard_fnv1a_and_never_changes() -> None:
    """Buckets and surrogate keys live on disk: the hash must not depend on the Polars
    version, the batch, or the longest value in it."""
    from shoplake.engines.polars_cdc import stable_hash

    alone = stable_hash(pl.DataFrame({"k": ["a"]}), ["k"])
    batch = stable_hash(pl.DataFrame({"k": ["a", "a much longer key", None, ""]}), ["k"])
    assert int(alone[0]) == 0xAF63DC4C8601EC8C  # FNV-1a 64 of "a"
    assert int(batch[0]) == int(alone[0])
    assert len({int(h) for h in batch}) == 4  # null and "" differ


def test_validate_knows_the_history_columns_downstream(tmp_path: Path) -> None:
    from shoplake import Materialized
    from shoplake.pipeline.validate import validate_pipeline

    p = build()

    @p.table(layer="gold", kind=Materialized())
    def current_people(silver_people: nw.LazyFrame) -> nw.LazyFrame:
        return silver_people.filter(nw.col("is_current")).select(
            "id", "city", "valid_from", "surrogate_key"
        )

    engine = PolarsDeltaEngine(str(tmp_path / "lake"))
    assert validate_pipeline(p, engine) == []


def test_by_default_every_column_but_lineage_is_tracked(tmp_path: Path) -> None:
    p = Pipeline("cdc")
    p.source("changes", format="csv", columns=["id", "city", "tier", "phone", "seq", "op"])

    @p.table(layer="silver", kind=ApplyChanges(["id"], "seq"))
    def people(bronze_changes: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_changes.drop("_ingested_at").with_columns(nw.col("seq").cast(nw.Int64))

    lake = Lake(tmp_path, p)
    lake.feed("A,Oslo,gold,1,10,U")
    lake.feed("A,Oslo,gold,1,20,U")  # same values, another file: not a change
    lake.feed("A,Oslo,gold,2,30,U")  # the phone is tracked by default
    assert lake.history("phone", "valid_from", "_source") == [
        ("1", 10, "changes/changes-002.csv:2"),
        ("2", 30, "changes/changes-003.csv:2"),
    ]


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_late_changes_split_collapsed_versions_exactly(tmp_path: Path, seed: int) -> None:
    """Shuffled batches with many repeated values: versions collapse, and a late change
    still splits one at exactly the right place (tracked history and intervals)."""
    rows = random_changes(seed, distinct=False, deletes=0.0)
    at_once = Lake(tmp_path / "once", build())
    at_once.feed(*rows)
    shuffled = Lake(tmp_path / "shuffled", build())
    batches = [rows[i : i + 5] for i in range(0, len(rows), 5)]
    random.Random(seed).shuffle(batches)
    for batch in batches:
        shuffled.feed(*batch)
    tracked = ("id", "city", "tier", "valid_from", "valid_to", "is_current")
    assert shuffled.history(*tracked) == at_once.history(*tracked)
    assert_contiguous(shuffled.table())


def test_composite_keys(tmp_path: Path) -> None:
    """A key of two columns: one of (A, Oslo) and (A, Rome) changes, the other only in
    place."""
    p = Pipeline("cdc")
    p.source("changes", format="csv", columns=["id", "city", "tier", "phone", "seq", "op"])

    @p.table(layer="silver", kind=ApplyChanges(["id", "city"], "seq", track=["tier"]))
    def people(bronze_changes: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_changes.select("id", "city", "tier", "phone", nw.col("seq").cast(nw.Int64))

    lake = Lake(tmp_path, p)
    lake.feed("A,Oslo,gold,1,10,U", "A,Rome,gold,1,10,U")
    lake.feed("A,Oslo,silver,1,20,U", "A,Rome,gold,2,20,U")
    rows = lake.table().sort("id", "city", "valid_from")
    assert rows.select("id", "city", "tier", "phone", "valid_from", "valid_to").rows() == [
        ("A", "Oslo", "gold", "1", 10, 20),
        ("A", "Oslo", "silver", "1", 20, None),
        ("A", "Rome", "gold", "2", 10, None),
    ]


def test_a_merge_that_committed_but_raised_is_not_applied_twice(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """delta-rs can raise after its commit landed: the rerun finds the batch recorded
    in the MERGE commit and skips it, so the history is the same as without the error."""
    from shoplake.engines import delta_cdc

    lake.feed("A,Oslo,gold,1,10,U")
    real = delta_cdc.merge_plan

    def commit_then_fail(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise OSError("connection reset after the commit")

    with monkeypatch.context() as patch:
        patch.setattr(delta_cdc, "merge_plan", commit_then_fail)
        failed = lake.feed("A,Rome,gold,1,20,U")
    assert failed.flow("silver.people").status == "failed"
    assert lake.run().flow("silver.people").status == "skipped"
    assert lake.history() == [
        ("A", "Oslo", "gold", 10, 20, False),
        ("A", "Rome", "gold", 20, None, True),
    ]
