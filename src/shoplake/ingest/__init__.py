"""File ingestion as a stage: batches over the landing folder (``loader``), the bronze
source flow (``bronze``), the ``_system/files`` and ``_system/batches`` tables,
archive, trigger manifests, ``watch`` and the lake lock; ``update`` hands the core
runner the landing folder's reader.

May import the core (``pipeline/``), ``sources/`` (listing and reading files) and
the engine interface; never a concrete DataFrame or storage library.
"""
