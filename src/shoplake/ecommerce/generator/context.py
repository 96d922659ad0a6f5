"""The shared generation state and the interface every source generator implements.

A run is: every source's `begin` in list order (dimensions write themselves here and
publish what facts need, e.g. the customer table), then each simulated order batch is
handed to every source's `consume` (facts write their rows for it), then every source's
`finish`. A new source (inventory, shipments) is one more `SourceGenerator` subclass in
the `run.SOURCES` tuple; it may read `ctx.customers`/`ctx.products` and the order
batches, and must not change them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from shoplake.ecommerce.generator.calendar import History
from shoplake.ecommerce.generator.manifest import Outcomes, SourceReport
from shoplake.ecommerce.generator.params import Params
from shoplake.ecommerce.generator.pools import Pools
from shoplake.ecommerce.generator.simulation import CustomerTable, OrderBatch, ProductTable
from shoplake.ecommerce.generator.writer import CsvWriter, JsonlWriter, RotatingWriter, RowCounter


class Context:
    """Parameters, pools, the history window, writers and tables shared by the sources."""

    def __init__(
        self,
        landing: Path,
        params: Params,
        history: History,
        pools: Pools,
        progress: Callable[[str, int], None] | None,
    ) -> None:
        self.landing = landing
        self.params = params
        self.history = history
        self.pools = pools
        self.progress = progress
        self.customers: CustomerTable | None = None
        self.products: ProductTable | None = None

    @property
    def rate(self) -> float:
        return self.params.defect_rate

    def require_customers(self) -> CustomerTable:
        if self.customers is None:
            raise RuntimeError("the customers source must come before the order sources")
        return self.customers

    def require_products(self) -> ProductTable:
        if self.products is None:
            raise RuntimeError("the products source must come before the order sources")
        return self.products


class SourceGenerator:
    """One landing source: owns its writers, random stream and outcome counts."""

    name: ClassVar[str]
    format: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]
    rules: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.rng = ctx.params.rng(self.name)
        self.outcomes = Outcomes(self.rules)
        self.counter = RowCounter(self.name, ctx.progress)
        self.writers: list[RotatingWriter] = []

    def begin(self) -> None:
        """Called once before any order batch (dimensions generate everything here)."""

    def consume(self, batch: OrderBatch) -> None:
        """Called for every simulated order batch, in order."""

    def finish(self) -> None:
        """Called once after the last order batch: flush what is still held back."""

    def csv_writer(self, stem: str | None = None) -> CsvWriter:
        writer = CsvWriter(
            self.ctx.landing,
            self.name,
            stem or self.name,
            self.ctx.params.chunk_rows,
            self.counter,
            self.columns,
        )
        self.writers.append(writer)
        return writer

    def jsonl_writer(
        self, stem: str | None = None, drift_column: str | None = None, drift_from: int = 2
    ) -> JsonlWriter:
        writer = JsonlWriter(
            self.ctx.landing,
            self.name,
            stem or self.name,
            self.ctx.params.chunk_rows,
            self.counter,
            self.columns,
            drift_column,
            drift_from,
        )
        self.writers.append(writer)
        return writer

    def report(self) -> SourceReport:
        """Close the writers and report; the outcome counts must cover every written row."""
        for writer in self.writers:
            writer.close()
        rows = sum(w.rows for w in self.writers)
        if rows != self.outcomes.total:
            raise RuntimeError(
                f"{self.name}: {rows} rows written but outcomes cover {self.outcomes.total}"
            )
        files: Sequence[str] = sorted(f for w in self.writers for f in w.files)
        return SourceReport(
            self.name,
            self.format,
            rows,
            tuple(files),
            self.outcomes.expected(),
            dict(sorted(self.outcomes.injected.items())),
        )
