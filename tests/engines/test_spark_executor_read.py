"""A big batch on the Spark engine is read by the executors, not on the driver: the same
bronze rows, quarantine and file records as the driver's readers give."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from spark_lakes import RUN_SPECIFIC

import shoplake
from shoplake import Pipeline
from shoplake.engines import create_engine

pytest.importorskip("pyspark")
from shoplake.engines.spark_delta import SparkDeltaEngine
from shoplake.engines.spark_session import SparkSettings


def _pipeline() -> Pipeline:
    pipeline = Pipeline("executor_read")
    pipeline.source("orders", format="jsonl", columns=["id", "amount"], hints={"amount": "float"})
    pipeline.source("items", format="csv", columns=["order_id", "sku", "qty"])
    return pipeline


def _landing(root: Path) -> Path:
    landing = root / "landing"
    (landing / "orders").mkdir(parents=True)
    (landing / "items").mkdir()
    good = [{"id": f"o{i}", "amount": i * 1.5} for i in range(1, 40)]
    lines = [json.dumps(r) for r in good]
    lines[3] = '{"id": "o4", "amount": 6'  # cut off: a corrupt line
    lines[5] = json.dumps({"id": "o6", "amount": "n/a", "coupon": "X1"})  # rescued values
    lines.insert(7, "")
    (landing / "orders" / "a.jsonl").write_text("\n".join(lines) + "\n")
    (landing / "orders" / "b.jsonl").write_text("\n".join(lines) + "\n")  # a copy of a.jsonl
    (landing / "orders" / "c.jsonl.gz").write_bytes(b"not gzip at all")
    more = [json.dumps({"id": f"p{i}", "amount": i}) for i in range(20)]
    (landing / "orders" / "d.jsonl.gz").write_bytes(gzip.compress("\n".join(more).encode()))
    rows = ["order_id,sku,qty", *[f"o{i},S{i % 7},{i % 3 + 1}" for i in range(30)]]
    rows.insert(5, "o99,S1,2,surplus")  # one field too many
    (landing / "items" / "x.csv").write_text("\n".join(rows) + "\n")
    return landing


def _bronze(lake: Path, name: str) -> pl.DataFrame:
    frame = pl.read_delta(str(lake / "bronze" / name))
    frame = frame.drop([c for c in RUN_SPECIFIC if c in frame.columns])
    return frame.sort("_source")


def _files(lake: Path, name: str) -> list[dict[str, object]]:
    records: list[dict[str, object]] = []
    for value in create_engine(str(lake)).commit_metadata(f"bronze.{name}", "shoplake.files"):
        for record in json.loads(value):
            records.append({k: v for k, v in record.items() if k not in ("batch_id", "reason")})
            reason = str(record["reason"])
            records[-1]["reason"] = reason.split(", ingested in batch")[0]
    return sorted(records, key=lambda r: str(r["path"]))


def test_a_big_batch_is_read_by_the_executors_with_the_driver_readers_results(
    tmp_path: Path, spark_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = _landing(tmp_path)
    distributed: list[int] = []
    original = SparkDeltaEngine.distribute

    def counted(self: SparkDeltaEngine, tasks: Any, work: Any, schema: Any) -> Any:
        distributed.append(len(tasks))
        return original(self, tasks, work, schema)

    monkeypatch.setattr(SparkDeltaEngine, "distribute", counted)
    on_driver = shoplake.run(_pipeline(), engine=create_engine(str(tmp_path / "polars")),
                             landing=landing)
    spark = SparkDeltaEngine(
        str(tmp_path / "spark"),
        session=spark_session,
        settings=SparkSettings(read_on_executors_above=0),  # every batch, for the test
    )
    on_executors = shoplake.run(_pipeline(), engine=spark, landing=landing)
    # Three distinct contents of orders (the copy and the bad gzip aside), one of items.
    assert sorted(distributed) == [1, 3]

    for name in ("orders", "items"):
        expected, actual = _bronze(tmp_path / "polars", name), _bronze(tmp_path / "spark", name)
        assert actual.schema == expected.schema
        assert actual.to_dicts() == expected.to_dicts()
        assert _files(tmp_path / "spark", name) == _files(tmp_path / "polars", name)
    orders = _bronze(tmp_path / "spark", "orders")
    assert orders.height == 39 + 20  # a.jsonl (the corrupt line kept, rescued) and d.jsonl.gz
    corrupt = orders.filter(pl.col("_rescued_data").str.contains("_corrupt_record"))
    assert corrupt["_source"].to_list() == ["orders/a.jsonl:4"]
    statuses = {str(r["path"]): r["status"] for r in _files(tmp_path / "spark", "orders")}
    assert statuses == {
        "orders/a.jsonl": "ingested",
        "orders/b.jsonl": "skipped",
        "orders/c.jsonl.gz": "quarantined",
        "orders/d.jsonl.gz": "ingested",
    }
    written = {f.table: (f.rows_read, f.rows_written) for f in on_executors.flows}
    assert written == {f.table: (f.rows_read, f.rows_written) for f in on_driver.flows}


def test_a_small_batch_stays_on_the_driver(tmp_path: Path, spark_session: Any) -> None:
    spark = SparkDeltaEngine(str(tmp_path / "lake"), session=spark_session)
    assert not spark.distributes(1_000_000)
    assert spark.distributes(65 * 2**20)
