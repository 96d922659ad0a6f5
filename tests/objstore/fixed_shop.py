"""The e-commerce pipeline at a fixed clock, so two runs minutes apart build equal gold."""

from datetime import datetime

from shoplake.ecommerce.pipeline import build_pipeline

NOW = datetime(2026, 11, 1)


def build():  # type: ignore[no-untyped-def]
    return build_pipeline(now=NOW)
