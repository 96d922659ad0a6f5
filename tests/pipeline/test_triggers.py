"""Trigger manifests, the watch loop and its schedules, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from test_crash_recovery import Lake
from test_ingestion import Shop, rows

from shoplake.errors import ConfigError
from shoplake.ingest.batch_log import list_batches
from shoplake.ingest.loader import BatchResult
from shoplake.ingest.watch import WatchConfig, watch


@pytest.fixture
def shop(tmp_path: Path) -> Shop:
    return Shop(tmp_path)


def manifest(shop: Shop, name: str, body: object) -> Path:
    folder = shop.landing / "_triggers"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    return path


def outcome(shop: Shop, batch: str, name: str) -> dict[str, object]:
    [found] = list(shop.archive.glob(f"*/{batch}/{name}.outcome.json"))
    return json.loads(found.read_text())  # type: ignore[no-any-return]


def test_a_manifest_runs_exactly_its_files_as_its_batch(shop: Shop) -> None:
    shop.drop("a.jsonl", rows("1"))
    shop.drop("b.jsonl", rows("2"))
    manifest(shop, "eod.json", {"batch_id": "eod-1", "files": ["orders/a.jsonl"]})
    [batch] = shop.run(manifests_only=True)
    assert (batch.batch_id, batch.trigger, batch.status, batch.files) == (
        "eod-1", "manifest", "succeeded", 1,
    )  # fmt: skip
    assert shop.bronze()["order_id"].to_list() == ["1"]
    assert (shop.landing / "orders" / "b.jsonl").exists()  # not in the batch: untouched
    assert not (shop.landing / "_triggers" / "eod.json").exists()
    assert outcome(shop, "eod-1", "eod.json")["status"] == "succeeded"
    assert list_batches(shop.engine)[0].trigger == "manifest"


def test_a_manifest_naming_sources_takes_their_new_files(shop: Shop) -> None:
    shop.drop("a.jsonl", rows("1", "2"))
    shop.drop("e.csv", b"event_id,kind\ne1,x\n", source="events")
    manifest(shop, "m.json", {"batch_id": "only-orders", "sources": ["orders"]})
    [batch] = shop.run(manifests_only=True)
    assert batch.files == 1 and shop.gold_count() == 2
    assert (shop.landing / "events" / "e.csv").exists()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "not valid JSON"),
        (["orders/a.jsonl"], "JSON object"),
        ({"files": ["orders/a.jsonl"]}, "batch_id"),
        ({"batch_id": "../up", "files": ["orders/a.jsonl"]}, "batch_id"),
        ({"batch_id": "b1", "files": ["/etc/passwd"]}, "absolute"),
        ({"batch_id": "b1", "files": ["orders/../../secret.jsonl"]}, "'..'"),
        ({"batch_id": "b1", "files": ["orders/missing.jsonl"]}, "does not exist"),
        ({"batch_id": "b1", "files": ["nowhere/a.jsonl"]}, "not in a source folder"),
        ({"batch_id": "b1", "sources": ["payments"]}, "not a source"),
        ({"batch_id": "b1"}, "names no files"),
        ({"batch_id": "b1", "files": ["orders/a.jsonl"], "when": "now"}, "unknown key"),
    ],
)
def test_a_malformed_manifest_is_rejected_with_its_reason_and_archived(
    shop: Shop, body: object, reason: str
) -> None:
    shop.drop("a.jsonl", rows("1"))
    (shop.root / "secret.jsonl").write_text('{"order_id": "s", "amount": "1"}\n')
    manifest(shop, "bad.json", body)
    [batch] = shop.run(manifests_only=True)
    assert batch.status == "rejected" and reason in str(batch.error)
    assert not (shop.landing / "_triggers" / "bad.json").exists()
    result = outcome(shop, "_failed", "bad.json")
    assert result["status"] == "failed" and reason in str(result["reason"])
    [row] = list_batches(shop.engine)  # visible in `shoplake batches`
    assert (row.trigger, row.status) == ("manifest", "failed") and reason in str(row.error)
    assert shop.engine.version("bronze.orders") is None  # nothing ran
    assert (shop.root / "secret.jsonl").exists()


def test_a_manifest_for_a_batch_that_already_succeeded_is_rejected(shop: Shop) -> None:
    shop.drop("a.jsonl", rows("1"))
    manifest(shop, "one.json", {"batch_id": "b1", "files": ["orders/a.jsonl"]})
    shop.run(manifests_only=True)
    shop.drop("b.jsonl", rows("2"))
    manifest(shop, "two.json", {"batch_id": "b1", "files": ["orders/b.jsonl"]})
    [again] = shop.run(manifests_only=True)
    assert again.status == "rejected" and "already ran (succeeded)" in str(again.error)
    assert shop.gold_count() == 1


def test_watch_ingests_a_new_file_within_seconds_and_stops_cleanly(shop: Shop) -> None:
    stop = threading.Event()
    seen: queue.Queue[BatchResult] = queue.Queue()
    ready = threading.Event()
    thread = threading.Thread(
        target=watch,
        args=(shop.pipeline, shop.engine, shop.landing),
        kwargs={
            "config": shop.config,
            "watching": WatchConfig(),
            "stop": stop,
            "on_batch": seen.put,
            "on_ready": ready.set,
        },
    )
    thread.start()
    try:
        assert ready.wait(30)
        time.sleep(0.3)  # let the watcher start listening
        start = time.monotonic()
        tmp = shop.landing / "orders" / "_a.jsonl"  # written under a temporary name...
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"order_id": "1", "amount": "2"}) + "\n")
        os.replace(tmp, shop.landing / "orders" / "a.jsonl")  # ...then renamed in
        batch = seen.get(timeout=30)
        assert (batch.trigger, batch.status, batch.files) == ("watch", "succeeded", 1)
        assert time.monotonic() - start < 15  # about a second on a quiet machine
        assert shop.gold_count() == 1
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


def test_interval_and_cron_schedules_give_the_next_run() -> None:
    now = datetime(2026, 1, 1, 10, 7, 30).timestamp()
    assert WatchConfig(interval_s=60).next_due(now) == now + 60
    cron = WatchConfig(cron="*/15 * * * *").next_due(now)
    assert cron == datetime(2026, 1, 1, 10, 15).timestamp()
    both = WatchConfig(interval_s=3600, cron="*/15 * * * *").next_due(now)
    assert both == cron
    assert WatchConfig().next_due(now) is None
    with pytest.raises(ConfigError, match="cron"):
        WatchConfig(cron="every day")
    with pytest.raises(ConfigError, match="interval"):
        WatchConfig(interval_s=0)


def test_sigterm_stops_the_watch_process_cleanly(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    command = lake.command()
    command[command.index("run")] = "watch"
    proc = subprocess.Popen(command, env=lake.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stream = proc.stdout
    reader = threading.Thread(target=lambda: [lines.put(x) for x in stream], daemon=True)
    reader.start()

    def wait_for(word: str) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if word in line:
                return line
        raise AssertionError(f"no {word!r} from watch")

    try:
        assert "succeeded" in wait_for("batch ")  # the files waiting at start
        wait_for("watching")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    lake.assert_exactly_once()
    reader.join(timeout=30)  # the output up to the end of the process
    rest = "".join(lines.get() for _ in range(lines.qsize()))
    assert "stopped after 1 batch(es)" in rest


def test_watch_polls_an_object_store_landing(tmp_path: Path) -> None:
    import fsspec

    from shoplake.sources.remote import RemoteLanding

    fs = fsspec.filesystem("memory")
    fs.makedirs("/watch-test/landing", exist_ok=True)
    shop = Shop(tmp_path)
    stop = threading.Event()
    seen: queue.Queue[BatchResult] = queue.Queue()
    ready = threading.Event()
    landing = RemoteLanding("memory://watch-test/landing")
    thread = threading.Thread(
        target=watch,
        args=(shop.pipeline, shop.engine, landing),
        kwargs={
            "config": shop.config,
            "watching": WatchConfig(poll_s=0.2),
            "stop": stop,
            "on_batch": seen.put,
            "on_ready": ready.set,
        },
    )
    thread.start()
    try:
        assert ready.wait(30)
        fs.pipe("/watch-test/landing/orders/a.jsonl", b'{"order_id": "1", "amount": "2"}\n')
        batch = seen.get(timeout=30)
        assert (batch.trigger, batch.status, batch.files) == ("watch", "succeeded", 1)
        assert shop.gold_count() == 1
        assert fs.find("/watch-test/landing") == []  # archived
    finally:
        stop.set()
        thread.join(timeout=30)
        fs.rm("/watch-test", recursive=True)
    assert not thread.is_alive()


def test_an_interval_runs_an_update_without_any_file_event(shop: Shop) -> None:
    shop.drop("a.jsonl", rows("1"))
    shop.run()
    stop = threading.Event()
    ready = threading.Event()
    seen: queue.Queue[BatchResult] = queue.Queue()
    thread = threading.Thread(
        target=watch,
        args=(shop.pipeline, shop.engine, shop.landing),
        kwargs={
            "config": shop.config,
            "watching": WatchConfig(interval_s=0.3),
            "stop": stop,
            "on_batch": seen.put,
            "on_ready": ready.set,
        },
    )
    thread.start()
    try:
        assert ready.wait(30)
        # Another writer appends to bronze (no landing file, so no file event): only the
        # schedule can notice that silver and gold are behind.
        one = shop.engine.collect(shop.engine.read("bronze.orders"))
        shop.engine.append("bronze.orders", one)
        batch = seen.get(timeout=30)
        assert (batch.trigger, batch.status, batch.files) == ("schedule", "succeeded", 0)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert shop.gold_count() == 2
    assert list_batches(shop.engine)[0].trigger == "schedule"


def test_a_failing_update_does_not_end_the_watch(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shoplake.ingest.watch as watch_module

    monkeypatch.setattr(watch_module, "RETRY_S", 0.2)
    real = watch_module.run_available
    calls = {"n": 0}

    def flaky(*args: object, **kwargs: object) -> list[BatchResult]:
        calls["n"] += 1
        if calls["n"] == 2:  # the first update after start: a storage error
            raise OSError("disk went away")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(watch_module, "run_available", flaky)
    stop, ready = threading.Event(), threading.Event()
    seen: queue.Queue[BatchResult] = queue.Queue()
    waits: list[str] = []
    thread = threading.Thread(
        target=watch,
        args=(shop.pipeline, shop.engine, shop.landing),
        kwargs={
            "config": shop.config,
            "watching": WatchConfig(),
            "stop": stop,
            "on_batch": seen.put,
            "on_ready": ready.set,
            "on_wait": waits.append,
        },
    )
    thread.start()
    try:
        assert ready.wait(30)
        time.sleep(0.3)
        shop.drop("a.jsonl", rows("1"))
        batch = seen.get(timeout=30)  # retried after the failure, without a new event
        assert batch.status == "succeeded" and shop.gold_count() == 1
        assert any("disk went away" in w for w in waits)
    finally:
        stop.set()
        thread.join(timeout=30)


def test_a_manifest_on_an_object_store_landing(tmp_path: Path) -> None:
    import fsspec

    from shoplake.ingest.loader import run_available
    from shoplake.sources.remote import RemoteLanding

    fs = fsspec.filesystem("memory")
    base = "/manifest-test"
    fs.pipe(f"{base}/landing/orders/a.jsonl", b'{"order_id": "1", "amount": "2"}\n')
    fs.pipe(f"{base}/landing/orders/b.jsonl", b'{"order_id": "2", "amount": "2"}\n')
    good = {"batch_id": "remote-1", "files": ["orders/a.jsonl"]}
    fs.pipe(f"{base}/landing/_triggers/1.json", json.dumps(good).encode())
    bad = {"batch_id": "remote-2", "files": ["orders/../../etc/passwd"]}
    fs.pipe(f"{base}/landing/_triggers/2.json", json.dumps(bad).encode())
    try:
        shop = Shop(tmp_path)
        landing = RemoteLanding(f"memory://{base}/landing")
        done = run_available(
            shop.pipeline, shop.engine, landing, config=shop.config, manifests_only=True
        )
        assert (done[0].batch_id, done[0].status) == ("remote-1", "succeeded")
        assert done[1].status == "rejected" and "'..'" in str(done[1].error)
        assert shop.bronze()["order_id"].to_list() == ["1"]
        assert fs.find(f"{base}/landing") == [f"{base}/landing/orders/b.jsonl"]
        [outcome] = [k for k in fs.find(f"{base}/archive") if k.endswith("1.json.outcome.json")]
        assert json.loads(fs.cat_file(outcome))["status"] == "succeeded"
        assert any(k.endswith("_failed/2.json") for k in fs.find(f"{base}/archive"))
    finally:
        fs.rm(base, recursive=True)


@pytest.mark.slow  # two real watch processes
def test_two_watch_processes_on_one_lake_ingest_each_file_once(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    command = lake.command()  # a watch queues for the lake lock (up to 30 s) by itself
    command[command.index("run")] = "watch"
    watches = [
        subprocess.Popen(
            command, env=lake.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    try:
        # More files land while both watch: each batch holds the lake lock, so the two
        # take turns and every file is read by exactly one of them.
        later = lake.landing / "orders"
        for n in range(3, 6):
            lines = [f'{{"order_id": "{n}-{i}", "amount": "1"}}' for i in range(4)]
            (later / f"orders-{n}.jsonl").write_text("\n".join(lines) + "\n")
            time.sleep(0.5)
        engine_lake = lake.lake / "silver" / "orders"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if (engine_lake / "_delta_log").exists():
                from deltalake import DeltaTable

                if DeltaTable(str(engine_lake)).to_pyarrow_table().num_rows >= 24:
                    break
            time.sleep(0.3)
        time.sleep(2)  # a doubled batch would land by now
    finally:
        for proc in watches:
            proc.send_signal(signal.SIGTERM)
        outputs = [proc.communicate(timeout=60)[0] for proc in watches]
    assert [proc.returncode for proc in watches] == [0, 0], outputs
    from shoplake.engines.polars_delta import PolarsDeltaEngine
    from shoplake.ingest.file_log import file_rows

    engine = PolarsDeltaEngine(str(lake.lake))
    bronze = engine.collect(engine.read("bronze.orders")).to_native()
    expected = sorted(f"{n}-{i}" for n in range(6) for i in range(4))
    assert sorted(bronze["order_id"].to_list()) == expected
    silver = engine.collect(engine.read("silver.orders")).to_native()
    assert sorted(silver["order_id"].to_list()) == expected
    ingested = [r["path"] for r in file_rows(engine, status="ingested")]
    assert sorted(ingested) == sorted({*ingested}) and len(ingested) == 7  # 6 orders + events
