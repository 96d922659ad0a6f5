"""Defect kinds and how a defect is applied to a row.

Each source lists its row defects (`Defect`): with probability `defect_rate` a row gets
exactly one of them, drawn by weight. A defect with a `rule` makes its row fail that silver
quarantine rule; one without is fixed in silver, dropped as a duplicate, or kept (a second
filing of a return). Id and date format variants are not row defects: they are applied to
every id and timestamp independently (see `ids.py`), since silver fixes them all.

Quarantine rules, in the precedence a row failing several would be counted under (the
generator never injects two): `well_formed`, `<column>_not_null`, value rules
(`valid_order_date`, `positive_quantity`, `positive_price`), then reference rules
(`customer_exists`, `order_exists`, `product_exists`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shoplake.ecommerce.generator.writer import Truncated

NONE = -1


@dataclass(frozen=True)
class Defect:
    """A kind of defect a row of a source may get."""

    name: str
    rule: str | None = None
    """The quarantine rule the row then fails; None if the row is not quarantined."""
    weight: float = 1.0


class DefectPlan:
    """The defects of one source and the draw of one defect per row."""

    def __init__(self, defects: Sequence[Defect]) -> None:
        self.defects = tuple(defects)
        weights = np.array([d.weight for d in self.defects], dtype=np.float64)
        self._p = weights / weights.sum()
        self._index = {d.name: i for i, d in enumerate(self.defects)}

    def code(self, name: str) -> int:
        return self._index[name]

    def draw(
        self, rng: np.random.Generator, size: int, rate: float, eligible: np.ndarray | None = None
    ) -> np.ndarray:
        """Per row the index of its defect, or NONE (-1). Ineligible rows get none."""
        has = rng.random(size) < rate
        kinds = rng.choice(len(self.defects), size=size, p=self._p)
        if eligible is not None:
            has &= eligible
        return np.where(has, kinds, NONE).astype(np.int16)

    def rules(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.rule for d in self.defects if d.rule))

    def rejecting(self, codes: np.ndarray) -> np.ndarray:
        """Mask of rows whose defect makes them quarantined."""
        table = np.array([d.rule is not None for d in self.defects] + [False])
        return table[codes]  # NONE (-1) indexes the trailing False


def malformed_csv(rng: np.random.Generator, row: list[str]) -> list[str]:
    """A CSV row with the wrong number of fields: trailing fields lost, or one split in two
    (an unquoted comma inside a value)."""
    if rng.random() < 0.5 and len(row) > 2:
        drop = int(rng.integers(1, min(4, len(row) - 1) + 1))
        return row[:-drop]
    index = int(rng.integers(0, len(row)))
    value = row[index]
    cut = len(value) // 2
    return [*row[:index], value[:cut], value[cut:] or "x", *row[index + 1 :]]


def truncated(rng: np.random.Generator, values: tuple[object, ...]) -> Truncated:
    """A JSON row written as a line cut short (never valid JSON)."""
    return Truncated(values, float(rng.uniform(0.25, 0.85)))


def invalid_email(rng: np.random.Generator, email: str) -> str:
    """An e-mail address no validator accepts (no `@`, two `@`, no domain, a space, no dot
    in the domain)."""
    local, _, domain = email.partition("@")
    kind = int(rng.integers(0, 5))
    if kind == 0:
        return f"{local}{domain}"
    if kind == 1:
        return f"{local}@@{domain}"
    if kind == 2:
        return f"{local}@"
    if kind == 3:
        return f"{local.replace('.', ' ')} @{domain}"
    return f"{local}@{domain.split('.')[0]}"


_BAD_PHONES = ("N/A", "none", "call me", "12345", "0", "+1-555-CALL-NOW", "n.a.", "999")


def invalid_phone(rng: np.random.Generator) -> str:
    """A phone value that is not a phone number (letters, or fewer than 7 digits)."""
    return _BAD_PHONES[int(rng.integers(0, len(_BAD_PHONES)))]


def offsets(rng: np.random.Generator, size: int, mean: float = 40.0) -> np.ndarray:
    """How many rows later an extra row lands (at least 1, geometric)."""
    return rng.geometric(1.0 / mean, size=size).astype(np.int64)
