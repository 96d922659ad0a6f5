"""Help shown as written: typer renders help as rich markup, so ``[masking]`` or
``[default: ./lake]`` in a docstring vanished as an unknown style tag, and it keeps a
docstring's source line breaks after the first paragraph (and in the command list), so
sentences broke where the source wrapped. Every command's and option's help is escaped
and reflowed once, when typer builds the click group."""

from __future__ import annotations

import inspect
import re
from typing import Any

from rich.markup import escape
from typer.core import TyperGroup


def as_written(text: str | None) -> str | None:
    """One line per paragraph (the terminal wraps it), rich markup escaped, ``code`` in
    single backticks; a paragraph marked ``\\b`` keeps its lines, as click's does."""
    if not text:
        return text
    body, cut, rest = inspect.cleandoc(text).partition("\f")
    paragraphs = [
        p if p.startswith("\b") else " ".join(line.strip() for line in p.splitlines())
        for p in body.split("\n\n")
    ]
    shown = re.sub(r"``([^`]+)``", r"`\1`", "\n\n".join(paragraphs))
    return escape(shown) + cut + rest


def tidy(command: Any) -> None:
    """Tidy a command's help, its options' and, for a group, every subcommand's. Typed
    loosely: typer builds these from its own copy of click, not the installed one."""
    command.help = as_written(command.help)
    command.short_help = as_written(command.short_help)
    for param in command.params:
        if getattr(param, "help", None):
            param.help = as_written(param.help)
    for sub in getattr(command, "commands", {}).values():
        if not isinstance(sub, HelpAsWritten):  # a nested one tidied itself
            tidy(sub)


class HelpAsWritten(TyperGroup):
    """The app's group: tidies its own and every subcommand's help when built (typer
    builds it afresh for each invocation, so nothing is escaped twice)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tidy(self)
