"""Engines: one module per DataFrame library and its storage."""
