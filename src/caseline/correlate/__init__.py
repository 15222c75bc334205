"""Correlation: related evidence from every tool → candidate incidents, with the reasons why.

`correlate(store, settings)` runs one incremental pass (see `engine.py` for the steps); the responder
decisions live in `decisions.py`; the contract's alert threshold in `threshold.py`.
"""

from __future__ import annotations

from caseline.correlate.engine import CorrelateResult, correlate

__all__ = ["CorrelateResult", "correlate"]
