"""Persistence of incidents, their members (with reasons) and responder decisions."""

from __future__ import annotations

import builtins
import secrets
import string
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select

from caseline.incident import Incident, Member, Reason
from caseline.store.repo import Store, _chunks
from caseline.store.rows import DecisionRow, IncidentMemberRow, IncidentRow
from caseline.timeparse import utc_now

__all__ = ["IncidentStore", "new_incident_id"]

_INC = IncidentRow.__table__  # type: ignore[attr-defined]
_MEM = IncidentMemberRow.__table__  # type: ignore[attr-defined]
_DEC = DecisionRow.__table__  # type: ignore[attr-defined]
_ALPHABET = string.ascii_lowercase + string.digits


def new_incident_id() -> str:
    """`inc-` and six random letters/digits (checked against the store before use: never reused)."""
    return "inc-" + "".join(secrets.choice(_ALPHABET) for _ in range(6))


class IncidentStore:
    """Incident reads and writes over a `Store` (same engine, same write lock)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def allocate_id(self, conn: Connection | None = None, taken: set[str] | None = None) -> str:
        while True:
            candidate = new_incident_id()
            if taken and candidate in taken:
                continue
            with self.store.engine.connect() as own:
                exists = (conn or own).execute(select(_INC.c.id).where(_INC.c.id == candidate)).first()
            if not exists:
                return candidate

    def save(self, incidents: Sequence[Incident], conn: Connection | None = None) -> None:
        """Upsert incidents and replace their member lists (one transaction unless `conn` is given)."""
        if conn is None:
            with self.store.transaction() as own:
                self._save(own, incidents)
        else:
            self._save(conn, incidents)

    def _save(self, conn: Connection, incidents: Sequence[Incident]) -> None:
        if not incidents:
            return
        rows = [
            {
                "id": i.id,
                "status": i.status,
                "severity": i.severity,
                "title": i.title,
                "first_seen": i.first_seen,
                "last_seen": i.last_seen,
                "detected_at": i.detected_at,
                "created_at": i.created_at,
                "updated_at": i.updated_at,
                "merged_into": i.merged_into,
                "doc": i.model_dump(mode="json", exclude={"members"}),
            }
            for i in incidents
        ]
        self.store._upsert(conn, _INC, rows, ["id"])
        ids = [i.id for i in incidents]
        for chunk in _chunks(ids):
            conn.execute(delete(_MEM).where(_MEM.c.incident_id.in_(chunk)))
        members = [
            {
                "evidence_id": m.evidence_id,
                "incident_id": i.id,
                "reasons": [r.model_dump(mode="json", by_alias=True) for r in m.reasons],
                "added_at": m.added_at,
            }
            for i in incidents
            for m in i.members
        ]
        # an item belongs to one incident: moving it removes it from wherever it was
        for chunk in _chunks([m["evidence_id"] for m in members]):
            conn.execute(delete(_MEM).where(_MEM.c.evidence_id.in_(chunk)))
        for chunk in _chunks(members):
            conn.execute(_MEM.insert(), list(chunk))

    def get(self, incident_id: str, *, follow_merges: bool = True) -> Incident | None:
        """The incident, or the one it was merged into; None when the id is unknown."""
        seen: set[str] = set()
        current = incident_id
        while True:
            found = self.many([current])
            if not found:
                return None
            incident = found[0]
            if not follow_merges or not incident.merged_into or incident.merged_into in seen:
                return incident
            seen.add(current)
            current = incident.merged_into

    def many(self, ids: Iterable[str]) -> list[Incident]:
        wanted = list(dict.fromkeys(ids))
        docs: dict[str, dict[str, Any]] = {}
        members: dict[str, list[Member]] = {}
        with self.store.engine.connect() as conn:
            for chunk in _chunks(wanted):
                for row in conn.execute(select(_INC.c.id, _INC.c.doc).where(_INC.c.id.in_(chunk))):
                    docs[row.id] = dict(row.doc)
                stmt = select(_MEM).where(_MEM.c.incident_id.in_(chunk)).order_by(_MEM.c.added_at, _MEM.c.evidence_id)
                for row in conn.execute(stmt):
                    members.setdefault(row.incident_id, []).append(
                        Member(
                            evidence_id=row.evidence_id,
                            reasons=[Reason.model_validate(r) for r in (row.reasons or [])],
                            added_at=row.added_at,
                        )
                    )
        return [Incident.model_validate({**docs[i], "members": members.get(i, [])}) for i in wanted if i in docs]

    def list(self, *, statuses: Sequence[str] | None = None, include_merged: bool = False) -> list[Incident]:
        stmt = select(_INC.c.id).order_by(_INC.c.last_seen.desc(), _INC.c.id)
        if statuses:
            stmt = stmt.where(_INC.c.status.in_(list(statuses)))
        if not include_merged:
            stmt = stmt.where(_INC.c.merged_into.is_(None))
        with self.store.engine.connect() as conn:
            ids = [r.id for r in conn.execute(stmt)]
        return self.many(ids)

    def membership(self, evidence_ids: Iterable[str] | None = None) -> dict[str, str]:
        """evidence id → incident id, for the given ids (or all)."""
        out: dict[str, str] = {}
        with self.store.engine.connect() as conn:
            if evidence_ids is None:
                for row in conn.execute(select(_MEM.c.evidence_id, _MEM.c.incident_id)):
                    out[row.evidence_id] = row.incident_id
                return out
            for chunk in _chunks(list(dict.fromkeys(evidence_ids))):
                stmt = select(_MEM.c.evidence_id, _MEM.c.incident_id).where(_MEM.c.evidence_id.in_(chunk))
                for row in conn.execute(stmt):
                    out[row.evidence_id] = row.incident_id
        return out

    def record_decision(
        self,
        incident_id: str,
        action: str,
        *,
        evidence_ids: Sequence[str] = (),
        other_ids: Sequence[str] = (),
        conn: Connection | None = None,
    ) -> None:
        row = {
            "incident_id": incident_id,
            "action": action,
            "evidence_ids": list(evidence_ids),
            "other_ids": list(other_ids),
            "at": utc_now(),
        }
        if conn is None:
            with self.store.transaction() as own:
                own.execute(_DEC.insert(), [row])
        else:
            conn.execute(_DEC.insert(), [row])

    def decisions(self, incident_id: str | None = None) -> builtins.list[dict[str, Any]]:
        stmt = select(_DEC).order_by(_DEC.c.id)
        if incident_id:
            stmt = stmt.where(_DEC.c.incident_id == incident_id)
        with self.store.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]
