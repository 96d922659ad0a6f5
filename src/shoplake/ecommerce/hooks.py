"""What the e-commerce pipeline adds to the tools around a run: the fraud alert rule and
the headline KPIs ``run`` and ``demo`` print. Registered on the pipeline in
``pipeline.py`` (``Pipeline.alert_rule``, ``Pipeline.headline``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Read = Callable[[str], list[dict[str, Any]] | None]

MONEY = ("revenue", "avg_order_value")
RATES = ("completion_rate", "cancellation_rate", "return_rate", "on_time_delivery_rate")


def fraud_alerts(read: Read) -> list[dict[str, Any]]:
    """One incident per row of ``gold.fraud_alerts`` (a duplicate return, an abnormal
    return rate), each sent once."""
    found = []
    for row in read("gold.fraud_alerts") or []:
        ident = ":".join(
            str(row.get(c) or "") for c in ("alert_type", "customer_id", "order_id", "return_id")
        )
        found.append(
            {
                "key": ident,
                "severity": str(row.get("severity") or "high"),
                "title": (
                    f"fraud alert: {row.get('alert_type')} by customer {row.get('customer_id')}"
                ),
                "where": "gold.fraud_alerts",
                "detail": str(row.get("detail") or ""),
                "look_at": (
                    'shoplake sql "SELECT * FROM gold.fraud_alerts WHERE customer_id = '
                    f"'{row.get('customer_id')}'\""
                ),
            }
        )
    return found


def headline_kpis(read: Read) -> dict[str, str]:
    """The all-time KPIs of ``gold.executive_kpis``, formatted for people."""
    overall = [k for k in read("gold.executive_kpis") or [] if k["scope"] == "overall"]
    if not overall:
        return {}
    shown: dict[str, str] = {}
    for key, value in overall[0].items():
        if key in ("scope", "as_of"):
            continue
        if value is None:
            text = "—"
        elif key in MONEY:
            text = f"${value:,.2f}"
        elif key in RATES:
            text = f"{float(value):.1%}"
        else:
            text = f"{value:,}"
        shown[key.replace("_", " ")] = text
    return shown
