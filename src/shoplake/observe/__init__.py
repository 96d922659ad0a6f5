"""Observing the lake from its own tables: what people and alerts see after a run.

- ``lake``: :class:`~shoplake.observe.lake.LakeReader`, the read side (rows as Polars
  frames, versions, last commit), every read through the engine.
- ``catalog``: the tables with their versions and sizes, the runs and a run's events.
- ``monitor``: pipeline health — runs, flows, rule history, quarantine, freshness,
  source lag; the one reading of the event log the CLI, dashboard and alerts share.
- ``alerts``: rules over those facts (built in, plus a pipeline's own
  ``Pipeline.alert_rule``), incident state in ``_system.alerts``, and the channels.
- ``sql``: DuckDB as a query engine over the Arrow datasets the engine gives.
- ``quarantine``, ``redact``: quarantine counts; masking secrets and personal data.

May import the core (``pipeline/``), ``engines.create_engine`` and the engine
interface (``engines/base.py``), ``sources``/``ingest`` constants for source lag,
Polars, PyArrow and DuckDB; never a table format's library (deltalake), ``cli/``,
``dashboard/`` or the domain (``ecommerce/``): what a domain wants watched it
registers on its pipeline.
"""
