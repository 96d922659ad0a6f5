"""Benchmarks behind ``shoplake bench``: imported lazily by the CLI, never by the library."""
