"""The contract's alert threshold and `detected_at`, shared by correlation, the timeline and alerts.

An incident crosses the threshold when, within some `window`-long span of report `created_at` times,
it has at least `min_reports` reports from at least `min_accounts` distinct accounts. Distinct
accounts are the non-null account keys plus, for reports with no account, distinct reporter emails.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from caseline.evidence import Evidence

__all__ = ["account_identity", "detected_at", "distinct_accounts", "reports_of"]


def reports_of(items: Iterable[Evidence]) -> list[Evidence]:
    """Non-deleted evidence a customer raised, oldest first."""
    return sorted((i for i in items if i.is_report and not i.deleted), key=lambda e: (e.created_at, e.id))


def account_identity(item: Evidence) -> str | None:
    """What counts as one account: its key, else the reporter's email (each person once)."""
    if item.account:
        return f"account:{item.account}"
    if item.author and item.author.email:
        return f"person:{item.author.email.strip().lower()}"
    return None


def distinct_accounts(reports: Iterable[Evidence]) -> int:
    return len({who for r in reports if (who := account_identity(r)) is not None})


def detected_at(
    reports: Sequence[Evidence], *, min_reports: int, min_accounts: int, window: timedelta
) -> datetime | None:
    """The `created_at` of the report that first made the incident cross the threshold, else None."""
    ordered = reports_of(reports)
    counts: Counter[str] = Counter()
    start = 0
    for end, report in enumerate(ordered):
        who = account_identity(report)
        if who:
            counts[who] += 1
        while ordered[start].created_at < report.created_at - window:
            gone = account_identity(ordered[start])
            if gone:
                counts[gone] -= 1
                if not counts[gone]:
                    del counts[gone]
            start += 1
        if end - start + 1 >= min_reports and len(counts) >= min_accounts:
            return report.created_at
    return None
