"""What a flow and a run report: the numbers behind the summary and the event log."""

from __future__ import annotations

from dataclasses import dataclass, field

from shoplake.pipeline.expectations import Severity, quality_score


@dataclass(frozen=True)
class RuleResult:
    name: str
    action: str
    severity: str
    passed: int
    failed: int


@dataclass(frozen=True)
class FlowResult:
    """One table's outcome in one run."""

    table: str
    kind: str
    status: str  # completed | skipped | failed
    rows_read: int = 0
    rows_written: int = 0
    rows_dropped: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rules: tuple[RuleResult, ...] = ()
    version: int | None = None
    duration_s: float = 0.0
    message: str = ""
    files: int = 0
    failed_rule: str | None = None
    """The ``fail`` expectation that stopped the flow, if one did."""
    failed_rows: int = 0
    """How many rows broke ``failed_rule``."""
    read_by_input: tuple[tuple[str, int], ...] = ()
    """``(input table, rows read from it)``; ``rows_read`` is their sum (for an incremental
    table, the new rows of the input it streams from)."""

    @property
    def layer(self) -> str:
        return self.table.partition(".")[0]

    @property
    def quality_score(self) -> float | None:
        return quality_score([(Severity(r.severity), r.passed, r.failed) for r in self.rules])


@dataclass
class RunResult:
    run_id: str
    flows: list[FlowResult] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def status(self) -> str:
        return "failed" if any(f.status == "failed" for f in self.flows) else "completed"

    @property
    def quality_score(self) -> float | None:
        """The batch's score: every rule of every flow in this run, weighted by severity."""
        return quality_score(
            [(Severity(r.severity), r.passed, r.failed) for f in self.flows for r in f.rules]
        )

    def flow(self, table: str) -> FlowResult:
        for result in self.flows:
            if result.table == table:
                return result
        raise KeyError(table)
