"""Governance: the catalog of the lake's tables (description, owner, tags, columns and
their PII classes, as stored in Delta), masking by classification, and lineage — table
and column level, and as OpenLineage events.

It reads the lake through the engine interface and the pipeline through the core's
graph; it knows nothing of e-commerce.
"""
