"""Settings: defaults, then ``shoplake.toml``, then ``SHOPLAKE_*`` environment variables,
then command-line options — each layer overriding the one before."""

from __future__ import annotations

import importlib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shoplake.errors import ConfigError

if TYPE_CHECKING:
    from shoplake.pipeline.tables import Pipeline

CONFIG_FILE = "shoplake.toml"
KEYS = ("lake", "landing", "pipeline", "engine")
DEFAULT_PIPELINE = "shoplake.ecommerce.pipeline:build_pipeline"
"""The pipeline every command runs unless ``--pipeline`` or ``pipeline = "module:attr"`` says
otherwise: the e-commerce domain that ships with shoplake."""
# Run settings: archive = move | delete | leave; the limits bound one batch;
# maintain_every = commits between automatic table maintenance (0 = off).
RUN_KEYS: dict[str, type] = {
    "maintain_every": int,
    "archive": str,
    "archive_dir": str,
    "retention_days": int,
    "max_files": int,
    "max_bytes": int,
    "parallelism": int,
    "lock_ttl": int,
}


@dataclass(frozen=True)
class Settings:
    lake: str = "./lake"
    landing: str = "./landing"
    pipeline: str = DEFAULT_PIPELINE
    """``module:attribute`` of a Pipeline, or of a function that builds one."""
    engine: str = "polars"
    """The engine every command runs the pipeline on (``shoplake.engines.create_engine``)."""
    maintain_every: int = 0
    """``run`` maintains a table once it has this many commits since its last OPTIMIZE
    (0: never; ``shoplake maintain`` does it on demand)."""
    archive: str = "move"
    archive_dir: str | None = None
    retention_days: int = 30
    max_files: int | None = 1000  # per batch, like Auto Loader's maxFilesPerTrigger
    max_bytes: int | None = None
    parallelism: int | None = None
    """Flows a run builds at once (None: the cores available; 1: one after another)."""
    lock_ttl: int = 30
    """Seconds an object-store lake's lock outlives a holder that stopped renewing it."""


def load_settings(
    *,
    lake: str | None = None,
    landing: str | None = None,
    pipeline: str | None = None,
    engine: str | None = None,
    config: Path | None = None,
) -> Settings:
    """Resolve the settings: the lake and landing locations (paths or object-store URIs),
    the pipeline, the engine and the run settings; arguments win over everything."""
    values: dict[str, str] = {}
    ingest: dict[str, object] = {}
    path = config or Path(CONFIG_FILE)
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: not valid TOML: {err}") from err
        section = data.get("shoplake", data)
        for key in KEYS:
            if key in section:
                if not isinstance(section[key], str):
                    raise ConfigError(f"{path}: '{key}' must be a string")
                values[key] = section[key]
        for key, kind in RUN_KEYS.items():
            if key in section:
                if not isinstance(section[key], kind) or isinstance(section[key], bool):
                    raise ConfigError(f"{path}: '{key}' must be a {kind.__name__}")
                ingest[key] = section[key]
    elif config is not None:
        raise ConfigError(f"{path}: no such config file")
    for key in KEYS:
        env = os.environ.get(f"SHOPLAKE_{key.upper()}")
        if env:
            values[key] = env
    for key, kind in RUN_KEYS.items():
        env = os.environ.get(f"SHOPLAKE_{key.upper()}")
        if env:
            try:
                ingest[key] = kind(env)
            except ValueError:
                name = f"SHOPLAKE_{key.upper()}"
                raise ConfigError(f"{name}={env!r}: not a {kind.__name__}") from None
    if lake:
        values["lake"] = lake
    if landing:
        values["landing"] = landing
    if pipeline:
        values["pipeline"] = pipeline
    if engine:
        values["engine"] = engine
    if int(ingest.get("parallelism", 1)) < 1:  # type: ignore[call-overload]
        raise ConfigError(f"parallelism must be 1 or more, got {ingest['parallelism']}")
    if int(ingest.get("maintain_every", 0)) < 0:  # type: ignore[call-overload]
        raise ConfigError(f"maintain_every must be 0 (off) or more, got {ingest['maintain_every']}")
    return Settings(**values, **ingest)  # type: ignore[arg-type]


def load_section(name: str, config: Path | None = None) -> dict[str, object]:
    """One raw ``[name]`` table of ``shoplake.toml`` ({} when the file or section is absent);
    the module that owns the section validates it."""
    path = config or Path(CONFIG_FILE)
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    section = data.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return section


def load_pipeline(spec: str) -> Pipeline:
    """Import ``module:attribute``; call it if it is a function that builds a Pipeline."""
    from shoplake.pipeline.tables import Pipeline

    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ConfigError(f"--pipeline {spec!r}: write it as module:attribute")
    try:
        value = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"--pipeline {spec!r}: cannot load it ({err})") from err
    if callable(value) and not isinstance(value, Pipeline):
        value = value()
    if not isinstance(value, Pipeline):
        raise ConfigError(f"--pipeline {spec!r} is a {type(value).__name__}, not a Pipeline")
    return value
