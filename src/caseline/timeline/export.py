"""The postmortem export `caseline.incident.v1`: pydantic models, their JSON Schema, and `build_export`.

The models ARE the contract's shape: `caseline schema` prints `IncidentExport.model_json_schema()` and
a snapshot test compares it with `caseline.incident.v1.schema.json`, so every change is deliberate.
Required fields are exactly the contract's; anything added has a default (consumers ignore unknown
fields, so additions never break them). `evidence[]` entries come from `Evidence.summary()` and their
model is derived from `Evidence`'s own field declarations, not typed a second time.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from caseline.config.models import Settings
from caseline.evidence import ActorRole, Evidence, Person, UtcDatetime
from caseline.incident import Reason, Severity, Status
from caseline.store import Store
from caseline.timeline.assemble import Assembly, EntryType, MilestoneKind, assemble

__all__ = [
    "SCHEMA_ID",
    "AccountEntry",
    "AlsoLink",
    "ExportEvidence",
    "GapEntry",
    "IncidentExport",
    "Metrics",
    "MilestoneEntry",
    "TimelineEntry",
    "WhyEntry",
    "build_export",
    "export_from_assembly",
    "export_schema",
    "redact_export",
]

SCHEMA_ID = "caseline.incident.v1"

# The contract's evidence[] fields; the rest of `Evidence.summary()` is extra (optional in the schema).
_CONTRACT_EVIDENCE = ("id", "source", "kind", "url", "title", "account", "author", "created_at")


def _evidence_model() -> type[BaseModel]:
    """A model with `Evidence.summary()`'s keys, each typed as `Evidence` declares it."""
    probe = Evidence.model_validate({"id": "x:y:z", "created_at": 0}).summary()
    fields: dict[str, Any] = {}
    for name in probe:
        info = Evidence.model_fields[name]
        annotation: Any = info.annotation
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]
        if name in _CONTRACT_EVIDENCE:
            fields[name] = (annotation, Field(..., description=info.description))
        elif info.is_required():
            fields[name] = (annotation | None, Field(default=None, description=info.description))
        else:
            default = info.get_default(call_default_factory=True)
            fields[name] = (annotation, Field(default=default, description=info.description))
    model: type[BaseModel] = create_model(
        "ExportEvidence", __doc__="One item of the incident (from `Evidence.summary()`).", **fields
    )
    return model


if TYPE_CHECKING:
    ExportEvidence = BaseModel
else:
    ExportEvidence = _evidence_model()


class AlsoLink(BaseModel):
    """Another place the same words appeared, folded into this entry by deduplication."""

    source: str
    evidence_id: str
    url: str | None


class TimelineEntry(BaseModel):
    at: UtcDatetime
    source: str
    evidence_id: str
    type: EntryType
    actor: Person | None
    text: str
    url: str | None = Field(description="the original item: the activity's link, else the evidence's")
    actor_role: ActorRole | None = None
    also: list[AlsoLink] = Field(default_factory=list, description="the same words elsewhere (deduplicated)")


class Metrics(BaseModel):
    reports: int
    accounts_affected: int = Field(
        description="distinct account keys, plus distinct reporter emails of reports with no account"
    )
    arr_affected: float | None = Field(description="sum of the known ARR of affected accounts")
    time_to_detect_s: float | None
    time_to_escalate_s: float | None
    time_to_resolve_s: float | None


class AccountEntry(BaseModel):
    key: str
    name: str | None
    domain: str | None
    plan: str | None
    arr: float | None
    reports: int


class GapEntry(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: UtcDatetime = Field(alias="from")
    to: UtcDatetime
    minutes: float
    ongoing: bool = Field(default=False, description="still open: `to` is the time of the export")


class WhyEntry(BaseModel):
    evidence_id: str
    reasons: list[Reason]


class MilestoneEntry(BaseModel):
    kind: MilestoneKind
    at: UtcDatetime
    evidence_id: str | None = None
    url: str | None = None


class IncidentExport(BaseModel):
    """`caseline.incident.v1`: one incident, put back together for a postmortem."""

    model_config = ConfigDict(
        populate_by_name=True, title=SCHEMA_ID, json_schema_extra={"$id": SCHEMA_ID}
    )

    schema_: Literal["caseline.incident.v1"] = Field(alias="schema")
    id: str
    title: str
    status: Status
    severity: Severity
    first_seen: UtcDatetime | None
    last_seen: UtcDatetime | None
    detected_at: UtcDatetime | None
    escalated_at: UtcDatetime | None
    resolved_at: UtcDatetime | None
    metrics: Metrics
    accounts: list[AccountEntry]
    evidence: list[ExportEvidence]
    timeline: list[TimelineEntry]
    communication_gaps: list[GapEntry]
    why: list[WhyEntry]
    # additions beyond the contract (optional, ignorable)
    generated_at: UtcDatetime | None = None
    sources: dict[str, int] = Field(default_factory=dict, description="source → evidence count")
    milestones: list[MilestoneEntry] = Field(default_factory=list)
    redacted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def export_schema() -> dict[str, Any]:
    """The JSON Schema `caseline schema` prints (and the checked-in snapshot holds)."""
    schema = IncidentExport.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def build_export(
    store: Store, incident_id: str, settings: Settings, *, now: datetime | None = None, redact: bool = False
) -> IncidentExport:
    """The export of one incident (merges followed); unknown id → `NotFound`."""
    export = export_from_assembly(assemble(store, incident_id, settings, now=now))
    return redact_export(export) if redact else export


def export_from_assembly(assembly: Assembly) -> IncidentExport:
    incident = assembly.incident
    title = incident.title or next((e.title for e in assembly.evidence if e.is_report and e.title), "") or incident.id
    return IncidentExport(
        schema_=SCHEMA_ID,
        id=incident.id,
        title=title,
        status=incident.status,
        severity=incident.severity,
        first_seen=assembly.first_seen,
        last_seen=assembly.last_seen,
        detected_at=assembly.detected_at,
        escalated_at=assembly.escalated_at,
        resolved_at=assembly.resolved_at,
        metrics=Metrics(
            reports=assembly.reports,
            accounts_affected=assembly.accounts_affected,
            arr_affected=assembly.arr_affected,
            time_to_detect_s=assembly.time_to_detect_s,
            time_to_escalate_s=assembly.time_to_escalate_s,
            time_to_resolve_s=assembly.time_to_resolve_s,
        ),
        accounts=[
            AccountEntry(key=a.key, name=a.name, domain=a.domain, plan=a.plan, arr=a.arr, reports=a.reports)
            for a in assembly.accounts
        ],
        evidence=[ExportEvidence.model_validate(e.summary()) for e in assembly.evidence],
        timeline=[
            TimelineEntry(
                at=e.at, source=e.source, evidence_id=e.evidence_id, type=e.type, actor=e.actor, text=e.text,
                url=e.url, actor_role=e.actor_role,
                also=[AlsoLink(source=a.source, evidence_id=a.evidence_id, url=a.url) for a in e.also],
            )
            for e in assembly.entries
        ],
        communication_gaps=[
            GapEntry(from_=g.start, to=g.end, minutes=g.minutes, ongoing=g.ongoing) for g in assembly.gaps
        ],
        why=[WhyEntry(evidence_id=eid, reasons=reasons) for eid, reasons in assembly.why],
        generated_at=assembly.now,
        sources=assembly.sources,
        milestones=[
            MilestoneEntry(kind=m.kind, at=m.at, evidence_id=m.evidence_id, url=m.url) for m in assembly.milestones
        ],
    )


# ---- redaction -----------------------------------------------------------------------------------
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@([\w-]+(?:\.[\w-]+)+)")
# Phone-like runs: an optional +, digits with spaces/dots/dashes/parentheses between them.
_PHONE = re.compile(r"(?<![\w+])(?:\+|\(\+?)?\d[\d\s().-]{5,}\d(?![\w])")
_NOT_PHONE = (
    re.compile(r"^\d{4}-\d{2}-\d{2}"),  # ISO dates
    re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$"),  # IPv4 addresses
    re.compile(r"^\d+(?:\.\d+)?$"),  # plain numbers with a decimal point (amounts, versions)
)
_FREE_TEXT_KEYS = frozenset({"text", "title", "name", "email", "detail", "body"})
_EMAIL_MASK = "[email]"
_PHONE_MASK = "[phone]"


def _mask_phone(match: re.Match[str]) -> str:
    value = match.group(0)
    digits = sum(c.isdigit() for c in value)
    if not 7 <= digits <= 15 or any(p.match(value.strip()) for p in _NOT_PHONE):
        return value
    if not value.startswith(("+", "(")) and not re.search(r"[\s().-]", value) and digits < 10:
        return value  # a bare short number (an order or ticket number), not a phone
    return _PHONE_MASK


def mask_text(text: str, *, phones: bool = True) -> str:
    """Emails become `[email]@domain` (the domain names the account, not the person); phones `[phone]`."""
    if "@" in text:
        text = _EMAIL.sub(lambda m: f"{_EMAIL_MASK}@{m.group(1)}", text)
    if phones and any(c.isdigit() for c in text):
        text = _PHONE.sub(_mask_phone, text)
    return text


def _redact(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, key) for v in value]
    if isinstance(value, str):
        # phones only in free text: ids, times and URLs are digit runs too
        return mask_text(value, phones=key in _FREE_TEXT_KEYS)
    return value


def redact_export(export: IncidentExport) -> IncidentExport:
    """The same export with emails and phone numbers masked everywhere (text, authors, actors)."""
    data = _redact(export.to_dict())
    data["redacted"] = True
    return IncidentExport.model_validate(data)
