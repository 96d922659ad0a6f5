"""Observing the lake: table catalog and event-log queries."""
