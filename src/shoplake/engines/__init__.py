"""Engines: one module per DataFrame library and its storage, behind one factory.

``create_engine(lake, engine="polars")`` is the only way the rest of shoplake gets
an engine: the CLI, the dashboard, observe, the benchmarks and the tests. A new
engine registers a builder here (``register_engine``) and is then available to
every command through ``--engine`` / ``engine = "..."`` in ``shoplake.toml``.

This package may import the concrete libraries (polars, pyarrow, deltalake, pyspark),
but only inside the engine modules, which the factory imports
lazily: importing ``shoplake.engines`` costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from shoplake.errors import ConfigError

if TYPE_CHECKING:
    from shoplake.engines.base import Engine

EngineBuilder = Callable[..., "Engine"]
"""``builder(lake, storage_options=..., **options) -> Engine``."""

DEFAULT_ENGINE = "polars"


def _polars(
    lake: str, storage_options: Mapping[str, str] | None = None, **options: object
) -> Engine:
    from shoplake.engines.polars_delta import PolarsDeltaEngine

    return PolarsDeltaEngine(lake, storage_options, **options)  # type: ignore[arg-type]


def _spark(
    lake: str,
    storage_options: Mapping[str, str] | None = None,
    *,
    session: object = None,
    master: str | None = None,
    remote: str | None = None,
    conf: Mapping[str, object] | None = None,
    read_on_executors_above: int | None = None,
    reuse_snapshots: bool = False,
) -> Engine:
    # PySpark is imported here, when the Spark engine is chosen, and never otherwise.
    from dataclasses import replace

    from shoplake.engines.spark_delta import SparkDeltaEngine
    from shoplake.engines.spark_session import spark_settings

    settings = spark_settings(master=master, remote=remote, conf=conf)
    if read_on_executors_above is not None:
        settings = replace(settings, read_on_executors_above=read_on_executors_above)
    return SparkDeltaEngine(
        lake,
        storage_options,
        session=session,  # type: ignore[arg-type]
        settings=settings,
        reuse_snapshots=reuse_snapshots,
    )


_BUILDERS: dict[str, EngineBuilder] = {"polars": _polars, "spark": _spark}


def register_engine(name: str, builder: EngineBuilder) -> None:
    """Make ``create_engine(..., engine=name)`` build engines with ``builder``."""
    _BUILDERS[name] = builder


def engine_names() -> list[str]:
    return sorted(_BUILDERS)


def create_engine(
    lake: str,
    engine: str = DEFAULT_ENGINE,
    *,
    storage_options: Mapping[str, str] | None = None,
    **options: object,
) -> Engine:
    """An engine over the lake at ``lake`` (a folder or an object-store URI).

    ``storage_options`` are passed to the storage layer (credentials, endpoints; by
    default those of ``[storage]`` / ``SHOPLAKE_STORAGE_*`` for the lake's provider, see
    ``shoplake.stores``, over the standard environment variables);
    ``options`` are the engine's own (the Polars engine takes ``reuse_snapshots``; the
    Spark engine also ``session``, ``master``, ``remote`` and ``conf``, over the
    ``[spark]`` section of ``shoplake.toml``).

    Example::

        from shoplake import create_engine

        engine = create_engine("./lake")
        engine.read("gold.monthly_revenue")   # a narwhals LazyFrame
    """
    try:
        builder = _BUILDERS[engine]
    except KeyError:
        raise ConfigError(
            f"engine {engine!r} is not known; choose one of: {', '.join(engine_names())}"
        ) from None
    from shoplake.engines import parity

    parity.install()  # one answer per definition, whichever backend runs it
    if storage_options is None:
        from shoplake.stores import options_for

        storage_options = options_for(str(lake))
    return builder(str(lake), storage_options, **options)
