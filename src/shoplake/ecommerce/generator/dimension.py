"""What customers and products share: an update file of later versions over time."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from shoplake.ecommerce.generator.calendar import DAY, HOUR
from shoplake.ecommerce.generator.context import SourceGenerator
from shoplake.ecommerce.generator.writer import Interleaver


class DimensionSource(SourceGenerator):
    """A source whose rows change over time (SCD material)."""

    def write_changes(
        self,
        since: np.ndarray,
        version: Callable[[int, int], list[str]],
        late_rows: list[list[str]],
    ) -> None:
        """Write ``<name>-updates`` files: for a share of rows (the defect rate), one or two
        later versions after ``since[i]``, in time order, with the out-of-order older
        ``late_rows`` scattered among them. Every version counts as a duplicate of the
        latest one, as silver keeps only the newest."""
        rng, out, end = self.rng, self.outcomes, self.ctx.history.end_ts
        changes: list[tuple[int, int, list[str]]] = []
        changed = (rng.random(len(since)) < self.ctx.rate) & (since + 2 * DAY < end)
        for i in np.flatnonzero(changed).tolist():
            ts = int(rng.integers(int(since[i]) + DAY, end + 1))
            changes.append((ts, i, version(i, ts)))
            if rng.random() < 0.3 and ts + HOUR < end:
                ts2 = int(rng.integers(ts + HOUR, end + 1))
                changes.append((ts2, i, version(i, ts2)))
        changes.sort(key=lambda change: (change[0], change[1]))
        out.note("update", len(changes))
        out.duplicate(len(changes))
        update_rows = [row for _, _, row in changes]
        places = rng.integers(0, len(update_rows) + 1, size=len(late_rows))
        stream, updates = Interleaver(), self.csv_writer(f"{self.name}-updates")
        updates.write(stream.merge(update_rows, zip(places.tolist(), late_rows, strict=True)))
        updates.write(stream.drain())
