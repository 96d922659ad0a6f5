"""The catalog: every table with what Delta stores about it, and one table in detail.

Metadata is read back from the lake (what any Delta reader sees), not from the pipeline
code, so the catalog of a lake written elsewhere is shown as it is; the pipeline only
adds the graph (upstream and downstream tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from shoplake.engines.base import Engine, TableMetadata
from shoplake.errors import ShoplakeError
from shoplake.pipeline.graph import Graph
from shoplake.pipeline.metadata import COMMENT, LINEAGE, owner_of, pii_of, tags_of

MEDALLION = ("bronze", "silver", "gold")
_ORDER = {layer: i for i, layer in enumerate((*MEDALLION, "quarantine", "_system"))}


@dataclass(frozen=True)
class CatalogEntry:
    """One table as ``shoplake catalog`` lists it."""

    ref: str
    description: str
    owner: str
    tags: dict[str, str]
    rows: int
    version: int
    last_modified: datetime | None
    pii: dict[str, str]
    """``{column: class}`` of its personal-data columns."""

    @property
    def layer(self) -> str:
        return self.ref.partition(".")[0]


@dataclass(frozen=True)
class ColumnEntry:
    name: str
    type: str
    comment: str
    pii: str | None
    lineage: tuple[str, ...] = ()
    lineage_source: str = ""
    """``derived`` (from the table's code), ``declared`` (by the table) or empty."""


@dataclass(frozen=True)
class TableDetail:
    entry: CatalogEntry
    columns: list[ColumnEntry]
    upstream: list[str] = field(default_factory=list)
    downstream: list[str] = field(default_factory=list)


def _entry(engine: Engine, ref: str) -> CatalogEntry | None:
    info = engine.info(ref)
    meta = engine.metadata(ref)
    if info is None or meta is None:
        return None
    return CatalogEntry(
        ref,
        meta.description,
        owner_of(meta),
        tags_of(meta),
        info.rows,
        info.version,
        info.last_modified,
        pii_of(meta),
    )


def list_catalog(engine: Engine, *, everything: bool = False) -> list[CatalogEntry]:
    """The lake's bronze, silver and gold tables (``everything``: quarantine and system
    tables too), by layer then name."""
    refs = [r for r in engine.list_tables() if everything or r.partition(".")[0] in MEDALLION]
    entries = [e for r in refs if (e := _entry(engine, r)) is not None]
    return sorted(entries, key=lambda e: (_ORDER.get(e.layer, 99), e.ref))


def stored_pii(engine: Engine, ref: str) -> dict[str, str]:
    """``{column: class}`` stored for ``ref`` ({} when it does not exist)."""
    meta = engine.metadata(ref)
    return {} if meta is None else pii_of(meta)


def _columns(engine: Engine, ref: str, meta: TableMetadata) -> list[ColumnEntry]:
    schema = engine.read(ref).collect_schema()
    found = []
    for name, dtype in schema.items():
        values = meta.columns.get(name, {})
        declared = tuple(v for v in values.get(LINEAGE, "").split(",") if v)
        found.append(
            ColumnEntry(
                name,
                str(dtype),
                values.get(COMMENT, ""),
                pii_of(meta).get(name),
                declared,
                "declared" if declared else "",
            )
        )
    return found


def show_table(engine: Engine, ref: str, graph: Graph | None = None) -> TableDetail:
    """One table: its entry, its columns with comments and classes, and — when the
    pipeline is known — the tables it reads and the tables that read it."""
    entry = _entry(engine, ref)
    meta = engine.metadata(ref)
    if entry is None or meta is None:
        known = ", ".join(e.ref for e in list_catalog(engine)) or "none yet (run `shoplake run`)"
        raise ShoplakeError(f"no table {ref!r} in the lake; the tables are: {known}")
    upstream: list[str] = []
    downstream: list[str] = []
    if graph is not None and ref in graph.definitions:
        upstream = sorted(graph.upstream(ref))
        downstream = graph.downstream(ref)
    return TableDetail(entry, _columns(engine, ref, meta), upstream, downstream)


def freshness(modified: datetime | None, now: datetime | None = None) -> str:
    """``3 min ago``, ``5 h ago``, ``2 d ago``."""
    if modified is None:
        return "—"
    seconds = max(0.0, ((now or datetime.now(UTC)) - modified).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"
