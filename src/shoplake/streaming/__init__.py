"""The micro-batch runner for event streams: offsets in Delta, feeds to downstream tables."""
