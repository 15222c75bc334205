"""Alerts: one alert per incident when it crosses the threshold, then follow-ups for real change only.

`rules.py` decides (pure), `sinks.py` delivers (Slack, signed webhook, PagerDuty), `evaluate.py` ties
them to the alert state in the store (`store/alerts.py`), whose atomic claims keep every alert once.
"""

from __future__ import annotations

from caseline.alerts.evaluate import AlertOutcome, evaluate, evaluate_async
from caseline.alerts.rules import KINDS, Snapshot, alert_body, due_alerts, snapshot
from caseline.alerts.sinks import Alert, DeliveryError, Sink, build_sinks, signature

__all__ = [
    "KINDS",
    "Alert",
    "AlertOutcome",
    "DeliveryError",
    "Sink",
    "Snapshot",
    "alert_body",
    "build_sinks",
    "due_alerts",
    "evaluate",
    "evaluate_async",
    "signature",
    "snapshot",
]
