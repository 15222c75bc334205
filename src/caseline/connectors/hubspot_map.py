"""HubSpot records → models (pure): tickets and notes → Evidence, companies → Account, contacts → None.

Envelopes: `{"company": rec}`, `{"contact": rec}`, `{"ticket": rec, "companies", "contacts"}` and
`{"note": rec, "companies", "contacts", "tickets"}`, where the lists hold associated ids (contacts as
`{id, email, name, company}`). An archived record is a tombstone (`deleted=True`).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from typing import Any, Protocol

from pydantic import ValidationError

from caseline.accounts import domain_of
from caseline.connectors.base import first_line, person
from caseline.errors import MalformedItem
from caseline.evidence import Account, Evidence, EvidenceId
from caseline.text import to_plain
from caseline.text.refs import extract_refs
from caseline.timeparse import to_utc

__all__ = ["KEYS", "map_record", "millis"]

KEYS = {"companies": "company", "contacts": "contact", "tickets": "ticket", "notes": "note"}


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
        status=p.get("hs_pipeline_stage") or None, priority=str(p.get("hs_ticket_priority") or "").lower() or None,
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
    return Evidence(
        id=own, source="hubspot", kind="note", native_id=nid, title=body.partition("\n")[0][:300], body=body,
        author_role="agent", account_ref=_account_ref(raw), created_at=created, updated_at=updated,
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
