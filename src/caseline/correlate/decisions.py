"""Responder decisions: confirm, dismiss, merge, split, exclude.

Each one changes the incident now, is recorded (`decision` table), and is respected by every later
correlation run (`engine.py` turns the records into clustering constraints):

- confirm / dismiss set the status; runs never change a status a person set, and a dismissed incident
  absorbs its own new reports (staying dismissed) but merges with no other incident;
- merge ID OTHER... folds each OTHER into ID (OTHER keeps its row with `merged_into` = ID; its id is never
  reused), and runs never split incidents, so merged stays merged;
- split ID EVIDENCE... moves the listed evidence into a new incident; runs never merge the two parts
  again (unless a responder merges them);
- exclude ID EVIDENCE... takes evidence out for good: it never rejoins ID (nor what ID is merged into).

Every decision bumps the correlation epoch in its transaction, so a run computing at the same time
starts over instead of overwriting it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from caseline.config import Settings
from caseline.correlate.engine import EPOCH_KEY
from caseline.correlate.summary import load_member_info, summarize
from caseline.errors import ConfigError, NotFound
from caseline.incident import Incident, Member, Reason, Status
from caseline.store import Store
from caseline.store.incidents import IncidentStore
from caseline.timeparse import utc_now

__all__ = ["confirm", "dismiss", "exclude", "merge", "resolve_incident", "split"]


def resolve_incident(store: Store, incident_id: str) -> Incident:
    """The incident (or the one it was merged into); an unknown id is `NotFound`."""
    found = IncidentStore(store).get(incident_id)
    if found is None:
        raise NotFound(f"unknown incident {incident_id!r}")
    return found


def _set_status(store: Store, incident_id: str, status: Status, action: str) -> Incident:
    incidents = IncidentStore(store)
    incident = resolve_incident(store, incident_id)
    changed = incident.model_copy(update={"status": status, "updated_at": utc_now()})
    with store.transaction() as conn:
        store.next_seq(conn, EPOCH_KEY)
        incidents.save([changed], conn)
        incidents.record_decision(changed.id, action, conn=conn)
    return changed


def confirm(store: Store, incident_id: str) -> Incident:
    return _set_status(store, incident_id, "confirmed", "confirm")


def dismiss(store: Store, incident_id: str) -> Incident:
    return _set_status(store, incident_id, "dismissed", "dismiss")


def merge(store: Store, settings: Settings, incident_id: str, others: Sequence[str]) -> Incident:
    """Fold each of `others` into `incident_id`."""
    incidents = IncidentStore(store)
    target = resolve_incident(store, incident_id)
    folded: list[Incident] = []
    for other_id in others:
        other = resolve_incident(store, other_id)
        if other.id != target.id and other.id not in {f.id for f in folded}:
            folded.append(other)
    if not folded:
        raise ConfigError(f"merge: nothing to merge into {target.id} (the others are already part of it)")
    now = utc_now()
    have = set(target.evidence_ids)
    members = list(target.members)
    for other in folded:
        for m in other.members:
            if m.evidence_id not in have:
                have.add(m.evidence_id)
                members.append(_with_decision(m, f"merged from {other.id} by a responder", now))
    survivor = _summarized(store, settings, target.model_copy(update={"members": members, "updated_at": now}))
    gone = [
        o.model_copy(update={"members": [], "merged_into": survivor.id, "report_count": 0, "accounts": [],
                             "sources": {}, "updated_at": now})
        for o in folded
    ]
    with store.transaction() as conn:
        store.next_seq(conn, EPOCH_KEY)
        incidents.save([*gone, survivor], conn)
        incidents.record_decision(survivor.id, "merge", other_ids=[o.id for o in folded], conn=conn)
    return survivor


def split(store: Store, settings: Settings, incident_id: str, evidence_ids: Sequence[str]) -> tuple[Incident, Incident]:
    """Move `evidence_ids` out of the incident into a new one; returns (the rest, the new incident)."""
    incidents = IncidentStore(store)
    incident = resolve_incident(store, incident_id)
    moving = _members_named(store, incident, evidence_ids)
    if len(moving) == len(incident.members):
        raise ConfigError(f"split: that would move every member of {incident.id}; nothing would be left")
    now = utc_now()
    new_id = incidents.allocate_id()
    moved_ids = {m.evidence_id for m in moving}
    moved = [
        Member(
            evidence_id=m.evidence_id,
            reasons=[
                *(r for r in m.reasons if r.with_ in moved_ids),
                Reason(kind="decision", with_=incident.id, detail=f"split from {incident.id} by a responder"),
            ],
            added_at=now,
        )
        for m in moving
    ]
    rest = [m for m in incident.members if m.evidence_id not in moved_ids]
    kept = _summarized(store, settings, incident.model_copy(update={"members": rest, "updated_at": now}))
    fresh = _summarized(store, settings, Incident(id=new_id, created_at=now, updated_at=now, members=moved))
    with store.transaction() as conn:
        store.next_seq(conn, EPOCH_KEY)
        incidents.save([kept, fresh], conn)
        incidents.record_decision(kept.id, "split", evidence_ids=sorted(moved_ids), other_ids=[new_id], conn=conn)
    return kept, fresh


def exclude(store: Store, settings: Settings, incident_id: str, evidence_ids: Sequence[str]) -> Incident:
    """Take `evidence_ids` out of the incident for good."""
    incidents = IncidentStore(store)
    incident = resolve_incident(store, incident_id)
    leaving = {m.evidence_id for m in _members_named(store, incident, evidence_ids)}
    now = utc_now()
    rest = [m for m in incident.members if m.evidence_id not in leaving]
    kept = _summarized(store, settings, incident.model_copy(update={"members": rest, "updated_at": now}))
    if not kept.members and kept.status == "candidate":
        kept = kept.model_copy(update={"status": "dismissed"})
    with store.transaction() as conn:
        store.next_seq(conn, EPOCH_KEY)
        incidents.save([kept], conn)
        incidents.record_decision(kept.id, "exclude", evidence_ids=sorted(leaving), conn=conn)
    return kept


def _members_named(store: Store, incident: Incident, evidence_ids: Sequence[str]) -> list[Member]:
    if not evidence_ids:
        raise ConfigError("name at least one evidence id")
    by_id = {m.evidence_id: m for m in incident.members}
    out: list[Member] = []
    for raw in evidence_ids:
        evidence_id = store.resolve_id(raw)
        member = by_id.get(evidence_id)
        if member is None:
            raise NotFound(f"evidence {raw!r} is not in incident {incident.id}")
        if member not in out:
            out.append(member)
    return out


def _with_decision(member: Member, detail: str, now: datetime) -> Member:
    return Member(
        evidence_id=member.evidence_id,
        reasons=[*member.reasons, Reason(kind="decision", detail=detail)],
        added_at=now,
    )


def _summarized(store: Store, settings: Settings, incident: Incident) -> Incident:
    infos = load_member_info(store, incident.evidence_ids)
    accounts = {a.key: a for a in store.accounts()}

    def text_of(evidence_id: str) -> str:
        found = store.get_many([evidence_id], with_activities=False)
        return found[0].text if found else ""

    return summarize(
        incident, infos, accounts=accounts, min_reports=settings.alerts.min_reports,
        min_accounts=settings.alerts.min_accounts, alert_window=settings.alerts.window,
        scorer=settings.correlate.scorer, text_of=text_of,
    )
