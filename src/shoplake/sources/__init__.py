"""Adapters for where rows come from and go to: safe listing of a landing folder
(``listing``), reading its files (``readers``: CSV, JSON lines, Parquet, gzip, schema
modes) into a batch's bronze frame (``bronze_frame``), object-store landings through
fsspec (``remote``), the Kafka consumer (``kafka``) and the event sender (``produce``).

May import concrete libraries (polars, pyarrow, fsspec, confluent-kafka) and the
shared names; never the core's flows, a stage, or the domain.
"""
