"""Landing files that misbehave: still being written when read, gone before they are
read, in a legacy encoding, or any bytes at all. Each ends ingested, rescued,
quarantined or left for the next batch with a reason: never an exception, never lost."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import narwhals as nw
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import shoplake.ingest.bronze as bronze_module
from lakes import LakeHarness, MakeHarness
from shoplake import Append, DefinitionError, Pipeline
from shoplake.ingest.bronze import file_records
from shoplake.ingest.loader import sources_of
from shoplake.sources.readers import load


def shop(encoding: str = "utf-8") -> Pipeline:
    p = Pipeline("landing")
    p.source("customers", format="csv", columns=["customer_id", "city"], encoding=encoding)
    p.source("orders", format="jsonl", columns=["order_id", "amount"])

    @p.table(layer="silver", kind=Append())
    def customers(bronze_customers: nw.LazyFrame) -> nw.LazyFrame:
        return bronze_customers.select("customer_id", "city")

    return p


def statuses(lake: LakeHarness) -> dict[str, str]:
    """Every landing file a bronze commit recorded, and what became of it."""
    engine = lake.new_engine()
    return {
        str(r["path"]): str(r.get("status", "ingested"))
        for source in sources_of(lake.pipeline)
        for r in file_records(engine, source)
    }


def test_a_file_still_being_written_is_left_for_the_next_batch(
    lake_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = lake_harness(shop())
    path = lake.write("orders/o.jsonl", '{"order_id": "O1", "amount": 1}\n')

    def growing(landing: Path, file: Any) -> tuple[bytes, str]:
        with path.open("a") as out:  # the writer appends between listing and reading
            out.write('{"order_id": "O2", "amount": 2}\n')
        return load(landing, file)

    monkeypatch.setattr(bronze_module, "load", growing)
    first = lake.run()
    assert "o.jsonl changed while it was read" in first.flow("bronze.orders").message
    assert not lake.exists("bronze.orders") or lake.read("bronze.orders").height == 0
    monkeypatch.undo()

    second = lake.run()  # the writer is done: the whole file, once
    assert second.flow("bronze.orders").rows_written == 2
    assert sorted(lake.read("bronze.orders")["order_id"]) == ["O1", "O2"]
    assert statuses(lake) == {"orders/o.jsonl": "ingested"}


def test_a_file_deleted_before_it_was_read_is_noted_not_recorded(
    lake_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = lake_harness(shop())
    gone = lake.write("orders/gone.jsonl", '{"order_id": "O1", "amount": 1}\n')
    lake.write("orders/kept.jsonl", '{"order_id": "O2", "amount": 2}\n')

    def vanishing(landing: Path, file: Any) -> tuple[bytes, str]:
        if file.path.endswith("gone.jsonl"):
            gone.unlink(missing_ok=True)
        return load(landing, file)

    monkeypatch.setattr(bronze_module, "load", vanishing)
    run = lake.run()
    flow = run.flow("bronze.orders")
    assert flow.status == "completed" and flow.rows_written == 1
    assert "gone.jsonl vanished before it was read" in flow.message
    assert statuses(lake) == {"orders/kept.jsonl": "ingested"}


LATIN_1 = "customer_id,city\nC1,Zürich\nC2,São Paulo\n".encode("latin-1")


def test_a_latin_1_csv_is_read_with_the_source_encoding(lake_harness: MakeHarness) -> None:
    lake = lake_harness(shop(encoding="latin-1"))
    lake.write("customers/c.csv", LATIN_1)
    assert lake.run().status == "completed"
    assert sorted(lake.read("silver.customers")["city"]) == ["São Paulo", "Zürich"]


def test_a_latin_1_csv_without_the_encoding_is_quarantined_with_the_way_out(
    lake_harness: MakeHarness,
) -> None:
    lake = lake_harness(shop())
    lake.write("customers/c.csv", LATIN_1)
    lake.run()
    [row] = file_records(lake.new_engine(), sources_of(lake.pipeline)[0])
    assert row["status"] == "quarantined"
    assert 'declare it on the source, e.g. encoding="latin-1"' in str(row["reason"])


def test_an_unknown_encoding_is_refused_when_declared() -> None:
    with pytest.raises(DefinitionError, match="unknown encoding 'klingon'"):
        Pipeline("p").source("c", format="csv", columns=["a"], encoding="klingon")


FOLDERS = {"customers": ".csv", "orders": ".jsonl"}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    files=st.lists(
        st.tuples(
            st.sampled_from(sorted(FOLDERS)),
            st.one_of(
                st.binary(max_size=300),
                st.text(max_size=300).map(str.encode),
                st.lists(st.sampled_from([b'{"order_id": 1}', b"a,b", b"\n", b"\xff", b'"', b"{"]))
                .map(b"".join),
            ),
            st.booleans(),  # gzip the file
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_bytes_in_a_source_folder_end_read_rescued_or_quarantined(
    files: list[tuple[str, bytes, bool]],
) -> None:
    import gzip

    root = Path(tempfile.mkdtemp())
    try:
        lake = LakeHarness(root, shop())
        for n, (folder, data, zipped) in enumerate(files):
            name = f"{folder}/f{n}{FOLDERS[folder]}"
            lake.write(name + (".gz" if zipped else ""), gzip.compress(data) if zipped else data)
        run = lake.run()
        assert run.flow("bronze.orders").status != "failed", run.flow("bronze.orders").message
        assert run.flow("bronze.customers").status != "failed"
        recorded = statuses(lake)
        landed = {p.relative_to(lake.landing).as_posix() for p in lake.landing.rglob("*.*")}
        # Every file is accounted for, in a state that says what became of it.
        assert set(recorded) == landed
        assert set(recorded.values()) <= {"ingested", "quarantined", "skipped"}
        for ref in ("bronze.orders", "bronze.customers"):
            if lake.exists(ref):
                sources = lake.read(ref)["_source"].str.replace(r":-?\d+$", "").unique()
                assert set(sources) <= landed
        assert lake.run().status == "completed"  # and nothing is taken twice
        assert statuses(lake) == recorded
    finally:
        shutil.rmtree(root, ignore_errors=True)



@pytest.mark.slow  # 200 MB through a real process: ~20 s, ~3 GB
def test_a_200_mb_single_line_file_is_ingested_whole_in_bounded_memory(tmp_path: Path) -> None:
    import json
    import resource
    import subprocess
    import sys

    landing, lake = tmp_path / "landing", tmp_path / "lake"
    (landing / "orders").mkdir(parents=True)
    note = "x" * (200 * 1024 * 1024)  # one line, no newline at its end
    (landing / "orders" / "huge.jsonl").write_text(
        '{"order_id": "O1", "amount": "1", "note": "' + note + '"}'
    )
    (landing / "orders" / "small.jsonl").write_text('{"order_id": "O2", "amount": "2"}\n')
    (tmp_path / "bigshop.py").write_text(
        "from shoplake import Append, Pipeline\n"
        "def build():\n"
        "    p = Pipeline('big')\n"
        "    p.source('orders', format='jsonl', columns=['order_id', 'amount'])\n"
        "    @p.table(layer='silver', kind=Append())\n"
        "    def orders(bronze_orders):\n"
        "        return bronze_orders.select('order_id', 'amount')\n"
        "    return p\n"
    )
    command = [sys.executable, "-m", "shoplake.cli", "run", "--lake", str(lake), "--landing",
               str(landing), "--pipeline", "bigshop:build", "--archive", "leave"]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024
    assert peak_gb < 6  # a few copies of the line, not a blow-up
    bronze = pl.read_delta(str(lake / "bronze" / "orders")).sort("order_id")
    assert bronze["order_id"].to_list() == ["O1", "O2"]
    rescued = json.loads(bronze["_rescued_data"][0])
    assert len(rescued["note"]) == len(note)  # the undeclared field kept whole
    assert pl.read_delta(str(lake / "silver" / "orders"))["order_id"].sort().to_list() == [
        "O1",
        "O2",
    ]
