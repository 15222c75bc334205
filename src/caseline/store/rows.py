"""Table rows. Only what needs indexes or queries is a column; the full model lives in `doc`.

Rows are never built from vendor dicts: `convert.py` builds them from validated `Evidence` objects.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Integer, String, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

__all__ = [
    "AccountRow",
    "ActivityRow",
    "AlertStateRow",
    "AliasRow",
    "DecisionRow",
    "EvidenceRow",
    "IncidentMemberRow",
    "IncidentRow",
    "JobLockRow",
    "LinkRow",
    "MetaRow",
    "QuarantineRow",
    "SyncCursorRow",
    "UtcDateTime",
]


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out, on SQLite (naive UTC text) and PostgreSQL (timestamptz) alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_column(*, index: bool = False, nullable: bool = True) -> Any:
    return Column(UtcDateTime(), index=index, nullable=nullable)


def _json_column() -> Any:
    return Column(JSON, nullable=True)


class EvidenceRow(SQLModel, table=True):
    __tablename__ = "evidence"

    id: str = Field(primary_key=True)
    source: str = Field(index=True)
    kind: str
    native_id: str
    vendor_id: str | None = Field(default=None, index=True)
    account: str | None = Field(default=None, index=True)
    account_ref: str | None = Field(default=None)
    author_email: str | None = Field(default=None)
    is_report: bool = Field(default=False)
    deleted: bool = Field(default=False)
    created_at: datetime = Field(sa_column=_utc_column(index=True, nullable=False))
    updated_at: datetime = Field(sa_column=_utc_column(nullable=False))
    title: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    search_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    match_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    content_hash: str = Field(default="")
    doc: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    seq: int = Field(default=0, sa_column=Column(BigInteger, index=True, nullable=False, default=0))


class ActivityRow(SQLModel, table=True):
    __tablename__ = "activity"

    evidence_id: str = Field(primary_key=True)
    idx: int = Field(primary_key=True)
    at: datetime = Field(sa_column=_utc_column(index=True, nullable=False))
    type: str
    actor_name: str | None = None
    actor_email: str | None = None
    actor_role: str | None = None
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    url: str | None = None
    doc: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class LinkRow(SQLModel, table=True):
    """A link from one evidence item to another item's id (maybe not synced yet) or to a URL."""

    __tablename__ = "evidence_link"
    __table_args__ = (Index("ix_evidence_link_target", "target"),)

    src_id: str = Field(primary_key=True)
    target: str = Field(primary_key=True)


class AliasRow(SQLModel, table=True):
    """Another evidence id an item is known by (a moved Jira issue's new key)."""

    __tablename__ = "evidence_alias"

    alias_id: str = Field(primary_key=True)
    evidence_id: str = Field(index=True)


class AccountRow(SQLModel, table=True):
    __tablename__ = "account"

    key: str = Field(primary_key=True)
    name: str | None = None
    plan: str | None = None
    arr: float | None = None
    domains: list[str] = Field(default_factory=list, sa_column=_json_column())
    external_ids: list[str] = Field(default_factory=list, sa_column=_json_column())


class SyncCursorRow(SQLModel, table=True):
    __tablename__ = "sync_cursor"

    source: str = Field(primary_key=True)
    stream: str = Field(primary_key=True)
    value: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(sa_column=_utc_column(nullable=False))


class MetaRow(SQLModel, table=True):
    """Small counters and markers: the change sequence, the correlation watermark."""

    __tablename__ = "store_meta"

    key: str = Field(primary_key=True)
    value: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class IncidentRow(SQLModel, table=True):
    __tablename__ = "incident"

    id: str = Field(primary_key=True)
    status: str = Field(default="candidate", index=True)
    severity: str = Field(default="sev4")
    title: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    first_seen: datetime | None = Field(default=None, sa_column=_utc_column(index=True))
    last_seen: datetime | None = Field(default=None, sa_column=_utc_column(index=True))
    detected_at: datetime | None = Field(default=None, sa_column=_utc_column())
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    updated_at: datetime = Field(sa_column=_utc_column(nullable=False))
    merged_into: str | None = Field(default=None, index=True)
    doc: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column())


class IncidentMemberRow(SQLModel, table=True):
    """Evidence in an incident, with the reasons it belongs (`why`)."""

    __tablename__ = "incident_member"

    evidence_id: str = Field(primary_key=True)
    incident_id: str = Field(index=True)
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_column=_json_column())
    added_at: datetime = Field(sa_column=_utc_column(nullable=False))


class DecisionRow(SQLModel, table=True):
    """A responder decision (confirm, dismiss, merge, split, exclude); later runs respect every one."""

    __tablename__ = "decision"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    incident_id: str = Field(index=True)
    action: str
    evidence_ids: list[str] = Field(default_factory=list, sa_column=_json_column())
    other_ids: list[str] = Field(default_factory=list, sa_column=_json_column())
    at: datetime = Field(sa_column=_utc_column(nullable=False))


class AlertStateRow(SQLModel, table=True):
    """What each sink has been sent for each incident: one row per (incident, sink, kind, generation).

    Inserting the row is the claim (a primary-key conflict means another run has it); `generation`
    numbers repeated follow-ups of one kind (`grew` 1, 2, …; 0 for the others). `attempted_at` is the
    start of the delivery in flight (status `sending`), so a crashed sender's lease can expire.
    """

    __tablename__ = "alert_state"

    incident_id: str = Field(primary_key=True)
    sink: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)
    generation: int = Field(default=0, primary_key=True)
    status: str = Field(default="pending", index=True)
    attempts: int = Field(default=0)
    last_error: str | None = None
    created_at: datetime = Field(sa_column=_utc_column(nullable=False))
    attempted_at: datetime | None = Field(default=None, sa_column=_utc_column())
    sent_at: datetime | None = Field(default=None, sa_column=_utc_column())
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=_json_column())


class QuarantineRow(SQLModel, table=True):
    """Items that could not be identified at all: kept with the reason, counted, never silently lost."""

    __tablename__ = "quarantine"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    source: str = Field(index=True)
    stream: str
    reason: str = Field(sa_column=Column(String, nullable=False))
    raw: dict[str, Any] | None = Field(default=None, sa_column=_json_column())
    at: datetime = Field(sa_column=_utc_column(nullable=False))


class JobLockRow(SQLModel, table=True):
    """The scheduler's lock: one `caseline run` per store (works on SQLite and PostgreSQL)."""

    __tablename__ = "job_lock"

    name: str = Field(primary_key=True)
    holder: str
    acquired_at: datetime = Field(sa_column=_utc_column(nullable=False))
    heartbeat_at: datetime = Field(sa_column=_utc_column(nullable=False))
