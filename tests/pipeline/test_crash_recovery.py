"""Real crashes and real concurrency: ``shoplake run`` in subprocesses, killed with SIGKILL.

A crash point (``SHOPLAKE_FAULT``) kills the process at a named step of a
batch; a plain rerun must then leave every file ingested exactly once, every
file archived, and the dead batch marked failed. Two runs on one lake are
serialised by the lake lock: the second refuses (or queues with ``--wait``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from shoplake.engines.polars_delta import PolarsDeltaEngine
from shoplake.ingest.batch_log import INTERRUPTED, list_batches
from shoplake.ingest.file_log import file_rows

# Real processes killed at each step and run again: seconds per test.
pytestmark = pytest.mark.slow

PIPELINE = textwrap.dedent(
    """
    import narwhals as nw
    from shoplake import Append, Pipeline

    def build():
        p = Pipeline("crash")
        p.source("orders", format="jsonl", columns=["order_id", "amount"])
        p.source("events", format="csv", columns=["event_id", "kind"])

        @p.table(layer="silver", kind=Append())
        def orders(bronze_orders):
            return bronze_orders

        @p.table(layer="gold")
        def order_count(silver_orders):
            return silver_orders.select(nw.len().alias("n"))

        return p
    """
)


class Lake:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.landing = root / "landing"
        self.lake = root / "lake"
        (root / "crashshop.py").write_text(PIPELINE)
        for n in range(3):
            folder = self.landing / "orders"
            folder.mkdir(parents=True, exist_ok=True)
            lines = [f'{{"order_id": "{n}-{i}", "amount": "1"}}' for i in range(4)]
            (folder / f"orders-{n}.jsonl").write_text("\n".join(lines) + "\n")
        (self.landing / "events").mkdir()
        (self.landing / "events" / "e.csv").write_text("event_id,kind\ne1,a\ne2,b\n")

    def command(self, *extra: str) -> list[str]:
        where = ["--lake", str(self.lake), "--landing", str(self.landing)]
        return [sys.executable, "-m", "shoplake.cli", "run", *where,
                "--pipeline", "crashshop:build", *extra]  # fmt: skip

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPLAKE_")}
        env["PYTHONPATH"] = os.pathsep.join([str(self.root), env.get("PYTHONPATH", "")])
        env.update(extra)
        return env

    def run(self, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*extra), env=self.env(**env), capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip

    def start(self, *extra: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*extra), env=self.env(**env), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def assert_exactly_once(self) -> None:
        engine = PolarsDeltaEngine(str(self.lake))
        bronze = engine.collect(engine.read("bronze.orders")).to_native()
        silver = engine.collect(engine.read("silver.orders")).to_native()
        expected = sorted(f"{n}-{i}" for n in range(3) for i in range(4))
        assert sorted(bronze["order_id"].to_list()) == expected
        assert sorted(silver["order_id"].to_list()) == expected
        assert engine.collect(engine.read("gold.order_count")).item(0, "n") == 12
        events = engine.collect(engine.read("bronze.events")).to_native()
        assert sorted(events["event_id"].to_list()) == ["e1", "e2"]
        # Every file recorded once as ingested, and moved out of landing exactly once.
        ingested = Counter(r["path"] for r in file_rows(engine, status="ingested"))
        assert ingested == Counter(
            {"orders/orders-0.jsonl": 1, "orders/orders-1.jsonl": 1, "orders/orders-2.jsonl": 1,
             "events/e.csv": 1}
        )  # fmt: skip
        assert [p for p in self.landing.rglob("*") if p.is_file()] == []
        archived = sorted(p.name for p in (self.root / "archive").rglob("*") if p.is_file())
        assert archived == ["e.csv", "orders-0.jsonl", "orders-1.jsonl", "orders-2.jsonl"]


@pytest.mark.parametrize(
    "point", ["before_bronze_commit", "after_bronze_commit", "before_archive", "mid_archive"]
)
def test_sigkill_at_any_step_then_rerun_ingests_every_file_once(tmp_path: Path, point: str) -> None:
    lake = Lake(tmp_path)
    crashed = lake.run(SHOPLAKE_FAULT=f"{point}:kill")
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    rerun = lake.run()
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    lake.assert_exactly_once()
    batches = list_batches(PolarsDeltaEngine(str(lake.lake)))
    dead = [b for b in batches if b.error == INTERRUPTED]
    assert len(dead) == 1 and dead[0].status == "failed"
    # A crash after the last commit leaves nothing to redo: the rerun only archives.
    assert all(b.status == "succeeded" for b in batches if b not in dead)


def test_a_second_run_while_one_holds_the_lake_refuses_then_queues(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    marker = tmp_path / "holding"
    first = lake.start(SHOPLAKE_FAULT="holding_lock:pause", SHOPLAKE_FAULT_MARKER=str(marker))
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline and first.poll() is None, "first run never locked"
            time.sleep(0.05)
        refused = lake.run()
        assert refused.returncode == 1
        assert "another shoplake process is updating the lake" in refused.stdout
        assert not (lake.lake / "bronze").exists()  # it wrote nothing
        queued = lake.start("--wait", "60")
        time.sleep(1.0)
        assert queued.poll() is None  # waiting for the lock
        first.kill()  # the holder dies mid-batch; the kernel releases its lock
        first.wait(timeout=30)
        out, _ = queued.communicate(timeout=120)
        assert queued.returncode == 0, out
    finally:
        if first.poll() is None:
            first.kill()
    lake.assert_exactly_once()


def test_two_runs_started_together_ingest_each_file_once(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    runs = [lake.start("--wait", "120") for _ in range(2)]
    outputs = [r.communicate(timeout=180)[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    lake.assert_exactly_once()
    assert sum("nothing to do" in o for o in outputs) == 1  # the second found it all done


def test_data_files_written_without_a_commit_are_never_read(tmp_path: Path) -> None:
    """The state a kill inside the bronze write leaves: Parquet files, no commit."""
    import shutil

    lake = Lake(tmp_path)
    held = tmp_path / "held"
    held.mkdir()
    for name in ("orders-1.jsonl", "orders-2.jsonl"):
        (lake.landing / "orders" / name).rename(held / name)
    assert lake.run().returncode == 0  # orders-0 and the events file
    for name in ("orders-1.jsonl", "orders-2.jsonl"):
        (held / name).rename(lake.landing / "orders" / name)
    crashed = lake.run(SHOPLAKE_FAULT="before_bronze_commit:kill")
    assert crashed.returncode == -signal.SIGKILL
    table = lake.lake / "bronze" / "orders"
    [committed] = list(table.glob("*.parquet"))
    shutil.copy(committed, table / "part-00000-uncommitted-c000.snappy.parquet")
    assert lake.run().returncode == 0
    lake.assert_exactly_once()


def test_the_clock_going_back_between_batches_loses_and_doubles_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib
    from datetime import timedelta

    from shoplake.ingest.batch_log import list_batches
    from shoplake.ingest.loader import run_available
    from shoplake.names import utcnow

    lake = Lake(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "crashshop", raising=False)
    pipeline = importlib.import_module("crashshop").build()
    monkeypatch.delitem(sys.modules, "crashshop")  # this test's copy stays this test's
    engine = PolarsDeltaEngine(str(lake.lake))
    assert all(b.status == "succeeded" for b in run_available(pipeline, engine, lake.landing))

    # The machine's clock is set back two days (NTP, a VM restored from a snapshot).
    earlier = utcnow() - timedelta(days=2)
    for module in [m for name, m in sys.modules.items() if name.startswith("shoplake")]:
        if getattr(module, "utcnow", None) is utcnow:
            monkeypatch.setattr(module, "utcnow", lambda: earlier)
    (lake.landing / "orders" / "orders-3.jsonl").write_text('{"order_id": "3-0", "amount": "1"}\n')
    again = run_available(pipeline, PolarsDeltaEngine(str(lake.lake)), lake.landing)
    assert [b.status for b in again] == ["succeeded"] and again[0].files == 1
    assert run_available(pipeline, PolarsDeltaEngine(str(lake.lake)), lake.landing) == []

    engine = PolarsDeltaEngine(str(lake.lake))
    orders = engine.collect(engine.read("silver.orders")).to_native()["order_id"].to_list()
    assert sorted(orders) == sorted([*(f"{n}-{i}" for n in range(3) for i in range(4)), "3-0"])
    batches = list_batches(engine)
    assert len({b.batch_id for b in batches}) == len(batches) == 2  # distinct, both kept
    # The latest run is the one logged last, not the one with the latest clock reading.
    from shoplake.observe import monitor
    from shoplake.observe.lake import LakeReader

    latest = monitor.runs(LakeReader(str(lake.lake), engine=engine), limit=1)
    assert latest["run_id"].to_list() == [again[0].batch_id]
