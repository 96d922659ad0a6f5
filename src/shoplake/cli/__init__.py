"""The ``shoplake`` command: a thin layer that parses options, calls plain functions and renders."""

from shoplake.cli.main import app, main

__all__ = ["app", "main"]
