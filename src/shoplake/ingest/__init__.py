"""File ingestion as a stage: batches, the files and batches system tables, archive,
trigger manifests, watch and the lake lock."""
