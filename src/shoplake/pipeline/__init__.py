"""The declarative core: tables, kinds, expectations, the graph, flows, partitioned
writes, the runner, validate, results, the event log and table maintenance.

It knows narwhals and the engine interface (``engines/base.py``) and nothing of
e-commerce, files, Kafka or a concrete DataFrame library: it imports nothing from
``ingest/``, ``streaming/``, ``sources/``, ``observe/``, ``dashboard/``, ``cli/`` or
``ecommerce/``. Where rows of a source come from is a stage's business: the runner
is handed a ``SourceFlow`` (see ``runner.py``).
"""
