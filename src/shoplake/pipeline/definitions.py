"""What a pipeline is made of: tables, file sources, stream sources and feeds, as frozen
definitions (built by :class:`~shoplake.pipeline.tables.Pipeline`, read by the graph, the
runner and the tools around them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from shoplake.engines.base import TableMetadata
from shoplake.names import RESCUE
from shoplake.pipeline.expectations import Rule
from shoplake.pipeline.kinds import Append, Kind
from shoplake.pipeline.metadata import Column, table_metadata
from shoplake.pipeline.table_rules import TableCheck

THIS = "this"


class _Declared:
    """What every definition of a Delta table shares: its ``layer.name`` and its declared
    metadata as stored in the table."""

    name: str
    layer: str
    description: str
    owner: str
    tags: tuple[tuple[str, str], ...]
    columns_meta: tuple[tuple[str, Column], ...]

    @property
    def metadata(self) -> TableMetadata:
        """The declaration as stored in the Delta table."""
        return table_metadata(self.description, self.owner, self.tags, self.columns_meta)

    @property
    def ref(self) -> str:
        return f"{self.layer}.{self.name}"


@dataclass(frozen=True)
class TableDef(_Declared):
    """A table produced by a Python function of its inputs."""

    name: str
    layer: str
    kind: Kind
    fn: Callable[..., object]
    params: tuple[str, ...]
    explicit_inputs: tuple[tuple[str, str], ...]
    stream: str | None
    partition_by: tuple[str, ...]
    description: str
    rules: tuple[Rule, ...]
    sla_minutes: int | None = None
    zorder_by: tuple[str, ...] = ()
    checks: tuple[TableCheck, ...] = ()
    """Rules on each batch as a whole (``expect_row_count``, ``expect_volume``...)."""
    owner: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    columns_meta: tuple[tuple[str, Column], ...] = ()
    """Declared column metadata (comments, PII classes, lineage)."""

    @property
    def wants_this(self) -> bool:
        return THIS in self.params


@dataclass(frozen=True)
class SourceDef(_Declared):
    """A bronze table fed by files dropped in ``<landing>/<name>/``.

    ``columns`` are read as text (or as their ``hints`` type); what happens to
    undeclared columns is ``schema_mode`` (default ``rescue``: into ``_rescued_data``).
    """

    name: str
    format: str
    columns: tuple[str, ...]
    description: str = ""
    layer: str = "bronze"
    kind: Kind = field(default_factory=Append)
    rules: tuple[Rule, ...] = ()
    partition_by: tuple[str, ...] = ()
    schema_mode: str = RESCUE
    hints: tuple[tuple[str, str], ...] = ()
    encoding: str = "utf-8"
    """The text encoding of the source's CSV and JSON-lines files (``latin-1``...)."""
    owner: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    columns_meta: tuple[tuple[str, Column], ...] = ()
    """Declared column metadata (comments, PII classes, lineage)."""


@dataclass(frozen=True)
class StreamSourceDef(_Declared):
    """A bronze table of raw messages: fed by a Kafka topic (``shoplake stream``) or, with
    no broker, by JSON-lines files in ``<landing>/<name>/``, one message per line.

    Rows keep the payload as received (``value``, bytes) with its topic, partition,
    offset, key and timestamp; parsing is left to the tables that read it.
    """

    name: str
    description: str = ""
    layer: str = "bronze"
    kind: Kind = field(default_factory=Append)
    rules: tuple[Rule, ...] = ()
    partition_by: tuple[str, ...] = ()
    owner: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    columns_meta: tuple[tuple[str, Column], ...] = ()
    """Declared column metadata (comments, PII classes, lineage)."""


Definition = TableDef | SourceDef | StreamSourceDef


@dataclass(frozen=True)
class FeedDef:
    """Rows derived from one table's new rows, appended to another table (typically
    another source's bronze), once each: see :meth:`Pipeline.feed`."""

    target: str
    stream: str
    fn: Callable[..., object]
