"""Alert state: what each sink has been sent for each incident, and the atomic claims that keep it once.

Every transition is one conditional statement, so concurrent `caseline alert` calls, a scheduled run
and restarts agree without any lock held across a delivery:

    claim   INSERT … ON CONFLICT DO NOTHING RETURNING    a row back = this caller owns the alert
    revive  UPDATE … WHERE status IN (suppressed, cancelled)  the incident is current again
    lease   UPDATE … WHERE status IN (pending, failed), or `sending` with an expired lease
    finish  UPDATE … WHERE status = 'sending' AND attempted_at = this caller's lease
            → sent / failed / cancelled (dismissed or merged away meanwhile)

A `sent` row is never leased again: delivery is at-least-once only across a crash mid-send.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update

from caseline.store.repo import Store, _chunks
from caseline.store.rows import AlertStateRow
from caseline.timeparse import utc_now

__all__ = [
    "CANCELLED",
    "FAILED",
    "PENDING",
    "SENDING",
    "SENT",
    "SUPPRESSED",
    "AlertKey",
    "AlertState",
    "AlertStateStore",
]

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
SUPPRESSED = "suppressed"
CANCELLED = "cancelled"

_AS = AlertStateRow.__table__  # type: ignore[attr-defined]
_KIND_ORDER = {"opened": 0, "grew": 1, "escalated": 2, "resolved": 3}


@dataclass(frozen=True, order=True)
class AlertKey:
    """One alert of one sink: the primary key of its state row."""

    incident_id: str
    sink: str
    kind: str
    generation: int = 0


@dataclass(frozen=True)
class AlertState:
    """A state row as read (plain data; never attached to a session)."""

    key: AlertKey
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    attempted_at: datetime | None
    sent_at: datetime | None
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def incident_id(self) -> str:
        return self.key.incident_id

    @property
    def sink(self) -> str:
        return self.key.sink

    @property
    def kind(self) -> str:
        return self.key.kind

    @property
    def generation(self) -> int:
        return self.key.generation


def _where(key: AlertKey) -> Any:
    return and_(
        _AS.c.incident_id == key.incident_id,
        _AS.c.sink == key.sink,
        _AS.c.kind == key.kind,
        _AS.c.generation == key.generation,
    )


def _state(row: Any) -> AlertState:
    return AlertState(
        key=AlertKey(row.incident_id, row.sink, row.kind, int(row.generation)),
        status=row.status,
        attempts=int(row.attempts),
        last_error=row.last_error,
        created_at=row.created_at,
        attempted_at=row.attempted_at,
        sent_at=row.sent_at,
        payload=dict(row.payload or {}),
    )


def _delivery_order(state: AlertState) -> tuple[datetime, str, int, int]:
    return (state.created_at, state.incident_id, _KIND_ORDER.get(state.kind, 9), state.generation)


class AlertStateStore:
    """Alert state reads and the atomic transitions, over a `Store` (same engine and write lock)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # ---- reads ---------------------------------------------------------------------------------
    def states(self, incident_ids: Iterable[str] | None = None) -> list[AlertState]:
        """Every state row (of these incidents), in delivery order."""
        found: list[AlertState] = []
        with self.store.engine.connect() as conn:
            if incident_ids is None:
                found = [_state(r) for r in conn.execute(select(_AS))]
            else:
                for chunk in _chunks(list(dict.fromkeys(incident_ids))):
                    found += [_state(r) for r in conn.execute(select(_AS).where(_AS.c.incident_id.in_(chunk)))]
        return sorted(found, key=_delivery_order)

    def deliverable(self, sinks: Sequence[str], *, lease_expired_before: datetime) -> list[AlertState]:
        """Rows waiting for delivery: pending, failed, or `sending` with a lease that has expired."""
        if not sinks:
            return []
        stmt = select(_AS).where(
            _AS.c.sink.in_(list(sinks)),
            or_(
                _AS.c.status.in_([PENDING, FAILED]),
                and_(_AS.c.status == SENDING, or_(_AS.c.attempted_at.is_(None),
                                                  _AS.c.attempted_at < lease_expired_before)),
            ),
        )
        with self.store.engine.connect() as conn:
            return sorted((_state(r) for r in conn.execute(stmt)), key=_delivery_order)

    # ---- atomic transitions ----------------------------------------------------------------------
    def claim(self, key: AlertKey, *, status: str, payload: dict[str, Any], now: datetime | None = None) -> bool:
        """Insert the state row; False when it already exists (another run, or an earlier one, has it)."""
        row = {
            "incident_id": key.incident_id,
            "sink": key.sink,
            "kind": key.kind,
            "generation": key.generation,
            "status": status,
            "attempts": 0,
            "last_error": None,
            "created_at": now or utc_now(),
            "attempted_at": None,
            "sent_at": None,
            "payload": payload,
        }
        # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT DO NOTHING
        stmt = (
            self.store._insert(_AS)
            .values(**row)
            .on_conflict_do_nothing(index_elements=["incident_id", "sink", "kind", "generation"])
            .returning(_AS.c.incident_id)
        )
        with self.store.transaction() as conn:
            return conn.execute(stmt).first() is not None

    def revive(self, key: AlertKey, *, payload: dict[str, Any]) -> bool:
        """A suppressed (or cancelled) alert whose incident is current again becomes pending, for one caller."""
        stmt = (
            update(_AS)
            .where(_where(key), _AS.c.status.in_([SUPPRESSED, CANCELLED]))
            .values(status=PENDING, payload=payload)
        )
        with self.store.transaction() as conn:
            return conn.execute(stmt).rowcount == 1

    def lease(self, key: AlertKey, *, now: datetime, lease_expired_before: datetime) -> bool:
        """Take the row for one delivery attempt at `now`; False when another caller delivers it or it is done."""
        at = now
        stmt = (
            update(_AS)
            .where(
                _where(key),
                or_(
                    _AS.c.status.in_([PENDING, FAILED]),
                    and_(_AS.c.status == SENDING, or_(_AS.c.attempted_at.is_(None),
                                                      _AS.c.attempted_at < lease_expired_before)),
                ),
            )
            .values(status=SENDING, attempts=_AS.c.attempts + 1, attempted_at=at)
        )
        with self.store.transaction() as conn:
            return conn.execute(stmt).rowcount == 1

    def finish(
        self,
        key: AlertKey,
        *,
        leased_at: datetime,
        status: str,
        error: str | None = None,
        payload: dict[str, Any] | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Record the outcome of the delivery this caller leased at `leased_at` (and still holds)."""
        values: dict[str, Any] = {"status": status, "last_error": error[:500] if error else None}
        if status == SENT:
            values["sent_at"] = now or utc_now()
        if payload is not None:
            values["payload"] = payload
        with self.store.transaction() as conn:
            stmt = update(_AS).where(_where(key), _AS.c.status == SENDING, _AS.c.attempted_at == leased_at)
            return conn.execute(stmt.values(**values)).rowcount == 1
