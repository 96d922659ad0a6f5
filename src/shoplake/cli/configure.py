"""``shoplake config``: every setting in effect and where it came from."""

from __future__ import annotations

import os
import tomllib
from dataclasses import fields
from pathlib import Path

import typer
from rich.table import Table

from shoplake.cli import common
from shoplake.cli.common import Debug, EngineOpt, Lake, Landing, PipelineOpt
from shoplake.cli.console import console


def config(
    lake: Lake = None,
    landing: Landing = None,
    pipeline: PipelineOpt = None,
    engine: EngineOpt = None,
    debug: Debug = False,
) -> None:
    """Check shoplake.toml and the SHOPLAKE_* variables, then show each setting in effect
    and where it came from: a flag, the environment, the file (with its line) or a default."""
    from shoplake.config import CONFIG_FILE, resolve_settings
    from shoplake.config_check import check_configuration

    with common.errors(debug):
        check_configuration()
        current, origins = resolve_settings(
            lake=lake, landing=landing, pipeline=pipeline, engine=engine
        )
        table = Table(title="settings in effect")
        table.add_column("setting")
        table.add_column("value")
        table.add_column("from")
        for field in fields(current):
            value = getattr(current, field.name)
            shown = "(none)" if value is None else str(value)
            table.add_row(field.name, shown, origins[field.name])
        for key, value, origin in _sections(Path(CONFIG_FILE)):
            table.add_row(key, value, origin)
        console.print(table)


def _sections(path: Path) -> list[tuple[str, str, str]]:
    """The other sections' settings the file and the environment set (secrets masked)."""
    from shoplake.config import line_of
    from shoplake.observe.redact import clean_text

    found: list[tuple[str, str, str]] = []
    if path.exists():
        text = path.read_text()
        for section, table in tomllib.loads(text).items():
            if section == "shoplake" or not isinstance(table, dict):
                continue
            for key, value in _flat(table):
                origin = f"{path}:{line_of(text, key.split('.')[0], section)}"
                found.append((f"{section}.{key}", _shown(key, value), origin))
    for name in sorted(os.environ):
        prefix = name.removeprefix("SHOPLAKE_")
        section = prefix.split("_", 1)[0].lower()
        if name.startswith("SHOPLAKE_") and section in ("storage", "alerts", "lineage", "spark"):
            key = prefix.split("_", 1)[1].lower() if "_" in prefix else ""
            found.append((f"{section}.{key}", _shown(key, os.environ[name]), name))
    return [(key, clean_text(value), origin) for key, value, origin in found]


def _flat(table: dict[str, object], above: str = "") -> list[tuple[str, object]]:
    items: list[tuple[str, object]] = []
    for key, value in table.items():
        if isinstance(value, dict):
            items += _flat(value, f"{above}{key}.")
        else:
            items.append((f"{above}{key}", value))
    return items


def _shown(key: str, value: object) -> str:
    from shoplake.stores import is_secret_key

    return "***" if is_secret_key(key) else str(value)


def register(app: typer.Typer) -> None:
    app.command()(config)
