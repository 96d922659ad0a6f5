"""The Spark engine's storage operations on small tables, each checked through the Delta
log (read with delta-rs, as the Polars engine reads it): versions, app transactions,
commit metadata, merges, partition replacement and maintenance."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest

from shoplake.engines import create_engine
from shoplake.engines.base import CdcSpec
from shoplake.errors import ConfigError

pytest.importorskip("pyspark")


@pytest.fixture
def spark(tmp_path: Path, spark_session: Any) -> Any:
    return create_engine(str(tmp_path / "lake"), "spark", session=spark_session)


def _frame(**columns: list[Any]) -> nw.DataFrame[Any]:
    return nw.from_native(pl.DataFrame(columns), eager_only=True)


def _rows(engine: Any, ref: str, *order: str) -> list[tuple[Any, ...]]:
    """The table's rows through the Polars engine (delta-rs), sorted."""
    polars = create_engine(engine.lake)
    return sorted(polars.read(ref).collect().to_polars().select(order).rows())


def test_every_app_transaction_of_a_write_is_recorded_in_its_one_commit(spark: Any) -> None:
    written = spark.append(
        "bronze.t",
        _frame(id=[1, 2], v=["a", "b"]),
        transactions={"silver.t<-bronze.a": 3, "silver.t<-bronze.b": 7},
        metadata={"shoplake.run_id": "r1"},
    )
    assert written.version == 0 and written.rows_inserted == 2
    assert spark.consumed("bronze.t", "silver.t<-bronze.a") == 3
    assert spark.consumed("bronze.t", "silver.t<-bronze.b") == 7
    assert spark.consumed("bronze.t", "other") is None
    # The first one is a real Delta txn action: delta-rs (the Polars engine) sees it too.
    assert create_engine(spark.lake).consumed("bronze.t", "silver.t<-bronze.a") == 3
    assert spark.commit_metadata("bronze.t", "shoplake.run_id") == ["r1"]
    assert create_engine(spark.lake).commit_metadata("bronze.t", "shoplake.run_id") == ["r1"]
    assert spark.history("bronze.t")[0]["operation"] == "WRITE"


def test_upsert_merges_newer_rows_and_records_a_merge_that_changed_nothing(spark: Any) -> None:
    ref = "silver.u"
    spark.append(ref, _frame(id=[1, 2], seq=[1, 1], v=["a", "b"]))
    merged = spark.upsert(
        ref,
        _frame(id=[2, 3], seq=[2, 1], v=["B", "c"]),
        keys=["id"],
        sequence_by="seq",
        transactions={"u<-x": 1},
    )
    assert (merged.rows_inserted, merged.rows_updated) == (1, 1)
    assert _rows(spark, ref, "id", "v") == [(1, "a"), (2, "B"), (3, "c")]
    stale = spark.upsert(
        ref, _frame(id=[2], seq=[1], v=["old"]), keys=["id"], sequence_by="seq",
        transactions={"u<-x": 2},
    )
    assert stale.rows_updated == 0
    assert spark.consumed(ref, "u<-x") == 2
    assert _rows(spark, ref, "id", "v") == [(1, "a"), (2, "B"), (3, "c")]


def test_replace_partitions_and_replace_rows_touch_only_the_named_keys(spark: Any) -> None:
    ref = "gold.p"
    spark.overwrite(ref, _frame(m=[1, 1, 2, 3], v=[10, 11, 20, 30]), partition_by=["m"])
    replaced = spark.replace_partitions(
        ref, _frame(m=[2, 4], v=[21, 40]), _frame(m=[2, 4]), partition_by=["m"]
    )
    assert replaced.rows_inserted == 2
    assert _rows(spark, ref, "m", "v") == [(1, 10), (1, 11), (2, 21), (3, 30), (4, 40)]

    rows = "gold.r"
    spark.overwrite(rows, _frame(k=[1, 2, 3], v=[1, 2, 3]))
    # Keys 1 and 3 become exactly the frame: 1 updated, 4 inserted, 3 deleted; 2 untouched.
    spark.replace_rows(
        rows,
        _frame(k=[1, 4], v=[9, 8]),
        _frame(k=[1, 3, 4]),
        partition_by=["k"],
        transactions={"r": 1},
    )
    assert _rows(spark, rows, "k", "v") == [(1, 9), (2, 2), (4, 8)]
    assert spark.consumed(rows, "r") == 1


def test_apply_changes_keeps_scd2_history(spark: Any) -> None:
    spec = CdcSpec(
        keys=("id",), sequence_by="ts", scd_type=2, track=None, track_except=(),
        ignore_null_updates=False, snapshot=False, missing_as_delete=False, buckets=4,
        valid_from="valid_from", valid_to="valid_to", is_current="is_current",
        surrogate_key="sk",
    )

    def batch(ids: list[int], days: list[int], names: list[str]) -> nw.DataFrame[Any]:
        ts = [datetime(2026, 1, d) for d in days]
        return _frame(id=ids, ts=ts, name=names, __shoplake_delete=[False] * len(ids))

    first = spark.apply_changes(
        "silver.c", batch([1, 2], [1, 1], ["a", "b"]), spec=spec, full=False
    )
    assert first.opened == 2
    second = spark.apply_changes(
        "silver.c", batch([1, 2], [5, 1], ["A", "b"]), spec=spec, full=False,
        transactions={"c<-x": 2},
    )
    assert (second.opened, second.version) == (1, first.version + 1)
    history = _rows(spark, "silver.c", "id", "name", "is_current")
    assert history == [(1, "A", True), (1, "a", False), (2, "b", True)]
    assert spark.consumed("silver.c", "c<-x") == 2


def test_read_appended_and_maintenance(spark: Any) -> None:
    ref = "bronze.m"
    for i in range(3):
        spark.append(ref, _frame(id=[i], v=[f"x{i}"]))
    appended = spark.read_appended(ref, 0, 2)
    assert appended is not None
    assert sorted(spark.collect(appended)["id"].to_list()) == [1, 2]
    compacted = spark.compact(ref)
    assert (compacted.files_removed, compacted.files_added) == (3, 1)
    assert spark.read_appended(ref, 0, compacted.version) is not None  # OPTIMIZE: no change
    zordered = spark.zorder(ref, ["id"])
    assert zordered.version == compacted.version + 1
    vacuumed = spark.vacuum(ref, 0, force=True)
    assert vacuumed.files_removed >= 3
    spark.checkpoint(ref)
    info = spark.info(ref)
    assert info is not None and info.rows == 3
    assert spark.list_tables() == ["bronze.m"]


def test_spark_settings_come_from_the_spark_section(tmp_path: Path) -> None:
    from shoplake.engines.spark_session import spark_settings

    config = tmp_path / "shoplake.toml"
    config.write_text('[spark]\nmaster = "local[3]"\nconf = { "spark.x" = "1" }\n')
    settings = spark_settings(config=config, conf={"spark.y": "2"})
    assert (settings.master, settings.remote) == ("local[3]", None)
    assert dict(settings.conf) == {"spark.x": "1", "spark.y": "2"}
    config.write_text('[spark]\nremote = "localhost:15002"\n')
    with pytest.raises(ConfigError, match="sc://host:port"):
        spark_settings(config=config)
    config.write_text('[spark]\nmastr = "local[2]"\n')
    with pytest.raises(ConfigError, match="no setting 'mastr'"):
        spark_settings(config=config)


def test_the_driver_gets_a_quarter_of_the_machine_unless_conf_says(spark_session: Any) -> None:
    from shoplake.engines.spark_session import driver_memory

    wanted = driver_memory()
    assert 1 <= int(wanted.removesuffix("g")) <= 8
    assert spark_session.sparkContext.getConf().get("spark.driver.memory") == wanted
    # The heap the JVM really got (a flow's result passes through it).
    heap = spark_session.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory()
    assert heap > int(wanted.removesuffix("g")) * 2**30 * 0.8
