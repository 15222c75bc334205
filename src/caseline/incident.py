"""The incident model: a candidate incident, its members, and why each member belongs.

Correlation writes these, the timeline and alerts read them; `store/incidents.py` persists them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from caseline.evidence import UtcDatetime

__all__ = ["SEVERITIES", "STATUSES", "Incident", "Member", "Reason", "ReasonKind", "Severity", "Status"]

Status = Literal["candidate", "confirmed", "resolved", "dismissed"]
Severity = Literal["sev1", "sev2", "sev3", "sev4"]
ReasonKind = Literal["link", "text", "account", "time", "decision"]
STATUSES: tuple[Status, ...] = ("candidate", "confirmed", "resolved", "dismissed")
SEVERITIES: tuple[Severity, ...] = ("sev1", "sev2", "sev3", "sev4")


class Reason(BaseModel):
    """One reason an item belongs: a link to, or a text match with, another member; time; account."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    kind: ReasonKind
    with_: str | None = Field(default=None, alias="with", description="the member it relates to")
    score: float | None = None
    detail: str | None = None


class Member(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    evidence_id: str
    reasons: list[Reason] = Field(default_factory=list)
    added_at: UtcDatetime


class Incident(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    status: Status = "candidate"
    severity: Severity = "sev4"
    title: str = ""
    first_seen: UtcDatetime | None = None
    last_seen: UtcDatetime | None = None
    detected_at: UtcDatetime | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    merged_into: str | None = None
    report_count: int = 0
    accounts: list[str] = Field(default_factory=list)
    sources: dict[str, int] = Field(default_factory=dict)
    members: list[Member] = Field(default_factory=list)

    @property
    def evidence_ids(self) -> list[str]:
        return [m.evidence_id for m in self.members]

