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
    maintain_every: int = 0
    """``run`` maintains a table once it has this many commits since its last OPTIMIZE
    (0: never; ``shoplake maintain`` does it on demand)."""


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
    return Settings(**values, maintain_every=_maintain_every(path))


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


def _maintain_every(path: Path) -> int:
    """``maintain_every`` from ``SHOPLAKE_MAINTAIN_EVERY`` or the config file, else 0."""
    raw: object = os.environ.get("SHOPLAKE_MAINTAIN_EVERY")
    where = "SHOPLAKE_MAINTAIN_EVERY"
    if raw is None and path.exists():
        data = tomllib.loads(path.read_text())
        raw, where = data.get("shoplake", data).get("maintain_every"), str(path)
    if raw is None:
        return 0
    try:
        value = int(raw)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: maintain_every must be a whole number, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{where}: maintain_every must be 0 (off) or more, got {value}")
    return value
