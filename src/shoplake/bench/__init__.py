"""Benchmarks behind ``shoplake bench run|incremental|scd2|stream|latency``.

Each prints a table with wall and CPU time; the CLI imports them lazily, the library
never does. Some run their timed part in a child process (``python -m
shoplake.bench.<name>``) so that the figures are not coloured by what the parent
imported.
"""
