"""Settings: defaults, then ``shoplake.toml``, then ``SHOPLAKE_*`` environment variables,
then command-line options — each layer overriding the one before."""

from __future__ import annotations

import difflib
import importlib
import os
import re
import tomllib
from collections.abc import Iterable
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


# The lower bound of each number setting (``max_files = 0`` would take no file at all).
_LEAST = {
    "maintain_every": 0,
    "retention_days": 0,
    "max_files": 1,
    "max_bytes": 1,
    "parallelism": 1,
    "lock_ttl": 1,
}
_CHOICES = {"archive": ("move", "delete", "leave")}
# Every [shoplake] key with the type it is read as (from the file, or a variable's text).
_KINDS: dict[str, type] = {**dict.fromkeys(KEYS, str), **RUN_KEYS}


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
    return resolve_settings(
        lake=lake, landing=landing, pipeline=pipeline, engine=engine, config=config
    )[0]


def resolve_settings(
    *,
    lake: str | None = None,
    landing: str | None = None,
    pipeline: str | None = None,
    engine: str | None = None,
    config: Path | None = None,
) -> tuple[Settings, dict[str, str]]:
    """The settings and where each came from: ``--lake``, ``SHOPLAKE_LAKE``,
    ``shoplake.toml:3`` or ``default`` (for messages and ``shoplake config``)."""
    values: dict[str, object] = {}
    origins: dict[str, str] = {}
    path = config or Path(CONFIG_FILE)
    if path.exists():
        text = path.read_text()
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: not valid TOML: {err}") from err
        section = data.get("shoplake", data)
        where = "shoplake" if "shoplake" in data else None
        for key, kind in _KINDS.items():
            if key in section:
                value = section[key]
                if not isinstance(value, kind) or isinstance(value, bool):
                    raise ConfigError(f"{path}: '{key}' must be a {_KIND[kind]}, got {value!r}")
                values[key] = value
                origins[key] = f"{path}:{line_of(text, key, where)}"
    elif config is not None:
        raise ConfigError(f"{path}: no such config file")
    for key, kind in _KINDS.items():
        name = f"SHOPLAKE_{key.upper()}"
        env = os.environ.get(name)
        if env:
            try:
                values[key] = kind(env)
            except ValueError:
                raise ConfigError(f"{name}={env!r}: not a {_KIND[kind]}") from None
            origins[key] = name
    flags = {"lake": lake, "landing": landing, "pipeline": pipeline, "engine": engine}
    for key, flag in flags.items():
        if flag:
            values[key] = flag
            origins[key] = f"--{key}"
    for key, least in _LEAST.items():
        number = values.get(key)
        if isinstance(number, int) and number < least:
            raise ConfigError(
                f"{key} = {number} ({origins[key]}): must be {least} or more"
                + (" (0: off)" if key == "maintain_every" else "")
            )
    for key, choices in _CHOICES.items():
        if key in values and values[key] not in choices:
            raise ConfigError(
                f"{key} = {values[key]!r} ({origins[key]}): use one of {', '.join(choices)}"
            )
    for key in _KINDS:
        origins.setdefault(key, "default")
    return Settings(**values), origins  # type: ignore[arg-type]


_KIND = {str: "string", int: "whole number"}


def line_of(text: str, key: str, section: str | None = None) -> int:
    """The line of ``key`` (or of a ``[header]``) in the file, within ``section`` when
    given: tomllib keeps no positions, and a message with a line is found at a glance."""
    current: str | None = None
    header = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
    for number, line in enumerate(text.splitlines(), start=1):
        found = header.match(line)
        if found:
            current = found.group(1).replace('"', "").replace(" ", "")
            if key.startswith("[") and f"[{current}]" == key:
                return number
            continue
        if key.startswith("[") or (section is not None and current != section):
            continue
        if re.match(rf'^\s*["\']?{re.escape(key)}["\']?\s*=', line):
            return number
    return 1


def nearest(name: str, known: Iterable[str], shape: str = "'{}'") -> str:
    """``; did you mean 'x'?`` for the closest known name, else the list of them."""
    choices = list(known)
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {shape.format(close[0])}?"
    return f"; the known ones are: {', '.join(shape.format(c) for c in choices)}"


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
