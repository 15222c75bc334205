"""When an incident is worth an alert, and which follow-up a change deserves: pure functions, no I/O.

- `opened`: once per incident and sink, when it crosses the contract's threshold (`detected_at` from
  `correlate.threshold`). Recorded as `suppressed` (detected, not sent) when its latest report is older
  than `alerts.max_age`, or when it was already resolved the first time it crossed: a page for an
  outage that is over helps nobody. A suppressed incident that gets fresh reports (or a dismissed one
  a responder takes back before its first alert went out) is revived once.
- Follow-ups only after `opened` was delivered to that sink, each for a real change since then:
  `grew` (distinct accounts at least doubled since the last alert, or severity rose; numbered by
  generation so a second doubling is a new alert), `escalated` (a linked Jira/Linear issue appeared),
  `resolved` (once).
- Nothing for dismissed incidents or incidents merged into another (the survivor carries on).

What was true at the last alert (its *basis*) is stored with the alert state, so restarts and
concurrent runs compare against the same thing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from caseline.config.models import AlertSettings
from caseline.correlate.threshold import detected_at, distinct_accounts, reports_of
from caseline.evidence import Evidence
from caseline.incident import SEVERITIES, Incident
from caseline.store.alerts import CANCELLED, FAILED, PENDING, SENDING, SENT, SUPPRESSED, AlertState
from caseline.timeparse import format_utc

__all__ = [
    "KINDS",
    "AlertKind",
    "Due",
    "Snapshot",
    "alert_body",
    "due_alerts",
    "is_escalated",
    "snapshot",
]

AlertKind = Literal["opened", "grew", "escalated", "resolved"]
KINDS: tuple[AlertKind, ...] = ("opened", "grew", "escalated", "resolved")
ALERT_TYPE = "caseline.alert.v1"

_ESCALATION_SOURCES = frozenset({"jira", "linear"})
_ESCALATION_LINK = re.compile(
    r"^(?:(?:jira|linear):issue:.+|https?://[^/]+\.atlassian\.net/browse/.+|https?://linear\.app/[^/]+/issue/.+)$"
)


def is_escalated(members: Sequence[Evidence]) -> bool:
    """A Jira or Linear issue is part of the incident, or one of its items links to one."""
    for item in members:
        if item.deleted:
            continue
        if item.source in _ESCALATION_SOURCES:
            return True
        if any(_ESCALATION_LINK.match(link) for link in item.links):
            return True
    return False


def _rank(severity: str) -> int:
    """0 for sev1 (most severe) … 3 for sev4; unknown severities rank below all."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


@dataclass(frozen=True)
class Snapshot:
    """An incident as the alert rules see it, computed from its member evidence."""

    incident: Incident
    members: tuple[Evidence, ...]
    reports: tuple[Evidence, ...]
    detected_at: datetime | None
    accounts_affected: int
    latest_report: datetime | None
    escalated: bool

    @property
    def id(self) -> str:
        return self.incident.id

    @property
    def account_keys(self) -> list[str]:
        return sorted({r.account for r in self.reports if r.account})

    @property
    def sources(self) -> dict[str, int]:
        return dict(sorted(Counter(m.source for m in self.members if not m.deleted).items()))

    @property
    def active(self) -> bool:
        """Alerts may go out at all: not dismissed, not merged into another incident."""
        return self.incident.status != "dismissed" and not self.incident.merged_into

    def stale(self, settings: AlertSettings, now: datetime) -> bool:
        return self.latest_report is None or self.latest_report < now - settings.max_age

    def basis(self) -> dict[str, Any]:
        """What the follow-up rules compare against later."""
        return {
            "accounts": self.accounts_affected,
            "severity": self.incident.severity,
            "escalated": self.escalated,
            "status": self.incident.status,
        }


def snapshot(incident: Incident, members: Sequence[Evidence], settings: AlertSettings) -> Snapshot:
    reports = reports_of(members)
    return Snapshot(
        incident=incident,
        members=tuple(members),
        reports=tuple(reports),
        detected_at=detected_at(
            reports, min_reports=settings.min_reports, min_accounts=settings.min_accounts, window=settings.window
        ),
        accounts_affected=distinct_accounts(reports),
        latest_report=max((r.created_at for r in reports), default=None),
        escalated=is_escalated(members),
    )


def alert_body(snap: Snapshot, kind: str, sent_at: datetime) -> dict[str, Any]:
    """The contract's `caseline.alert.v1` body (the webhook sink posts exactly this)."""
    incident = snap.incident
    return {
        "type": ALERT_TYPE,
        "kind": kind,
        "sent_at": format_utc(sent_at),
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "status": incident.status,
            "severity": incident.severity,
            "first_seen": format_utc(incident.first_seen or (snap.reports[0].created_at if snap.reports else None)),
            "detected_at": format_utc(snap.detected_at),
            "report_count": len(snap.reports),
            "accounts": snap.account_keys,
            "sources": snap.sources,
        },
    }


@dataclass(frozen=True)
class Due:
    """An alert the rules want for one sink: claim a new state row, or revive a suppressed one."""

    kind: AlertKind
    generation: int
    status: str  # pending (to be sent) or suppressed (recorded as detected, not sent)
    revive: bool = False
    reason: str = ""


def _last_basis(history: Sequence[AlertState]) -> dict[str, Any]:
    """The basis of the most recent alert this sink was given (or is being given)."""
    alive = [h for h in history if h.kind != "resolved" and h.status in (SENT, PENDING, SENDING, FAILED)]
    if not alive:
        return {}
    return dict(max(alive, key=lambda h: (h.created_at, h.generation)).payload.get("basis") or {})


def due_alerts(
    snap: Snapshot, history: Sequence[AlertState], settings: AlertSettings, now: datetime
) -> list[Due]:
    """What this sink should get for this incident now, given what it already has (`history`)."""
    if not snap.active or snap.detected_at is None:
        return []
    by_kind: dict[str, list[AlertState]] = {}
    for state in history:
        by_kind.setdefault(state.kind, []).append(state)
    opened = by_kind.get("opened", [None])[0]
    resolved_now = snap.incident.status == "resolved"
    if opened is None:
        if snap.stale(settings, now):
            return [Due("opened", 0, SUPPRESSED, reason="latest report older than alerts.max_age")]
        if resolved_now:
            return [Due("opened", 0, SUPPRESSED, reason="already resolved when it crossed the threshold")]
        return [Due("opened", 0, PENDING)]
    if opened.status in (SUPPRESSED, CANCELLED):  # dormant, or dismissed and since taken back
        if not snap.stale(settings, now) and not resolved_now:
            return [Due("opened", 0, PENDING, revive=True, reason="current again")]
        return []
    if opened.status != SENT:
        return []  # follow-ups wait until the sink has the first alert
    due: list[Due] = []
    if resolved_now:
        if "resolved" not in by_kind:
            due.append(Due("resolved", 0, PENDING))
        return due
    basis = _last_basis(history)
    already_escalated = any((h.payload.get("basis") or {}).get("escalated") for h in history)
    if snap.escalated and "escalated" not in by_kind and not already_escalated:
        due.append(Due("escalated", 0, PENDING))
    before = int(basis.get("accounts") or 0)
    doubled = before > 0 and snap.accounts_affected >= 2 * before
    rose = _rank(snap.incident.severity) < _rank(str(basis.get("severity") or ""))
    if doubled or rose:
        generation = 1 + max((h.generation for h in by_kind.get("grew", [])), default=0)
        why = "accounts doubled" if doubled else "severity rose"
        due.append(Due("grew", generation, PENDING, reason=why))
    return due
