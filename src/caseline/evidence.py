"""THE evidence model: every tool's items become these objects, and everything else derives from them.

Rows (`store/`), exports (`timeline/`), CLI output and alerts are built from these classes; a field
typed twice elsewhere is a bug. Ids follow the contract: `source:kind:native_id` (the native id may
itself contain `:`, e.g. Slack's `channel:ts`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator

from caseline.timeparse import format_utc, to_utc

__all__ = [
    "REPORT_KINDS",
    "Account",
    "Activity",
    "ActivityType",
    "ActorRole",
    "Evidence",
    "EvidenceId",
    "Person",
    "UtcDatetime",
    "is_report",
]


def _utc(value: object) -> datetime:
    return to_utc(value)


def _utc_json(value: datetime) -> str:
    return format_utc(value) or ""


UtcDatetime = Annotated[datetime, BeforeValidator(_utc), PlainSerializer(_utc_json, when_used="json")]
"""An aware UTC datetime; accepts anything `timeparse.to_utc` does, emits ISO 8601 with `Z`."""

_SOURCE = re.compile(r"^[a-z][a-z0-9_-]*$")
_KIND = re.compile(r"^[a-z][a-z0-9_-]*$")

# Evidence a customer raised (contract Definitions); anything imported also counts as a report.
REPORT_KINDS: frozenset[tuple[str, str]] = frozenset(
    {("zendesk", "ticket"), ("intercom", "conversation"), ("hubspot", "ticket")}
)
CONTEXT_SOURCES: frozenset[str] = frozenset({"slack", "jira", "linear"})


class EvidenceId(str):
    """`source:kind:native_id` as a value type; build with `of`, read with `parse`."""

    __slots__ = ()

    @classmethod
    def of(cls, source: str, kind: str, native_id: object) -> EvidenceId:
        native = str(native_id)
        if not _SOURCE.match(source) or not _KIND.match(kind) or not native:
            raise ValueError(f"bad evidence id parts: {source!r}, {kind!r}, {native!r}")
        return cls(f"{source}:{kind}:{native}")

    @classmethod
    def parse(cls, text: str) -> EvidenceId:
        parts = text.split(":", 2)
        if len(parts) != 3:
            raise ValueError(f"bad evidence id {text!r}: expected source:kind:native_id")
        return cls.of(*parts)

    @property
    def source(self) -> str:
        return self.split(":", 2)[0]

    @property
    def kind(self) -> str:
        return self.split(":", 2)[1]

    @property
    def native_id(self) -> str:
        return self.split(":", 2)[2]


class Person(BaseModel):
    """An author or actor; either part may be unknown."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    email: str | None = None

    @property
    def display(self) -> str:
        return self.name or self.email or "unknown"

    @property
    def domain(self) -> str | None:
        if self.email and "@" in self.email:
            return self.email.rsplit("@", 1)[1].strip().lower() or None
        return None


ActivityType = Literal["comment", "note", "reply", "message", "status_change", "assignment", "link", "other"]
"""comment: a public reply on a ticket/issue; note: internal; reply: a Slack thread reply;
message: a customer's message in a conversation; status_change: from_status → to_status."""

ActorRole = Literal["customer", "agent", "bot", "system"]


class Activity(BaseModel):
    """Something that happened on an evidence item: comment, reply, conversation part, status change."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: UtcDatetime
    type: ActivityType
    actor: Person | None = None
    actor_role: ActorRole | None = None
    text: str = ""
    url: str | None = None
    native_id: str | None = None
    public: bool | None = None
    from_status: str | None = None
    to_status: str | None = None


class Evidence(BaseModel):
    """One item from one tool, normalized. `id` and (source, kind, native_id) are kept consistent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    source: str
    kind: str
    native_id: str
    vendor_id: str | None = Field(default=None, description="the vendor's immutable id, when the key can change")
    aliases: list[str] = Field(default_factory=list, description="other evidence ids this item was known by")
    url: str | None = None
    title: str = ""
    body: str = ""
    author: Person | None = None
    author_role: ActorRole | None = None
    account: str | None = Field(default=None, description="resolved account key")
    account_ref: str | None = Field(default=None, description="the tool's org/company id, `source:kind:id`")
    created_at: UtcDatetime
    updated_at: UtcDatetime
    status: str | None = None
    priority: str | None = None
    tags: list[str] = Field(default_factory=list)
    links: list[str] = Field(default_factory=list, description="evidence ids or external URLs")
    deleted: bool = False
    bot: bool = False
    raw: dict[str, Any] = Field(default_factory=dict)
    activities: list[Activity] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _fill_id(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("id") and not all(data.get(k) for k in ("source", "kind", "native_id")):
            parsed = EvidenceId.parse(str(data["id"]))
            data.setdefault("source", parsed.source)
            data.setdefault("kind", parsed.kind)
            data.setdefault("native_id", parsed.native_id)
        if all(data.get(k) for k in ("source", "kind", "native_id")):
            built = EvidenceId.of(data["source"], data["kind"], data["native_id"])
            if data.get("id") and data["id"] != built:
                raise ValueError(f"id {data['id']!r} does not match {built!r}")
            data["id"] = str(built)
        if "updated_at" not in data or data["updated_at"] is None:
            data["updated_at"] = data.get("created_at")
        return data

    @property
    def is_report(self) -> bool:
        return is_report(self.source, self.kind)

    @property
    def text(self) -> str:
        """Title and body together: what similarity and search look at."""
        if self.title and self.body.startswith(self.title):
            return self.body
        return f"{self.title}\n{self.body}".strip()

    def summary(self) -> dict[str, Any]:
        """The `evidence[]` entry of the export and of `caseline evidence --json`."""
        return {
            "id": self.id,
            "source": self.source,
            "kind": self.kind,
            "url": self.url,
            "title": self.title or self.body[:120],
            "account": self.account,
            "author": self.author.model_dump(mode="json") if self.author else None,
            "created_at": format_utc(self.created_at),
            "updated_at": format_utc(self.updated_at),
            "links": list(self.links),
            "deleted": self.deleted,
        }


def is_report(source: str, kind: str) -> bool:
    """Customer-raised evidence (contract): tickets, conversations, and anything imported."""
    if (source, kind) in REPORT_KINDS:
        return True
    known = {"zendesk", "intercom", "hubspot"} | CONTEXT_SOURCES
    return source not in known


class Account(BaseModel):
    """A customer account: who is affected and how much it matters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    name: str | None = None
    domains: list[str] = Field(default_factory=list)
    plan: str | None = None
    arr: float | None = None
    external_ids: list[str] = Field(default_factory=list, description="ids in each tool: `source:kind:id`")

    def merged(self, other: Account) -> Account:
        """Combine two records of one account; non-empty values from `other` win (HubSpot is synced last)."""
        return Account(
            key=self.key,
            name=other.name or self.name,
            domains=sorted(set(self.domains) | set(other.domains)),
            plan=other.plan or self.plan,
            arr=other.arr if other.arr is not None else self.arr,
            external_ids=sorted(set(self.external_ids) | set(other.external_ids)),
        )
