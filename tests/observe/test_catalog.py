"""The catalog's runs and events: one reading of the event log with ``monitor``."""

from __future__ import annotations

import polars as pl
from observe_shop import Shop

from shoplake.engines import create_engine
from shoplake.observe import catalog


def test_runs_list_each_run_with_its_start_and_end_newest_first(fresh_shop: Shop) -> None:
    fresh_shop.land_the_rest()
    second = fresh_shop.run()
    log = pl.read_delta(str(fresh_shop.lake / "_system" / "event_log"))
    bounds = {
        (r["run_id"], r["event_type"]): r["timestamp"]
        for r in log.filter(pl.col("event_type").is_in(["run_start", "run_end"])).to_dicts()
    }

    listed = catalog.runs(create_engine(str(fresh_shop.lake)))

    assert len(listed) == 2 and listed[0].run_id == second.run_id  # newest first
    for run in listed:
        assert run.status == "completed"
        assert run.started == bounds[(run.run_id, "run_start")]
        assert run.ended == bounds[(run.run_id, "run_end")]
        assert run.started < run.ended  # type: ignore[operator]
    assert listed[0].rows_written == sum(f.rows_written for f in second.flows)
    latest = catalog.events(create_engine(str(fresh_shop.lake)))
    assert {e["run_id"] for e in latest} == {second.run_id}
