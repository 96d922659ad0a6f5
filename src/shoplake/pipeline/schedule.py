"""Running a graph's flows concurrently: each flow starts as soon as its inputs are done.

Polars and delta-rs release the GIL while they work, so threads give real
parallelism here without the cost of processes (no pickling of frames, one engine,
one Delta snapshot cache). What stays exactly as in a serial run:

- a flow starts only after every selected table it reads has finished, so it sees
  their committed versions (and records them as consumed, as always);
- a failed flow stops only the tables downstream of it (they are ``skipped``);
- results come back in graph order, whatever order the flows finished in.

Only the scheduling thread calls ``progress``; flows never share a target table.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from shoplake.pipeline.results import FlowResult

FlowRunner = Callable[[str], FlowResult]
"""Runs one table's flow and returns its result (failures as results, never raised)."""
Started = Callable[[str], None]
Finished = Callable[[str, FlowResult], None]


def available_cores() -> int:
    """The cores this process may use (its CPU affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_parallelism() -> int:
    """Flows at once by default: the cores available, and at least two, since a flow
    often waits on storage while another computes."""
    return max(2, available_cores())


def run_flows(
    order: Sequence[str],
    depends_on: Mapping[str, set[str]],
    run_one: FlowRunner,
    *,
    parallelism: int,
    blocked: Callable[[str, list[str]], FlowResult],
    started: Started | None = None,
    finished: Finished | None = None,
) -> list[FlowResult]:
    """Run every ref of ``order`` (a topological order), at most ``parallelism`` at once.

    ``depends_on[ref]`` are the refs whose flows must finish before ``ref`` starts (only
    refs of ``order`` count). A ref with a failed or skipped-for-failure dependency is
    not run: ``blocked(ref, failed_inputs)`` gives its result. Results in ``order``.
    """
    deps = {ref: {d for d in depends_on.get(ref, set()) if d in order} for ref in order}
    results: dict[str, FlowResult] = {}
    failed: set[str] = set()

    def settle(ref: str, result: FlowResult) -> None:
        results[ref] = result
        if result.status == "failed":
            failed.add(ref)
        if finished:
            finished(ref, result)

    if parallelism <= 1:
        for ref in order:
            _run_or_block(ref, deps, failed, run_one, blocked, started, settle)
        return [results[ref] for ref in order]

    pending = list(order)
    running: dict[Future[FlowResult], str] = {}
    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="flow") as pool:
        while pending or running:
            # Start, in graph order, every flow whose inputs are all done; a blocked flow
            # settles at once and may make others ready, so look again until none is.
            ready = [r for r in pending if deps[r] <= results.keys()]
            while ready and len(running) < parallelism:
                ref = ready.pop(0)
                pending.remove(ref)
                inputs_failed = sorted(deps[ref] & failed)
                if inputs_failed:
                    # Counts as failed itself, so its own downstream is blocked too.
                    failed.add(ref)
                    settle(ref, blocked(ref, inputs_failed))
                    ready = [r for r in pending if deps[r] <= results.keys()]
                    continue
                if started:
                    started(ref)
                running[pool.submit(run_one, ref)] = ref
            if running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    settle(running.pop(future), future.result())
    return [results[ref] for ref in order]


def _run_or_block(
    ref: str,
    deps: Mapping[str, set[str]],
    failed: set[str],
    run_one: FlowRunner,
    blocked: Callable[[str, list[str]], FlowResult],
    started: Started | None,
    settle: Finished,
) -> None:
    inputs_failed = sorted(deps[ref] & failed)
    if inputs_failed:
        failed.add(ref)
        settle(ref, blocked(ref, inputs_failed))
        return
    if started:
        started(ref)
    settle(ref, run_one(ref))
