"""HubSpot records → models (pure): tickets and notes → Evidence, companies → Account, contacts → None.

Envelopes: `{"company": rec}`, `{"contact": rec}`, `{"ticket": rec, "companies", "contacts", "stage"}` and
`{"note": rec, "companies", "contacts", "tickets", "owner"}`, where the lists hold associated ids (contacts as
`{id, email, name, company}`), `stage` is the ticket's pipeline stage `{label, closed}` and `owner` the note's
owner `{name, email}` (both looked up by the connector; absent when unknown). An archived record is a
tombstone (`deleted=True`). Also the connector's pure helpers: times as epoch ms and back, the search body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from caseline.accounts import domain_of
from caseline.connectors.base import first_line, person
from caseline.errors import MalformedItem
from caseline.evidence import Account, Evidence, EvidenceId
from caseline.text import to_plain
from caseline.text.refs import extract_refs
from caseline.timeparse import UTC, format_utc, to_utc

__all__ = [
    "KEYS",
    "contact_person",
    "iso_millis",
    "map_record",
    "millis",
    "owner_person",
    "search_body",
    "stage_table",
]

KEYS = {"companies": "company", "contacts": "contact", "tickets": "ticket", "notes": "note"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CLOSED_WORD = re.compile(r"^\s*closed\b", re.IGNORECASE)


class _Settings(Protocol):
    @property
    def plan_property(self) -> str | None: ...
    @property
    def arr_property(self) -> str: ...
    @property
    def portal_id(self) -> str | None: ...


def millis(value: Any) -> int | None:
    """A HubSpot time (ISO string, epoch-ms string or number) as epoch milliseconds; None if unreadable."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return round(to_utc(value).timestamp() * 1000)
    except (ValueError, TypeError, OverflowError):
        return None


def iso_millis(ms: int) -> str:
    """Epoch milliseconds → the ISO text cursors hold."""
    return format_utc(EPOCH + timedelta(milliseconds=ms)) or ""


def search_body(prop: str, start: int, by_id: int | None, properties: tuple[str, ...], limit: int) -> dict[str, Any]:
    """Records modified at or after `start`, ascending; or, walking one timestamp, those after id `by_id`."""
    if by_id is None:
        filters, sort = [{"propertyName": prop, "operator": "GTE", "value": str(start)}], prop
    else:
        filters = [{"propertyName": prop, "operator": "EQ", "value": str(start)},
                   {"propertyName": "hs_object_id", "operator": "GT", "value": str(by_id)}]  # fmt: skip
        sort = "hs_object_id"
    return {"filterGroups": [{"filters": filters}], "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
            "properties": list(properties), "limit": limit}  # fmt: skip


def stage_table(body: Any) -> dict[str, dict[str, Any]]:
    """`GET /crm/v3/pipelines/tickets` → `{stage id: {"label", "closed"}}` over every pipeline.

    A stage is closed when its metadata says so: `isClosed: "true"`, or `ticketState: "CLOSED"`."""
    table: dict[str, dict[str, Any]] = {}
    pipelines = body.get("results") if isinstance(body, Mapping) else None
    for pipeline in pipelines if isinstance(pipelines, list) else []:
        stages = pipeline.get("stages") if isinstance(pipeline, Mapping) else None
        for stage in stages if isinstance(stages, list) else []:
            if not isinstance(stage, Mapping) or stage.get("id") in (None, ""):
                continue
            meta: Mapping[str, Any] = stage["metadata"] if isinstance(stage.get("metadata"), Mapping) else {}
            closed = str(meta.get("isClosed")).lower() == "true" or str(meta.get("ticketState")).upper() == "CLOSED"
            label = " ".join(str(stage.get("label") or "").split()) or str(stage["id"])
            table[str(stage["id"])] = {"label": label, "closed": closed}
    return table


def owner_person(owner: Any) -> dict[str, Any] | None:
    """`GET /crm/v3/owners/{id}` → `{name, email}`; None when it names nobody."""
    if not isinstance(owner, Mapping):
        return None
    name = " ".join(str(owner[k]).strip() for k in ("firstName", "lastName") if owner.get(k)) or None
    return {"name": name, "email": owner.get("email") or None} if name or owner.get("email") else None


def contact_person(contact: Mapping[str, Any]) -> dict[str, Any]:
    """A contact search result → `{id, email, name, company}` (what ticket and note envelopes carry)."""
    p = contact.get("properties") or {}
    name = " ".join(str(p[k]).strip() for k in ("firstname", "lastname") if p.get(k)) or None
    company = p.get("associatedcompanyid")
    return {"id": str(contact.get("id")), "email": p.get("email"), "name": name, "company": company}


def map_record(raw: Mapping[str, Any], settings: _Settings) -> Evidence | Account | None:
    kind = next((k for k in ("ticket", "note", "company", "contact") if isinstance(raw.get(k), Mapping)), None)
    if kind is None:
        raise MalformedItem(f"hubspot: item with keys {sorted(raw)[:5]} is not a ticket, note, company or contact")
    record = raw[kind]
    if kind == "contact":
        return None  # contacts only name the people on tickets
    try:
        if not isinstance(record.get("properties"), Mapping) or record.get("id") in (None, ""):
            raise MalformedItem(f"hubspot: {kind} {record.get('id')}: missing id or properties")
        if kind == "company":
            return _account(record, settings)
        return _ticket(record, raw, settings) if kind == "ticket" else _note(record, raw)
    except (ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise MalformedItem(f"hubspot: {kind} {record.get('id')}: {first_line(exc)}") from None


def _text(value: Any) -> str:
    """Ticket content and note bodies mix HTML and plain text."""
    if not isinstance(value, str):
        return ""
    return to_plain("html" if "<" in value and ">" in value else "plain", value).strip()


def _times(record: Mapping[str, Any], created: Any) -> tuple[Any, Any]:
    """created_at and updated_at; an archived record's deletion counts as its last change."""
    p = record["properties"]
    if not created:
        raise MalformedItem(f"hubspot: record {record.get('id')}: no creation time")
    stamps = [p.get("hs_lastmodifieddate"), record.get("updatedAt"), record.get("archivedAt")]
    known = [to_utc(s) for s in stamps if s and millis(s) is not None]
    return created, max(known) if known else created


def _account_ref(raw: Mapping[str, Any]) -> str | None:
    """The associated company, else the employer of the first associated contact."""
    companies = [str(c) for c in raw.get("companies") or []]
    employer = next((str(c["company"]) for c in raw.get("contacts") or [] if c.get("company")), None)
    company = companies[0] if companies else employer
    return f"hubspot:company:{company}" if company else None


def _refs(texts: list[Any], own: str, linked: tuple[str, ...] = ()) -> list[str]:
    found = [*linked, *(ref for text in texts if isinstance(text, str) and text for ref in extract_refs(text))]
    return [ref for ref in dict.fromkeys(found) if ref != own]


def _status(stage_id: Any, stage: Any) -> str | None:
    """The stage's label (its id while the label is unknown). A closed stage reads as closed — "Closed", or
    "Closed: <label>" when the label does not start with the word — which is how the timeline (any status
    starting with solved/closed/done/completed/resolved) tells a solved ticket from an open one."""
    if not isinstance(stage, Mapping) or not stage.get("label"):
        return str(stage_id) if stage_id not in (None, "") else None
    label = str(stage["label"])
    return f"Closed: {label}" if stage.get("closed") and not _CLOSED_WORD.match(label) else label


def _ticket(record: Mapping[str, Any], raw: Mapping[str, Any], settings: _Settings) -> Evidence:
    p, tid = record["properties"], str(record["id"])
    own = str(EvidenceId.of("hubspot", "ticket", tid))
    contact: Mapping[str, Any] = next(iter(raw.get("contacts") or []), {})
    body = _text(p.get("content"))
    created, updated = _times(record, p.get("createdate") or record.get("createdAt"))
    portal = settings.portal_id
    return Evidence(
        id=own, source="hubspot", kind="ticket", native_id=tid, body=body,
        url=f"https://app.hubspot.com/contacts/{portal}/record/0-5/{tid}" if portal else None,
        title=str(p.get("subject") or body.partition("\n")[0]).strip()[:300],
        author=person(contact.get("name"), contact.get("email")), author_role="customer",
        account_ref=_account_ref(raw), created_at=created, updated_at=updated,
        status=_status(p.get("hs_pipeline_stage"), raw.get("stage")),
        priority=str(p.get("hs_ticket_priority") or "").lower() or None,
        tags=[str(p["hs_ticket_category"])] if p.get("hs_ticket_category") else [],
        links=_refs([p.get("subject"), p.get("content")], own), deleted=bool(record.get("archived")), raw=dict(record),
    )  # fmt: skip


def _note(record: Mapping[str, Any], raw: Mapping[str, Any]) -> Evidence:
    """Call and CSM notes: context evidence, linked to the tickets they are associated with."""
    p, nid = record["properties"], str(record["id"])
    own = str(EvidenceId.of("hubspot", "note", nid))
    body = _text(p.get("hs_note_body"))
    created, updated = _times(record, p.get("hs_timestamp") or p.get("createdate") or record.get("createdAt"))
    tickets = tuple(str(EvidenceId.of("hubspot", "ticket", t)) for t in raw.get("tickets") or [])
    owner: Mapping[str, Any] = raw["owner"] if isinstance(raw.get("owner"), Mapping) else {}
    return Evidence(
        id=own, source="hubspot", kind="note", native_id=nid, title=body.partition("\n")[0][:300], body=body,
        author=person(owner.get("name"), owner.get("email")), author_role="agent", account_ref=_account_ref(raw),
        created_at=created, updated_at=updated,
        links=_refs([p.get("hs_note_body")], own, tickets), deleted=bool(record.get("archived")), raw=dict(record),
    )  # fmt: skip


def _account(record: Mapping[str, Any], settings: _Settings) -> Account | None:
    """A company with a domain is an account keyed by it; plan and ARR come from the configured properties."""
    p = record["properties"]
    extra = str(p.get("hs_additional_domains") or "").split(";")
    domains = list(dict.fromkeys(d for d in (domain_of(x) for x in [p.get("domain"), *extra]) if d))
    if not domains:
        return None
    arr = None
    with suppress(TypeError, ValueError):
        arr = float(p[settings.arr_property]) if p.get(settings.arr_property) not in (None, "") else None
    plan = p.get(settings.plan_property) if settings.plan_property else None
    return Account(key=domains[0], name=p.get("name") or None, domains=domains, plan=str(plan) if plan else None,
                   arr=arr, external_ids=[f"hubspot:company:{record['id']}"])  # fmt: skip
