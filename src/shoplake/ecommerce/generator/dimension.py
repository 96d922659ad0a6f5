"""What customers and products share: an update file of later versions over time, and
the count of SCD2 versions silver keeps (a change opens a version only when a tracked
column differs from the version before it in time)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from itertools import pairwise

import numpy as np

from shoplake.ecommerce.generator.calendar import DAY, HOUR
from shoplake.ecommerce.generator.context import SourceGenerator
from shoplake.ecommerce.generator.writer import Interleaver


class DimensionSource(SourceGenerator):
    """A source whose rows change over time (SCD material).

    Subclasses call ``base_version`` for each key's first row and ``later_version`` for
    every other valid version (late or not), then ``settle_versions`` once: silver keeps
    one row per run of equal tracked values in time order, the rest are duplicates.
    """

    def tracked(self, row: list[str]) -> Hashable:
        """The values of a row whose change opens a new SCD2 version in silver."""
        raise NotImplementedError

    def base_version(self, i: int, row: list[str], tracked: Hashable | None = None) -> None:
        if not hasattr(self, "_base"):
            self._base: dict[int, Hashable] = {}
            self._later: dict[int, list[tuple[int, Hashable]]] = {}
            self._rows: dict[int, list[tuple[int, list[str]]]] = {}
        self._base[i] = self.tracked(row) if tracked is None else tracked
        if self.ctx.params.snapshot_days and i not in self._rows:
            self._rows[i] = [(-1, row)]  # the base row's time is set by settle_versions

    def later_version(self, i: int, ts: int, row: list[str]) -> None:
        self._later.setdefault(i, []).append((ts, self.tracked(row)))
        if self.ctx.params.snapshot_days:
            self._rows[i].append((ts, row))

    def settle_versions(self, base_ts: np.ndarray) -> None:
        """Move each extra version from the duplicates to silver's count."""
        extra = 0
        for i, later in self._later.items():
            events = sorted([(int(base_ts[i]), self._base[i]), *later], key=lambda e: e[0])
            extra += sum(1 for a, b in pairwise(events) if a[1] != b[1])
        self.outcomes.keep(extra)
        self.outcomes.duplicate(-extra)
        if self.ctx.params.snapshot_days:
            self._write_snapshots(base_ts)

    def _write_snapshots(self, base_ts: np.ndarray) -> None:
        """Full snapshots at the end of each of the last ``snapshot_days`` days: every key
        known by then, as its latest version then (a copy of that version's row, so
        silver counts it once). Written newest first: older snapshots arrive late."""
        end = self.ctx.history.end_ts
        rows = 0
        for back in range(self.ctx.params.snapshot_days):
            as_of = end - back * DAY
            day = datetime.fromtimestamp(as_of, tz=UTC).strftime("%Y%m%d")
            snapshot: list[list[str]] = []
            for i, versions in sorted(self._rows.items()):
                known = [(int(base_ts[i]) if ts < 0 else ts, row) for ts, row in versions]
                current = [(ts, row) for ts, row in known if ts <= as_of]
                if current:
                    snapshot.append(max(current, key=lambda version: version[0])[1])
            # Each day's export starts at a different row: a day with no change is still a
            # new file (bronze skips a file whose bytes it has already ingested).
            turn = (back * 7) % max(1, len(snapshot))
            snapshot = snapshot[turn:] + snapshot[:turn]
            self.csv_writer(f"{self.name}-snapshot-{day}").write(snapshot)
            rows += len(snapshot)
        self.outcomes.note("snapshot_row", rows)
        self.outcomes.duplicate(rows)

    def write_changes(
        self,
        since: np.ndarray,
        version: Callable[[int, int], list[str]],
        late_rows: list[list[str]],
    ) -> None:
        """Write ``<name>-updates`` files: for a share of rows (the defect rate), one or two
        later versions after ``since[i]``, in time order, with the out-of-order older
        ``late_rows`` scattered among them; then settle how many become SCD2 versions."""
        rng, out, end = self.rng, self.outcomes, self.ctx.history.end_ts
        changes: list[tuple[int, int, list[str]]] = []
        changed = (rng.random(len(since)) < self.ctx.rate) & (since + 2 * DAY < end)
        for i in np.flatnonzero(changed).tolist():
            ts = int(rng.integers(int(since[i]) + DAY, end + 1))
            changes.append((ts, i, version(i, ts)))
            self.later_version(i, ts, changes[-1][2])
            if rng.random() < 0.3 and ts + HOUR < end:
                ts2 = int(rng.integers(ts + HOUR, end + 1))
                changes.append((ts2, i, version(i, ts2)))
                self.later_version(i, ts2, changes[-1][2])
        changes.sort(key=lambda change: (change[0], change[1]))
        out.note("update", len(changes))
        out.duplicate(len(changes))
        update_rows = [row for _, _, row in changes]
        places = rng.integers(0, len(update_rows) + 1, size=len(late_rows))
        stream, updates = Interleaver(), self.csv_writer(f"{self.name}-updates")
        updates.write(stream.merge(update_rows, zip(places.tolist(), late_rows, strict=True)))
        updates.write(stream.drain())
        self.settle_versions(since)
