"""Quarantine at a glance: rejected rows per table and rule."""

from __future__ import annotations

import narwhals as nw

from shoplake.engines.base import Engine


def rule_counts(engine: Engine) -> list[tuple[str, str, str, int]]:
    """(table, rule, severity, rows) for every quarantine table, largest first."""
    counts: list[tuple[str, str, str, int]] = []
    for ref in engine.list_tables():
        if not ref.startswith("quarantine."):
            continue
        frame = engine.collect(
            engine.read(ref).group_by("table", "rule", "severity").agg(nw.len().alias("rows"))
        )
        counts.extend(
            (r["table"], r["rule"], r["severity"], int(r["rows"])) for r in frame.rows(named=True)
        )
    return sorted(counts, key=lambda c: (-c[3], c[0], c[1]))
