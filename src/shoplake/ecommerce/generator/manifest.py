"""Ground-truth outcome counting, the generation report and `_generator/manifest.json`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson

MANIFEST_VERSION = 1


class Outcomes:
    """Counts, while a source is generated, what silver will do with each written row."""

    def __init__(self, rules: Sequence[str]) -> None:
        self.silver = 0
        self.duplicates = 0
        self.rules: dict[str, int] = dict.fromkeys(rules, 0)
        self.injected: dict[str, int] = {}

    def keep(self, rows: int = 1) -> None:
        self.silver += rows

    def duplicate(self, rows: int = 1) -> None:
        self.duplicates += rows

    def quarantine(self, rule: str, rows: int = 1) -> None:
        self.rules[rule] = self.rules.get(rule, 0) + rows

    def note(self, defect: str, rows: int = 1) -> None:
        """Record an injected defect (for the manifest's `injected` counts)."""
        if rows:
            self.injected[defect] = self.injected.get(defect, 0) + rows

    @property
    def quarantined(self) -> int:
        return sum(self.rules.values())

    @property
    def total(self) -> int:
        return self.silver + self.duplicates + self.quarantined

    def expected(self) -> Expected:
        return Expected(self.silver, self.duplicates, self.quarantined, dict(self.rules))


@dataclass(frozen=True)
class Expected:
    """What silver must make of a source's rows: rows = silver + duplicates + quarantined."""

    silver: int
    duplicates: int
    quarantined: int
    rules: Mapping[str, int] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "silver": self.silver,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "rules": dict(self.rules),
        }


@dataclass(frozen=True)
class SourceReport:
    """One source: format, rows and files written, expected outcomes, injected defects."""

    name: str
    format: str
    rows: int
    files: tuple[str, ...]
    expected: Expected
    injected: Mapping[str, int] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "rows": self.rows,
            "files": list(self.files),
            "expected": self.expected.to_dict(),
            "injected": dict(self.injected),
        }


@dataclass(frozen=True)
class GenerationReport:
    """What `generate` wrote: parameters, per-source reports, where the manifest is."""

    landing: Path
    orders: int
    seed: int
    defect_rate: float
    chunk_rows: int
    end_date: date
    start_date: date
    sources: Mapping[str, SourceReport] = field(hash=False)

    @property
    def manifest_path(self) -> Path:
        return self.landing / "_generator" / "manifest.json"

    @property
    def rows(self) -> dict[str, int]:
        """Data rows written per source."""
        return {name: report.rows for name, report in self.sources.items()}

    @property
    def files(self) -> dict[str, tuple[str, ...]]:
        """Files written per source, relative to the landing folder."""
        return {name: report.files for name, report in self.sources.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "generator": {
                "orders": self.orders,
                "seed": self.seed,
                "defect_rate": self.defect_rate,
                "chunk_rows": self.chunk_rows,
                "start_date": self.start_date.isoformat(),
                "end_date": self.end_date.isoformat(),
            },
            "sources": {name: report.to_dict() for name, report in self.sources.items()},
        }

    def write_manifest(self) -> Path:
        path = self.manifest_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
        return path


def read_manifest(landing: str | Path) -> dict[str, Any]:
    """The manifest a previous `generate` wrote into `landing`."""
    return orjson.loads((Path(landing) / "_generator" / "manifest.json").read_bytes())
