"""Settings: defaults, then ``shoplake.toml``, then ``SHOPLAKE_*`` environment variables,
then command-line options — each layer overriding the one before."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from shoplake.errors import ConfigError

CONFIG_FILE = "shoplake.toml"
KEYS = ("lake", "landing")


@dataclass(frozen=True)
class Settings:
    lake: str = "./lake"
    landing: str = "./landing"


def load_settings(
    *, lake: str | None = None, landing: str | None = None, config: Path | None = None
) -> Settings:
    """Resolve the lake and landing locations (paths or object-store URIs)."""
    values: dict[str, str] = {}
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
                    raise ConfigError(f"{path}: '{key}' must be a string path or URI")
                values[key] = section[key]
    elif config is not None:
        raise ConfigError(f"{path}: no such config file")
    for key in KEYS:
        env = os.environ.get(f"SHOPLAKE_{key.upper()}")
        if env:
            values[key] = env
    if lake:
        values["lake"] = lake
    if landing:
        values["landing"] = landing
    return Settings(**values)


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
