"""Continuous ingestion: an update when files arrive, on an interval, or on a cron schedule.

File events come from ``watchfiles`` (inotify and friends, or polling with
``poll=True`` for network mounts); a burst of files within the debounce
window becomes one update. Each update is :func:`run_available` — manifests
first, then every new file in bounded batches — under the lake lock. Setting
``stop`` (the CLI does on Ctrl-C and SIGTERM) ends the loop after the batch
being committed, never in the middle of one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from croniter import CroniterBadDateError, croniter
from watchfiles import Change
from watchfiles import watch as watch_changes

from shoplake.engines.base import Engine
from shoplake.errors import ConfigError
from shoplake.ingest.loader import BatchCallback, LoaderConfig, run_available
from shoplake.ingest.lock import LakeBusy
from shoplake.pipeline.tables import Pipeline

RETRY_S = 5.0


@dataclass(frozen=True)
class WatchConfig:
    interval_s: float | None = None
    cron: str | None = None
    poll: bool = False
    debounce_ms: int = 150
    poll_s: float = 1.0  # object-store landings: how often to list
    manifests_only: bool = False

    def __post_init__(self) -> None:
        if self.interval_s is not None and self.interval_s <= 0:
            raise ConfigError("--interval must be a positive number of seconds")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ConfigError(
                f"--cron {self.cron!r} is not a cron expression; write e.g. '*/5 * * * *'"
            )
        if self.cron is not None:
            try:
                croniter(self.cron, datetime.now()).get_next(float)
            except CroniterBadDateError:
                raise ConfigError(
                    f"--cron {self.cron!r} never fires (no such date, e.g. 30 February); "
                    "check the day and month fields"
                ) from None

    def next_due(self, now: float) -> float | None:
        due: list[float] = []
        if self.interval_s is not None:
            due.append(now + self.interval_s)
        if self.cron is not None:
            due.append(float(croniter(self.cron, datetime.fromtimestamp(now)).get_next(float)))
        return min(due) if due else None


def watch(
    pipeline: Pipeline,
    engine: Engine,
    landing: Path,
    *,
    config: LoaderConfig,
    watching: WatchConfig,
    stop: threading.Event,
    on_batch: BatchCallback | None = None,
    on_wait: Callable[[str], None] | None = None,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Run until ``stop`` is set; returns the number of batches run."""
    if isinstance(landing, Path):
        landing.mkdir(parents=True, exist_ok=True)
    count = 0
    retry_at: float | None = None  # the lake was busy: try again without a new event

    def update(trigger: str) -> None:
        nonlocal count, retry_at
        retry_at = None
        try:
            results = run_available(
                pipeline,
                engine,
                landing,
                trigger=trigger,
                config=config,
                manifests_only=watching.manifests_only,
                on_batch=on_batch,
                stop=stop,
            )
        except LakeBusy as err:
            if on_wait:
                on_wait(str(err))
            retry_at = time.time() + 1.0
            return
        except Exception as err:  # a storage hiccup must not end a long-running watch
            if on_wait:
                on_wait(f"update failed, retrying in {RETRY_S:.0f}s: {type(err).__name__}: {err}")
            retry_at = time.time() + RETRY_S
            return
        count += len(results)

    if not isinstance(landing, Path):
        landing.arrivals()  # where the listing stands before the first update
    update("watch")  # what arrived while nobody was watching
    if on_ready:
        on_ready()
    due = watching.next_due(time.time())
    if not isinstance(landing, Path):
        # An object store has no file events: poll its listing, each source folder only
        # after the last key seen there (sources/remote.py), every poll_s seconds.
        while not stop.wait(watching.poll_s):
            arrived = landing.arrivals()
            if arrived or (retry_at is not None and time.time() >= retry_at):
                update("watch")
            elif due is not None and time.time() >= due:
                update("schedule")
                due = watching.next_due(time.time())
        return count
    for changes in watch_changes(
        landing,
        stop_event=stop,
        debounce=watching.debounce_ms,
        step=25,
        rust_timeout=250,
        yield_on_timeout=True,
        force_polling=watching.poll or None,
        poll_delay_ms=250,
        raise_interrupt=False,
    ):
        if stop.is_set():
            break
        now = time.time()
        arrived = any(change != Change.deleted for change, _ in changes)
        if arrived or (retry_at is not None and now >= retry_at):
            update("watch")
        elif due is not None and now >= due:
            update("schedule")
            due = watching.next_due(time.time())
        if stop.is_set():
            break
    return count
