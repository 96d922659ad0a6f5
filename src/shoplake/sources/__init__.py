"""Sources: where bronze rows come from (landing files now; Kafka later)."""
