"""The synthetic e-commerce data generator: landing files with realistic defects.

`generate(landing, orders=..., seed=..., defect_rate=...)` writes the sources of
docs/data-contract.md and `<landing>/_generator/manifest.json`, whose expected outcome
counts the pipeline's silver tables must reproduce exactly.

Modules: `params` (arguments, sizes, random streams), `reference` (regions, categories,
enumerations), `pools` (Faker-made value pools), `calendar` (seasonal timestamps), `ids`
(id and timestamp formats and their variants), `defects` (defect kinds), `simulation` (the
shop: orders, lines, statuses, returns), one module per source (`regions`, `customers`,
`products`, `orders`, `order_items`, `returns`), `writer` (chunked CSV / JSON-lines
files), `manifest` (outcome counts and the report), `run` (`generate`). Only the standard
library, numpy, Faker and orjson are used.
"""

from shoplake.ecommerce.generator.batch import BatchReport, generate_batch
from shoplake.ecommerce.generator.context import SourceGenerator
from shoplake.ecommerce.generator.manifest import (
    Expected,
    GenerationReport,
    SourceReport,
    read_manifest,
)
from shoplake.ecommerce.generator.run import SOURCES, generate

__all__ = [
    "SOURCES",
    "BatchReport",
    "Expected",
    "GenerationReport",
    "SourceGenerator",
    "SourceReport",
    "generate",
    "generate_batch",
    "read_manifest",
]
