"""A small shop lake for the observability tests, with files held back for a second run."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import shoplake
from shoplake.ecommerce.generator import generate
from shoplake.ecommerce.pipeline import build_pipeline
from shoplake.engines.polars_delta import PolarsDeltaEngine
from shoplake.pipeline.results import RunResult

HELD_BACK = ("orders/orders-00003.jsonl", "order_items/order_items-00005.csv")
"""Files that arrive only for the second run: the latest orders and their lines."""


@dataclass
class Shop:
    root: Path
    landing: Path
    lake: Path
    later: Path  # files that land for the second run

    def run(self) -> RunResult:
        return shoplake.run(
            build_pipeline(), engine=PolarsDeltaEngine(str(self.lake)), landing=self.landing
        )

    def land_the_rest(self) -> None:
        for path in sorted(self.later.rglob("*")):
            if path.is_file():
                target = self.landing / path.relative_to(self.later)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(path, target)


def make_shop(root: Path) -> Shop:
    landing, later = root / "landing", root / "later"
    generate(landing, orders=300, seed=3, defect_rate=0.03, chunk_rows=150)
    for name in HELD_BACK:
        (later / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(landing / name, later / name)
    shop = Shop(root, landing, root / "lake", later)
    assert shop.run().status == "completed"
    return shop


def make_busy_shop(root: Path, runs: int = 5) -> Shop:
    """A lake after ``runs`` runs, each over a small landed batch: the views with many runs."""
    staged, landing = root / "staged", root / "landing"
    generate(staged, orders=240, seed=5, defect_rate=0.03, chunk_rows=60)
    later: list[Path] = []
    for source in ("orders", "order_items", "shipments"):
        later += sorted((staged / source).glob(f"{source}-0*"))[1:]  # the first lands at once
    shutil.copytree(
        staged, landing, ignore=lambda d, names: [n for n in names if Path(d, n) in later]
    )
    shop = Shop(root, landing, root / "lake", root / "later")  # nothing held back
    assert shop.run().status == "completed"
    for batch in range(runs - 1):
        for path in later[batch :: runs - 1]:
            target = landing / path.relative_to(staged)
            shutil.copy(path, target)
        assert shop.run().status == "completed"
    return shop
