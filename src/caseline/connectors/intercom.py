"""Intercom: conversations via search (updated_at), each retrieved with its parts; companies → accounts.

Raw items are envelopes: `{"conversation", "contacts", "deleted"}` and `{"company"}` (stored in the same
transaction as the conversations that name them). The order of search results is not documented, so
pages are stored without a cursor and the watermark (max `updated_at` seen) is written with the last page
of the pass; the next pass starts `LOOKBACK_S` before it (`>` is inclusive; upserts absorb the overlap).
https://developers.intercom.com/docs/references/rest-api/api.intercom.io/conversations/searchconversations
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from functools import partial
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr, ValidationError

from caseline.accounts import domain_of
from caseline.connectors.auth import Bearer
from caseline.connectors.base import Connector, Cursors, Page, SourceSettings, first_line, person
from caseline.connectors.http import NotFoundResponse, VendorClient
from caseline.connectors.paging import CursorParam, dig
from caseline.connectors.retry import RateLimitSpec
from caseline.errors import MalformedItem
from caseline.evidence import Account, Activity, ActivityType, ActorRole, Evidence, EvidenceId
from caseline.text import to_plain
from caseline.text.refs import extract_refs
from caseline.timeparse import utc_now

__all__ = ["Intercom", "IntercomSettings"]

VERSION = "2.11"  # pinned: without it the app's default version decides field shapes (priority, company)
SEARCH, PER_PAGE, LOOKBACK_S = "/conversations/search", 150, 300
# Every response carries X-RateLimit-Remaining/Reset (epoch s); a 429 has no Retry-After: wait for the reset.
LIMITS = RateLimitSpec(remaining="X-RateLimit-Remaining", reset="X-RateLimit-Reset", reset_format="epoch", floor=2)
PAGES = CursorParam("pages.next.starting_after", body_path="pagination.starting_after")
CUSTOMER, STATUS = {"user", "lead", "contact"}, {"open": "open", "close": "closed", "snoozed": "snoozed",
                                                 "timer_unsnooze": "open", "unsnooze": "open"}  # fmt: skip
ROLES: dict[str, ActorRole] = {"admin": "agent", "team": "agent", "bot": "bot"}


class IntercomSettings(SourceSettings):
    token: SecretStr
    app_id: str | None = None


class Intercom(Connector[IntercomSettings]):
    """Intercom conversations → `intercom:conversation:<id>` evidence; companies → accounts."""

    name = "intercom"
    Settings = IntercomSettings
    page_size = PER_PAGE

    def client(self) -> VendorClient:
        headers = {"Intercom-Version": VERSION}
        return VendorClient(self.name, self.settings.base_url, auth=Bearer(self.settings.token), headers=headers,
                            limits=LIMITS)  # fmt: skip

    async def fetch(self, api: VendorClient, cursor: Cursors) -> AsyncIterator[Page]:
        held, now = _epoch((cursor.get("conversations") or {}).get("updated_at")), int(utc_now().timestamp())
        since = held - LOOKBACK_S if held is not None else int(self.settings.start_time().timestamp())
        high, stop = held if held is not None else since, now  # stop: never past an item that could not be read
        query = {"query": {"operator": "AND", "value": [{"field": "updated_at", "operator": ">", "value": since}]},
                 "pagination": {"per_page": self.page_size}}  # fmt: skip
        people = _People(api)
        async for page in api.paginate(SEARCH, method="POST", json=query, items="conversations", paginator=PAGES):
            found = [c for c in page.items if isinstance(c, Mapping)]
            items = await api.gather_each(partial(_with_parts, api), found)
            companies = await people.load([i["conversation"] for i in items])
            for item in items:
                item["contacts"] = people.contacts_of(item["conversation"])
            stamps = [_epoch(c.get("updated_at")) for c in [*found, *(i["conversation"] for i in items)]]
            high = max([high, *(s for s in stamps if s is not None)])
            for summary, item in zip(found, items, strict=True):
                if not self.readable(item):  # read its window again next pass (its stamp may be corrupt too)
                    stop = min(stop, _epoch(summary.get("updated_at")) or held or since)
            final = not dig(page.json, "pages.next.starting_after")  # signpost: never past the pass start
            yield Page("conversations", [*companies, *items], {"updated_at": min(high, stop)} if final else None, final)

    def map(self, raw: Mapping[str, Any]) -> Evidence | Account | None:
        """Pure: an envelope → Evidence (conversation, maybe a tombstone) | Account (company with a website)."""
        if isinstance(raw.get("company"), Mapping):
            try:  # a field of the wrong type is a bad item (MalformedItem), never another exception
                return _account(raw["company"])
            except (ValidationError, ValueError, TypeError, AttributeError) as exc:
                raise MalformedItem(f"intercom: company {raw['company'].get('id')}: {first_line(exc)}") from None
        conversation = raw.get("conversation")
        if not isinstance(conversation, Mapping):
            raise MalformedItem(f"intercom: item with keys {sorted(raw)[:5]} is not a conversation or company")
        try:
            return self._conversation(conversation, raw)
        except (ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise MalformedItem(f"intercom: conversation {conversation.get('id')}: {first_line(exc)}") from None

    def _conversation(self, c: Mapping[str, Any], raw: Mapping[str, Any]) -> Evidence:
        if not (cid := c.get("id")) or not c.get("created_at"):
            raise MalformedItem(f"intercom: conversation {cid}: missing id or created_at")
        own, app = str(EvidenceId.of("intercom", "conversation", cid)), self.settings.app_id
        url = f"https://app.intercom.com/a/inbox/{app}/inbox/conversation/{cid}" if app else None
        contacts = {str(p["id"]): p for p in raw.get("contacts") or [] if isinstance(p, Mapping) and p.get("id")}
        source = c.get("source") or {}
        body, sender = _text(source.get("body")), source.get("author") or {}
        if sender.get("type") in CUSTOMER or not contacts:
            author, role = _actor(sender, contacts)
        else:  # started by a teammate (outbound): the customer is the first contact
            author, role = person(*(next(iter(contacts.values())).get(k) for k in ("name", "email"))), "customer"
        company = dig(c, "company.id") or next((i for p in contacts.values() for i in p.get("companies") or []), None)
        parts = [p for p in dig(c, "conversation_parts.conversation_parts") or [] if isinstance(p, Mapping)]
        title = (c.get("title") or _text(source.get("subject")) or body.partition("\n")[0]).strip()
        priority = c.get("priority") if c.get("priority") not in (None, "none", "not_priority") else None
        kept = {k: v for k, v in c.items() if k != "conversation_parts"}  # parts live on as activities
        return Evidence(
            id=own, source="intercom", kind="conversation", native_id=str(cid), url=url, title=title[:300], body=body,
            author=author, author_role=role, account_ref=f"intercom:company:{company}" if company else None,
            created_at=c["created_at"], updated_at=c.get("updated_at") or c["created_at"], status=c.get("state"),
            priority=priority, tags=[str(t.get("name")) for t in (c.get("tags") or {}).get("tags") or []],
            links=_links(c, parts, own), deleted=bool(raw.get("deleted")), raw=kept,
            activities=_activities(parts, contacts, url),
        )  # fmt: skip


async def _with_parts(api: VendorClient, summary: Mapping[str, Any]) -> dict[str, Any]:
    """The conversation with its parts; a 404 means it was deleted since the search: a tombstone."""
    if not (cid := summary.get("id")) or not isinstance(cid, str | int):
        return {"conversation": dict(summary)}  # map quarantines it
    try:
        full = await api.get_json(f"/conversations/{quote(str(cid), safe='')}")
    except NotFoundResponse:
        return {"conversation": dict(summary), "deleted": True}
    return {"conversation": full if isinstance(full, Mapping) else dict(summary)}


class _People:
    """Contacts (for emails and companies) and companies (accounts), each fetched once per run."""

    def __init__(self, api: VendorClient) -> None:
        self.api = api
        self.contacts: dict[str, Any] = {}
        self.companies: dict[str, Any] = {}

    async def _get(self, kind: str, ident: str) -> Any:
        try:
            found = await self.api.get_json(f"/{kind}/{quote(ident, safe='')}")
        except NotFoundResponse:
            return None
        return found if isinstance(found, Mapping) else None

    async def _fill(self, cache: dict[str, Any], kind: str, ids: Iterable[str]) -> list[Any]:
        new = [i for i in dict.fromkeys(ids) if i not in cache]
        cache.update(zip(new, await self.api.gather_each(partial(self._get, kind), new), strict=True))
        return [cache[i] for i in new if cache[i] is not None]

    async def load(self, conversations: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Fetch the contacts these conversations name, then their companies; the new companies as items."""
        await self._fill(self.contacts, "contacts", (i for c in conversations for i in _contact_ids(c)))
        ids = [str(x) for c in conversations if (x := dig(c, "company.id"))]
        ids += [i for c in conversations for p in self.contacts_of(c) for i in p["companies"]]
        return [{"company": dict(company)} for company in await self._fill(self.companies, "companies", ids)]

    def contacts_of(self, conversation: Mapping[str, Any]) -> list[dict[str, Any]]:
        found = [self.contacts.get(i) for i in _contact_ids(conversation)]
        listed = [(p, dig(p, "companies.data") or dig(p, "companies.companies") or []) for p in found if p]
        return [{"id": str(p.get("id")), "name": p.get("name"), "email": p.get("email"), "role": p.get("role"),
                 "companies": [str(x["id"]) for x in held if isinstance(x, Mapping) and x.get("id")]}
                for p, held in listed]  # fmt: skip


def _contact_ids(c: Mapping[str, Any]) -> list[str]:
    listed = dig(c, "contacts.contacts")
    ids = [p.get("id") for p in listed if isinstance(p, Mapping)] if isinstance(listed, list) else []
    sender = dig(c, "source.author")
    ids.append(sender.get("id") if isinstance(sender, Mapping) and sender.get("type") in CUSTOMER else None)
    return [str(i) for i in ids if isinstance(i, str | int) and i != ""]


def _epoch(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _text(html: Any) -> str:
    return to_plain("html", html).strip() if isinstance(html, str) else ""


def _actor(author: Mapping[str, Any], contacts: Mapping[str, Mapping[str, Any]]) -> tuple[Any, ActorRole]:
    kind, known = author.get("type"), contacts.get(str(author.get("id")), {})
    found = person(author.get("name") or known.get("name"), author.get("email") or known.get("email"))
    return found, "customer" if kind in CUSTOMER else ROLES.get(str(kind), "system")


def _activities(parts: list[Mapping[str, Any]], contacts: Mapping[str, Any], url: str | None) -> list[Activity]:
    """Comments by customers are messages, by teammates public replies; notes; open/close/snooze changes."""
    out, state = [], None
    for p in parts:
        kind, text = p.get("part_type"), "[redacted]" if p.get("redacted") else _text(p.get("body"))
        actor, role = _actor(p.get("author") or {}, contacts)
        extra: dict[str, Any] = {}
        if kind == "comment":
            what: ActivityType = "message" if role == "customer" else "comment"
            extra["public"] = True
        elif kind == "note":
            what, extra["public"] = "note", False
        elif kind in STATUS:
            what, extra = "status_change", {"from_status": state, "to_status": STATUS[kind]}
            text, state = text or f"state: {state or '?'} → {STATUS[kind]}", STATUS[kind]
        elif kind in ("assignment", "assign_and_reopen", "default_assignment"):
            what = "assignment"
        elif text:
            what = "other"
        else:
            continue  # a system part with nothing to show
        if p.get("id") in (None, "") or _epoch(p.get("created_at")) is None:
            raise MalformedItem(f"intercom: part {p.get('id')}: missing id or created_at")
        out.append(Activity(at=p["created_at"], type=what, text=text, url=url, actor=actor, actor_role=role,
                            native_id=str(p["id"]), **extra))  # fmt: skip
    return sorted(out, key=lambda a: a.at)


def _links(c: Mapping[str, Any], parts: list[Mapping[str, Any]], own: str) -> list[str]:
    """References in bodies, app-written attributes (a Jira key), the source URL and linked objects."""
    texts = [dig(c, "source.body"), dig(c, "source.subject"), dig(c, "source.url"), c.get("title")]
    texts += [v for v in (c.get("custom_attributes") or {}).values() if isinstance(v, str)]
    texts += [x for p in parts for x in (p.get("body"), dig(p, "event_details.value.name"))]
    found = [ref for text in texts if isinstance(text, str) and text for ref in extract_refs(text)]
    for obj in dig(c, "linked_objects.data") or []:
        if isinstance(obj, Mapping) and obj.get("id") and obj.get("type") in ("conversation", "ticket"):
            found.append(str(EvidenceId.of("intercom", "conversation", obj["id"])))
    return [ref for ref in dict.fromkeys(found) if ref != own]


def _account(company: Mapping[str, Any]) -> Account | None:
    """A company with a website is an account keyed by its domain; one without is skipped."""
    if not company.get("id"):
        raise MalformedItem("intercom: company without id")
    if (domain := domain_of(company.get("website"))) is None:
        return None
    return Account(key=domain, name=company.get("name"), domains=[domain],
                   external_ids=[f"intercom:company:{company['id']}"])  # fmt: skip
