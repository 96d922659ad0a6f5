"""The `regions` source: the fixed sales regions (CSV)."""

from __future__ import annotations

from shoplake.ecommerce.contract import SOURCES
from shoplake.ecommerce.generator.context import SourceGenerator
from shoplake.ecommerce.generator.defects import Defect, DefectPlan, offsets
from shoplake.ecommerce.generator.reference import REGIONS
from shoplake.ecommerce.generator.writer import Interleaver

REGION_DEFECTS = DefectPlan([Defect("exact_duplicate")])


class RegionsSource(SourceGenerator):
    """One row per region; the only defect is an exact duplicate row."""

    name = "regions"
    format = SOURCES["regions"].format
    columns = SOURCES["regions"].columns

    def begin(self) -> None:
        rows = [[r.region_id, r.name, r.country] for r in REGIONS]
        codes = REGION_DEFECTS.draw(self.rng, len(rows), self.ctx.rate)
        later = offsets(self.rng, len(rows), mean=3.0)
        extras = []
        for i, code in enumerate(codes.tolist()):
            if code >= 0:
                extras.append((i + int(later[i]), list(rows[i])))
                self.outcomes.note("exact_duplicate")
                self.outcomes.duplicate()
        self.outcomes.keep(len(rows))
        stream = Interleaver()
        writer = self.csv_writer()
        writer.write(stream.merge(rows, extras))
        writer.write(stream.drain())
