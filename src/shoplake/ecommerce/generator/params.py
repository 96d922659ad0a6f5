"""Generator parameters and the sizes derived from them."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date

import numpy as np

# Orders are simulated this many at a time, whatever `chunk_rows` is, so that the data
# (not the file split) is the same for any chunk size, and memory stays bounded.
ORDER_BATCH = 50_000


@dataclass(frozen=True)
class Params:
    """What `generate` was asked for, validated, plus derived sizes."""

    orders: int
    seed: int
    defect_rate: float
    chunk_rows: int
    end_date: date
    snapshot_days: int = 0

    def __post_init__(self) -> None:
        if self.orders < 1:
            raise ValueError(f"orders must be at least 1, got {self.orders}")
        if not 0.0 <= self.defect_rate <= 1.0:
            raise ValueError(f"defect_rate must be within [0, 1], got {self.defect_rate}")
        if self.chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {self.chunk_rows}")
        if self.snapshot_days < 0:
            raise ValueError(f"snapshot_days must be non-negative, got {self.snapshot_days}")
        if self.seed < 0:
            raise ValueError(f"seed must be non-negative, got {self.seed}")

    @property
    def customers(self) -> int:
        return max(500, self.orders // 5)

    @property
    def products(self) -> int:
        return max(100, min(20_000, self.orders // 50))

    @property
    def drift(self) -> bool:
        """Whether later orders files carry the extra `coupon_code` column."""
        return self.defect_rate > 0

    def rng(self, stream: str) -> np.random.Generator:
        """An independent random stream per named part, stable across Python runs.

        Each source draws from its own stream, so adding a source (inventory, shipments)
        does not change the data of the others.
        """
        key = zlib.crc32(stream.encode("utf-8"))
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(key,)))
