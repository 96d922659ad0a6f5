"""The flow scheduler: independent flows at once, dependencies and failures respected."""

from __future__ import annotations

import threading
import time

import pytest

from shoplake.pipeline.results import FlowResult
from shoplake.pipeline.schedule import run_flows

# a ─┬─ c ── e
# b ─┘   d (independent)
ORDER = ["a", "b", "c", "d", "e"]
DEPENDS = {"c": {"a", "b"}, "e": {"c"}}


def blocked(ref: str, failed: list[str]) -> FlowResult:
    return FlowResult(ref, "table", "skipped", message=f"upstream failed: {', '.join(failed)}")


class Recorder:
    """Runs fake flows, remembering when each started and ended and how many overlapped."""

    def __init__(self, fail: set[str] = frozenset(), seconds: float = 0.05) -> None:
        self.fail, self.seconds = fail, seconds
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}

    def __call__(self, ref: str) -> FlowResult:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.started[ref] = time.perf_counter()
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
            self.ended[ref] = time.perf_counter()
        status = "failed" if ref in self.fail else "completed"
        return FlowResult(ref, "table", status)


@pytest.mark.parametrize("parallelism", [1, 2, 4])
def test_every_flow_starts_after_its_inputs_ended(parallelism: int) -> None:
    flows = Recorder()
    results = run_flows(ORDER, DEPENDS, flows, parallelism=parallelism, blocked=blocked)
    assert [r.table for r in results] == ORDER  # graph order, whatever finished first
    assert all(r.status == "completed" for r in results)
    for ref, inputs in DEPENDS.items():
        assert all(flows.started[ref] >= flows.ended[i] for i in inputs)


def test_independent_flows_run_at_once_up_to_the_limit() -> None:
    flows = Recorder(seconds=0.2)
    start = time.perf_counter()
    run_flows(ORDER, DEPENDS, flows, parallelism=2, blocked=blocked)
    # a, b and d are ready at once; two run together, never three.
    assert flows.most == 2
    # Three waves of 0.2 s (a+b, c+d, e), not five flows one after another.
    assert time.perf_counter() - start < 0.2 * 4.5


def test_one_at_a_time_runs_in_graph_order() -> None:
    flows = Recorder(seconds=0.01)
    run_flows(ORDER, DEPENDS, flows, parallelism=1, blocked=blocked)
    assert flows.most == 1
    assert sorted(flows.started, key=flows.started.__getitem__) == ORDER


@pytest.mark.parametrize("parallelism", [1, 3])
def test_a_failed_flow_stops_only_what_is_downstream_of_it(parallelism: int) -> None:
    flows = Recorder(fail={"b"})
    seen: list[str] = []
    results = run_flows(
        ORDER,
        DEPENDS,
        flows,
        parallelism=parallelism,
        blocked=blocked,
        finished=lambda ref, result: seen.append(ref),
    )
    statuses = {r.table: r.status for r in results}
    assert statuses == {
        "a": "completed",
        "b": "failed",
        "c": "skipped",
        "d": "completed",
        "e": "skipped",
    }
    by_ref = {r.table: r for r in results}
    assert by_ref["c"].message == "upstream failed: b"
    assert by_ref["e"].message == "upstream failed: c"  # blocked in turn, not run
    assert set(flows.started) == {"a", "b", "d"}
    assert sorted(seen) == sorted(ORDER)  # every flow reported once
