"""Every setting a user writes is one shoplake reads: ``shoplake.toml`` and ``SHOPLAKE_*``
variables checked up front, before a command does anything.

A misspelt key would otherwise be ignored and its default used (``lak = "x"`` runs
against ``./lake``; an ``[alert]`` section sends no alert). So each section's keys come
from the module that reads the section, an unknown section, key or variable is an error
naming the file, the line and the nearest known name, and then each section's owner
validates its values (types, ranges, choices), so every mistake surfaces before the
first file is read rather than when the section is first used.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from shoplake.config import CONFIG_FILE, KEYS, RUN_KEYS, line_of, nearest
from shoplake.errors import ConfigError

SECTIONS = ("shoplake", "storage", "spark", "alerts", "lineage", "masking", "serve")
# Variables read under a prefix whose rest is free (a store's or librdkafka's own keys,
# a masking class): the owner checks what follows.
OPEN_PREFIXES = ("SHOPLAKE_STORAGE_", "SHOPLAKE_KAFKA_", "SHOPLAKE_MASKING_")
FIXED_VARIABLES = (
    "SHOPLAKE_IVY_CACHE",  # where Spark's jars are cached
    "SHOPLAKE_PII_PEPPER",  # the masking key
    "SHOPLAKE_FAULT",  # crash points for tests (pipeline/faults.py)
    "SHOPLAKE_FAULT_MARKER",
    "SHOPLAKE_SPARK_MASTER",
    "SHOPLAKE_SPARK_REMOTE",
    # Read by the e-commerce pipeline that ships with shoplake (its streaming tables).
    "SHOPLAKE_WATERMARK_SECONDS",
    "SHOPLAKE_WINDOW_SECONDS",
)


def section_keys() -> dict[str, tuple[str, ...]]:
    """The keys of each section with a fixed set of them, from the modules reading them."""
    from shoplake.engines.spark_session import SPARK_KEYS
    from shoplake.governance.settings import LINEAGE_KEYS
    from shoplake.observe.alerts.settings import AlertSettings
    from shoplake.share.access import SERVE_KEYS

    return {
        "shoplake": (*KEYS, *RUN_KEYS),
        "spark": SPARK_KEYS,
        "alerts": tuple(AlertSettings.model_fields),
        "lineage": LINEAGE_KEYS,
        "serve": SERVE_KEYS,
    }


def known_variables() -> list[str]:
    keys = section_keys()
    return [
        *(f"SHOPLAKE_{key.upper()}" for key in keys["shoplake"]),
        *(f"SHOPLAKE_LINEAGE_{key.upper()}" for key in keys["lineage"]),
        *(f"SHOPLAKE_ALERTS_{key.upper()}" for key in keys["alerts"]),
        *(f"SHOPLAKE_SERVE_{key.upper()}" for key in keys["serve"]),
        *FIXED_VARIABLES,
    ]


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Every ``SHOPLAKE_*`` variable is one shoplake reads."""
    env = os.environ if environ is None else environ
    known = known_variables()
    for name in sorted(env):
        if not name.startswith("SHOPLAKE_") or name in known:
            continue
        if any(name.startswith(prefix) and name != prefix for prefix in OPEN_PREFIXES):
            continue
        choices = [*known, *(f"{prefix}<KEY>" for prefix in OPEN_PREFIXES)]
        close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else "unset it"
        raise ConfigError(f"unknown variable {name}: shoplake reads no such setting; {hint}")


def check_config_file(path: Path | None = None) -> None:
    """The file's sections and keys are all known."""
    where = path or Path(CONFIG_FILE)
    if not where.exists():
        return
    text = where.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{where}: not valid TOML: {err}") from err
    keys = section_keys()
    for name, value in data.items():
        if isinstance(value, dict):
            if name not in SECTIONS:
                line = line_of(text, f"[{name}]")
                raise ConfigError(
                    f"{where}:{line}: unknown section [{name}]{nearest(name, SECTIONS, '[{}]')}"
                )
        elif "shoplake" in data:
            # Without a [shoplake] header, top-level keys are its keys; with one, a key
            # above it would be ignored.
            line = line_of(text, name)
            raise ConfigError(
                f"{where}:{line}: {name!r} is outside any section; move it under [shoplake]"
            )
        elif name not in keys["shoplake"]:
            line = line_of(text, name)
            raise ConfigError(
                f"{where}:{line}: unknown key {name!r}{nearest(name, keys['shoplake'])}"
            )
    for section, known in keys.items():
        table = data.get(section)
        if isinstance(table, dict):
            _check_keys(where, text, section, table, known)
    channels = data.get("alerts", {}).get("channels", {})
    if isinstance(channels, dict):
        from shoplake.observe.alerts.settings import CHANNELS, ChannelPolicy

        for channel, policy in channels.items():
            header = f"alerts.channels.{channel}"
            if channel not in CHANNELS:
                line = line_of(text, f"[{header}]")
                raise ConfigError(
                    f"{where}:{line}: unknown alert channel {channel!r}{nearest(channel, CHANNELS)}"
                )
            if isinstance(policy, dict):
                _check_keys(where, text, header, policy, tuple(ChannelPolicy.model_fields))


def check_configuration(path: Path | None = None) -> None:
    """The file's names, the environment's, then every value: what every command does
    before anything else."""
    check_config_file(path)
    check_environment()
    check_values(path)


def _check_keys(
    where: Path, text: str, section: str, table: Mapping[str, object], known: tuple[str, ...]
) -> None:
    for key in table:
        if key not in known:
            line = line_of(text, key, section)
            raise ConfigError(
                f"{where}:{line}: unknown key {key!r} in [{section}]{nearest(key, known)}"
            )


def check_values(path: Path | None = None) -> None:
    """Each section read by its owner, over the file and the environment alike, so a
    wrong value fails now rather than when the section is first used."""
    from shoplake.config import load_settings
    from shoplake.engines.spark_session import spark_settings
    from shoplake.governance.masking import load_masking
    from shoplake.governance.settings import load_lineage_settings
    from shoplake.observe.alerts.settings import load_alert_settings
    from shoplake.share.access import default_expiry
    from shoplake.stores import check_storage_keys

    load_settings(config=path)
    spark_settings(config=path)
    load_alert_settings(path)
    load_lineage_settings(path)
    load_masking(path)
    default_expiry(path)
    check_storage_keys(path)
