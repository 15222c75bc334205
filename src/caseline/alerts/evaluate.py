"""`caseline alert` and the alert step of `caseline run`: decide, claim, deliver.

1. Decide: each live incident becomes a `Snapshot` (threshold, accounts, escalation from its member
   evidence); `rules.due_alerts` says what each sink should get given that sink's alert state.
2. Claim: each due alert is an INSERT of its state row; a conflict means another run (or an earlier
   one) has it, so the same alert is never claimed twice, across restarts and concurrent runs.
3. Deliver: every sink works through its pending and failed rows concurrently with the others,
   taking a short lease on each row before sending. A sink that is down stops for this cycle (its rows
   stay pending/failed for the next); `sent` rows are never sent again.

`dry_run=True` does steps 1 and 3 on paper: nothing is recorded, nothing is sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from caseline.alerts.rules import Snapshot, alert_body, due_alerts, snapshot
from caseline.alerts.sinks import Alert, DeliveryError, Sink, build_sinks, http_client
from caseline.config.models import AlertSettings
from caseline.evidence import Evidence
from caseline.incident import Incident
from caseline.store import Store
from caseline.store.alerts import (
    CANCELLED,
    FAILED,
    PENDING,
    SENT,
    SUPPRESSED,
    AlertKey,
    AlertState,
    AlertStateStore,
)
from caseline.store.incidents import IncidentStore
from caseline.timeparse import utc_now

__all__ = ["LEASE", "AlertOutcome", "evaluate", "evaluate_async"]

LEASE = timedelta(minutes=5)
"""How long a delivery in flight keeps its row; after that (a crashed sender) another run may resend."""

WOULD_SEND = "would_send"
WOULD_SUPPRESS = "would_suppress"
_LIVE = ["candidate", "confirmed", "resolved"]


@dataclass(frozen=True)
class AlertOutcome:
    """What happened to one alert in this evaluation (`caseline alert --json` prints these)."""

    incident: str
    sink: str
    kind: str
    status: str
    generation: int = 0
    error: str | None = None
    note: str | None = None
    body: dict[str, Any] | None = None

    def as_json(self, *, with_body: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"incident": self.incident, "sink": self.sink, "kind": self.kind, "status": self.status}
        if self.error:
            out["error"] = self.error
        if self.note:
            out["note"] = self.note
        if with_body:
            out["alert"] = self.body
        return out


class _Context:
    """Per-evaluation caches: snapshots, account ARR, evidence."""

    def __init__(self, store: Store, settings: AlertSettings) -> None:
        self.store = store
        self.settings = settings
        self.incidents = IncidentStore(store)
        self.snaps: dict[str, Snapshot | None] = {}
        self._arr: dict[str, float | None] | None = None

    def load(self, incidents: Sequence[Incident]) -> None:
        wanted = [e for i in incidents for e in i.evidence_ids]
        found = {e.id: e for e in self.store.get_many(wanted, with_activities=False)}
        for incident in incidents:
            members: list[Evidence] = [found[e] for e in incident.evidence_ids if e in found]
            self.snaps[incident.id] = snapshot(incident, members, self.settings)

    def snap(self, incident_id: str) -> Snapshot | None:
        if incident_id not in self.snaps:
            found = self.incidents.many([incident_id])
            if found:
                self.load(found)
            else:
                self.snaps[incident_id] = None
        return self.snaps[incident_id]

    def alert(self, snap: Snapshot, kind: str, at: datetime) -> Alert:
        if self._arr is None:
            self._arr = {a.key: a.arr for a in self.store.accounts()}
        values = [v for k in snap.account_keys if (v := self._arr.get(k)) is not None]
        # the escalation (Jira/Linear issue) first, then the reports in order, then the rest
        ordered = sorted(snap.members, key=lambda e: (0 if e.source in ("jira", "linear") else 1 if e.is_report
                                                      else 2, e.created_at, e.id))
        links = [(e.title or e.id, e.url) for e in ordered if e.url and not e.deleted]
        return Alert(
            kind=kind,
            body=alert_body(snap, kind, at),
            accounts_affected=snap.accounts_affected,
            arr_affected=sum(values) if values else None,
            links=tuple(links[:10]),
        )


def _skip_early(
    incident: Incident, history: dict[str, list[AlertState]], sinks: Sequence[Sink],
    settings: AlertSettings, now: datetime,
) -> bool:
    """Cheap checks that spare loading evidence for incidents that cannot be due anything."""
    if not history and len(incident.members) < settings.min_reports:
        return True  # noise: fewer members than the threshold needs reports
    openers = [next((h for h in history.get(s.label, []) if h.kind == "opened"), None) for s in sinks]
    if incident.status == "resolved" and all(
        any(h.kind == "resolved" for h in history.get(s.label, [])) or (o is not None and o.status != SENT)
        for s, o in zip(sinks, openers, strict=True)
    ):
        return True
    last_seen = incident.last_seen
    return bool(
        last_seen is not None
        and last_seen < now - settings.max_age
        and all(o is not None and o.status == SUPPRESSED for o in openers)
    )


async def evaluate_async(
    settings: AlertSettings,
    store: Store,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[AlertOutcome]:
    """Evaluate thresholds now and notify the configured sinks; one outcome per alert touched."""
    sinks = build_sinks(settings.sinks)
    if not sinks:
        return []
    now = now or utc_now()
    ctx = _Context(store, settings)
    states = AlertStateStore(store)
    history: dict[str, dict[str, list[AlertState]]] = {}
    for state in states.states():
        history.setdefault(state.incident_id, {}).setdefault(state.sink, []).append(state)

    live = [i for i in ctx.incidents.list(statuses=_LIVE) if not i.merged_into]
    ctx.load([i for i in live if not _skip_early(i, history.get(i.id, {}), sinks, settings, now)])

    outcomes: list[AlertOutcome] = []
    for incident_id, snap in list(ctx.snaps.items()):
        if snap is None:
            continue
        for sink in sinks:
            for due in due_alerts(snap, history.get(incident_id, {}).get(sink.label, []), settings, now):
                key = AlertKey(incident_id, sink.label, due.kind, due.generation)
                body = alert_body(snap, due.kind, now)
                if dry_run:
                    status = WOULD_SEND if due.status == PENDING else WOULD_SUPPRESS
                    outcomes.append(_outcome(key, status, body=body, note=due.reason or None))
                    continue
                payload = {"body": body, "basis": snap.basis(), "reason": due.reason}
                if due.revive:
                    states.revive(key, payload=payload)
                elif states.claim(key, status=due.status, payload=payload, now=now) and due.status == SUPPRESSED:
                    outcomes.append(_outcome(key, SUPPRESSED, body=body, note=due.reason or None))

    waiting = states.deliverable([s.label for s in sinks], lease_expired_before=utc_now() - LEASE)
    if dry_run:
        for row in waiting:
            snap = ctx.snap(row.incident_id)
            if snap is not None and snap.active:
                outcomes.append(_outcome(row.key, WOULD_SEND, body=alert_body(snap, row.kind, now),
                                         note=f"retry after {row.attempts} failed attempt(s)"))
        return _ordered(outcomes)

    async with http_client(transport) as client:
        runs = [
            _deliver_sink(sink, [r for r in waiting if r.sink == sink.label], client, ctx, states, should_stop)
            for sink in sinks
        ]
        for delivered in await asyncio.gather(*runs):
            outcomes += delivered
    return _ordered(outcomes)


async def _deliver_sink(
    sink: Sink,
    rows: Sequence[AlertState],
    client: httpx.AsyncClient,
    ctx: _Context,
    states: AlertStateStore,
    should_stop: Callable[[], bool] | None,
) -> list[AlertOutcome]:
    """One sink's queue, oldest first; it stops at the first failure that says the sink is down."""
    out: list[AlertOutcome] = []
    down: str | None = None
    for row in rows:
        if down is not None or (should_stop is not None and should_stop()):
            if down is not None:
                out.append(_outcome(row.key, row.status if row.status != "sending" else PENDING,
                                    error=f"not attempted: {down}"))
            continue
        at = utc_now()
        if not states.lease(row.key, now=at, lease_expired_before=at - LEASE):
            continue  # another run is delivering it, or already has
        snap = ctx.snap(row.incident_id)
        if snap is None or not snap.active:
            reason = "incident dismissed or merged away" if snap is not None else "incident no longer exists"
            states.finish(row.key, leased_at=at, status=CANCELLED, error=reason)
            out.append(_outcome(row.key, CANCELLED, error=reason))
            continue
        alert = ctx.alert(snap, row.kind, at)
        try:
            await sink.deliver(client, alert)
        except DeliveryError as exc:
            states.finish(row.key, leased_at=at, status=FAILED, error=str(exc))
            out.append(_outcome(row.key, FAILED, error=str(exc), body=alert.body))
            if exc.sink_down:
                down = f"{sink.label} unavailable; retried next cycle"
            continue
        except Exception as exc:  # a bug must not leave the row leased until the lease expires
            error = f"{sink.label}: unexpected {type(exc).__name__}"
            states.finish(row.key, leased_at=at, status=FAILED, error=error)
            out.append(_outcome(row.key, FAILED, error=error, body=alert.body))
            continue
        states.finish(row.key, leased_at=at, status=SENT, payload={"body": alert.body, "basis": snap.basis()})
        out.append(_outcome(row.key, SENT, body=alert.body))
    return out


def _outcome(
    key: AlertKey, status: str, *, body: dict[str, Any] | None = None, error: str | None = None,
    note: str | None = None,
) -> AlertOutcome:
    return AlertOutcome(key.incident_id, key.sink, key.kind, status, key.generation, error, note, body)


def _ordered(outcomes: list[AlertOutcome]) -> list[AlertOutcome]:
    order = {"opened": 0, "grew": 1, "escalated": 2, "resolved": 3}
    return sorted(outcomes, key=lambda o: (o.incident, o.sink, order.get(o.kind, 9), o.generation))


def evaluate(
    settings: AlertSettings,
    store: Store,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[AlertOutcome]:
    """`evaluate_async` for synchronous callers (the CLI)."""
    return asyncio.run(evaluate_async(settings, store, dry_run=dry_run, now=now, transport=transport))
