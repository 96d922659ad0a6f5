"""Event streams as a stage: the micro-batch runner (topic → bronze exactly once, with
offsets in Delta app transactions, then the downstream tables) and ``decode``
(JSON payloads into typed columns, done by the frame's own engine).

May import the core, ``ingest/`` (an update from the landing folder) and
``sources/`` (the Kafka reader); never a concrete DataFrame library.
"""
