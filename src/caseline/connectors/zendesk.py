"""Zendesk Support: tickets from the cursor-based incremental export; comments and audits as activities.

Raw items are envelopes like Zendesk's single-object answers: `{"ticket", "comments", "audits", "users"}` and
`{"organization"}` (sideloaded on the export page: Accounts stored in the same transaction as the tickets).
https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import suppress
from datetime import timedelta
from functools import partial
from typing import Any

from pydantic import SecretStr, ValidationError

from caseline.connectors.auth import EmailToken
from caseline.connectors.base import Connector, Cursors, Page, SourceSettings, first_line, person
from caseline.connectors.http import NotFoundResponse, VendorClient
from caseline.connectors.paging import CursorParam
from caseline.connectors.retry import RateLimitSpec
from caseline.errors import MalformedItem
from caseline.evidence import Account, Activity, ActorRole, Evidence, EvidenceId, Person
from caseline.text import to_plain
from caseline.text.refs import extract_refs
from caseline.timeparse import utc_now

__all__ = ["Zendesk", "ZendeskSettings"]

EXPORT = "/api/v2/incremental/tickets/cursor.json"
# Exports: 10 requests/minute. 429s carry Retry-After; list endpoints send ratelimit-reset (seconds).
LIMITS = RateLimitSpec(remaining="X-Rate-Limit-Remaining", reset="ratelimit-reset", reset_format="delta", floor=1,
                       min_interval={"/api/v2/incremental/": 6.0})  # fmt: skip
# Comments and audits: cursor pagination, page[size] ≤ 100, stop when meta.has_more is false.
CHILD_PAGES = CursorParam("meta.after_cursor", param="page[after]", more="meta.has_more")
CHILDREN: dict[str, dict[str, Any]] = {
    "comments": {"page[size]": 100, "sort_order": "asc", "include": "users"},
    "audits": {"page[size]": 100},
}


class ZendeskSettings(SourceSettings):
    email: str
    token: SecretStr


class Zendesk(Connector[ZendeskSettings]):
    """Zendesk Support tickets → `zendesk:ticket:<id>` evidence; organizations → accounts."""

    name = "zendesk"
    Settings = ZendeskSettings

    def client(self) -> VendorClient:
        auth = EmailToken(self.settings.email, self.settings.token)
        return VendorClient(self.name, self.settings.base_url, auth=auth, limits=LIMITS)

    async def fetch(self, api: VendorClient, cursor: Cursors) -> AsyncIterator[Page]:
        after = (cursor.get("tickets") or {}).get("after_cursor")
        params: dict[str, Any] = {"per_page": 1000, "include": "users,organizations"}
        if after:
            params["cursor"] = after
        else:  # the export refuses a start_time within the last minute
            start = min(self.settings.start_time(), utc_now() - timedelta(minutes=1))
            params["start_time"] = int(start.timestamp())
        pager = CursorParam("after_cursor", param="cursor", stop="end_of_stream", drop=("start_time",))
        async for page in api.paginate(EXPORT, params=params, items="tickets", paginator=pager):
            tickets = await api.gather_each(partial(self._with_children, api, users=_users(page.json)), page.items)
            orgs = [{"organization": o} for o in page.json.get("organizations") or []]
            after = page.json.get("after_cursor") or after
            value = {"after_cursor": after} if after else None
            yield Page("tickets", [*orgs, *tickets], value, final=bool(page.json.get("end_of_stream")))

    async def _with_children(self, api: VendorClient, ticket: Mapping[str, Any], users: list[Any]) -> dict[str, Any]:
        """The ticket with its comments, audits and the people they name (deleted tickets have none)."""
        children: dict[str, list[Any]] = {"comments": [], "audits": []}
        people, tid = list(users), ticket.get("id")
        if tid is not None and ticket.get("status") != "deleted":
            with suppress(NotFoundResponse):  # deleted between the export and this call: keep the ticket
                for kind, params in CHILDREN.items():
                    path = f"/api/v2/tickets/{tid}/{kind}.json"
                    async for page in api.paginate(path, items=kind, paginator=CHILD_PAGES, params=params):
                        children[kind] += page.items
                        people += _users(page.json)
        wanted = {ticket.get(k) for k in ("requester_id", "submitter_id", "assignee_id")}
        wanted |= {c.get("author_id") for kind in children.values() for c in kind}
        slim = {u["id"]: {k: u.get(k) for k in ("id", "name", "email", "role")} for u in people}
        return {"ticket": dict(ticket), **children, "users": [u for i, u in slim.items() if i in wanted]}

    def map(self, raw: Mapping[str, Any]) -> Evidence | Account | None:
        """Pure: an envelope → Evidence (ticket) | Account (organization) | None (user)."""
        if isinstance(raw.get("organization"), Mapping):
            try:  # a field of the wrong type is a bad item (MalformedItem), never another exception
                return _account(raw["organization"])
            except (ValidationError, ValueError, TypeError, AttributeError) as exc:
                org_id = raw["organization"].get("id")
                raise MalformedItem(f"zendesk: organization {org_id}: {first_line(exc)}") from None
        if isinstance(raw.get("user"), Mapping):
            return None  # users only name the people on tickets
        if not isinstance(raw.get("ticket"), Mapping):
            raise MalformedItem(f"zendesk: item with keys {sorted(raw)[:5]} is not a ticket or organization")
        try:
            return self._ticket(raw["ticket"], raw)
        except (ValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise MalformedItem(f"zendesk: ticket {raw['ticket'].get('id')}: {first_line(exc)}") from None

    def _ticket(self, t: Mapping[str, Any], raw: Mapping[str, Any]) -> Evidence:
        if (tid := t.get("id")) is None or not t.get("created_at"):
            raise MalformedItem(f"zendesk: ticket {tid}: missing id or created_at")
        own, url = str(EvidenceId.of("zendesk", "ticket", tid)), f"{self.settings.base}/agent/tickets/{tid}"
        people = _People({u.get("id"): u for u in _users(raw)}, t.get("requester_id"))
        comments = [c for c in raw.get("comments") or [] if isinstance(c, Mapping)]
        description = (t.get("description") or "").strip()
        activities = [*_comments(comments, description, people, url), *_status_changes(raw, people, url)]
        sender = ((t.get("via") or {}).get("source") or {}).get("from") or {}
        org, status = t.get("organization_id"), t.get("status")
        return Evidence(
            id=own, source="zendesk", kind="ticket", native_id=str(tid), url=url, body=description,
            title=(t.get("subject") or t.get("raw_subject") or "").strip(),
            author=people.person(t.get("requester_id")) or person(sender.get("name"), sender.get("address")),
            author_role="customer", account_ref=f"zendesk:organization:{org}" if org is not None else None,
            created_at=t["created_at"], updated_at=t.get("updated_at") or t["created_at"],
            status=status, priority=t.get("priority"), tags=[str(x) for x in t.get("tags") or []],
            links=_links(t, comments, own), deleted=status == "deleted", raw=dict(t),
            activities=sorted(activities, key=lambda a: a.at),
        )  # fmt: skip


class _People:
    """Who is who on one ticket: names and emails from the sideloads; customer, agent or system."""

    def __init__(self, users: Mapping[Any, Mapping[str, Any]], requester: Any) -> None:
        self.users, self.requester = users, requester

    def person(self, user_id: Any) -> Person | None:
        return person(*(self.users.get(user_id, {}).get(k) for k in ("name", "email")))

    def role(self, user_id: Any) -> ActorRole:
        if (user_id is not None and user_id == self.requester) or self.users.get(user_id, {}).get("role") == "end-user":
            return "customer"
        return "system" if user_id in (None, -1) else "agent"


def _comments(comments: list[Mapping[str, Any]], description: str, people: _People, url: str) -> list[Activity]:
    """Public comments and internal notes; the first comment is dropped when it is the description."""
    out = []
    for index, c in enumerate(comments):
        text, author, public = _comment_text(c), c.get("author_id"), bool(c.get("public", True))
        if index == 0 and " ".join(description.split()) in {" ".join(str(x).split()) for x in (text, c.get("body"))}:
            continue  # the description is the first comment
        out.append(Activity(at=c["created_at"], type="comment" if public else "note", text=text, url=url,
                            actor=people.person(author), actor_role=people.role(author),
                            native_id=str(c.get("id")), public=public))  # fmt: skip
    return out


def _status_changes(raw: Mapping[str, Any], people: _People, url: str) -> list[Activity]:
    """`Change` events on the `status` field of the ticket's audits (a trigger's change is `system`)."""
    out = []
    for audit in raw.get("audits") or []:
        for ev in audit.get("events") or []:
            if ev.get("type") != "Change" or ev.get("field_name") != "status":
                continue
            author, old, new = audit.get("author_id"), ev.get("previous_value"), ev.get("value")
            role = "system" if (ev.get("via") or {}).get("channel") == "rule" else people.role(author)
            out.append(Activity(at=audit["created_at"], type="status_change", text=f"status: {old} → {new}",
                                url=url, actor=people.person(author), actor_role=role, from_status=old,
                                to_status=new, native_id=f"{audit.get('id')}:{ev.get('id')}"))  # fmt: skip
    return out


def _users(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [u for u in body.get("users") or [] if isinstance(u, Mapping) and u.get("id") is not None]


def _account(org: Mapping[str, Any]) -> Account | None:
    """An organization with a domain is an account keyed by its first domain; one without is skipped."""
    if org.get("id") is None:
        raise MalformedItem("zendesk: organization without id")
    domains = list(dict.fromkeys(d for d in (str(x).strip().lower() for x in org.get("domain_names") or []) if d))
    if not domains:
        return None
    return Account(
        key=domains[0], name=org.get("name"), domains=domains, external_ids=[f"zendesk:organization:{org['id']}"]
    )


def _comment_text(c: Mapping[str, Any]) -> str:
    html = c.get("html_body") or ""
    return str(c.get("plain_body") or c.get("body") or (to_plain("html", html) if html else "")).strip()


def _links(ticket: Mapping[str, Any], comments: list[Mapping[str, Any]], own: str) -> list[str]:
    """Cross-references in the ticket's text and fields (external_id, custom fields), plus its problem."""
    texts = [ticket.get("subject"), ticket.get("description"), ticket.get("external_id")]
    for field in ticket.get("custom_fields") or []:
        value = field.get("value") if isinstance(field, Mapping) else None
        texts += value if isinstance(value, list) else [value]
    texts += [c.get(k) for c in comments for k in ("body", "html_body")]
    found = [ref for text in texts if isinstance(text, str) and text for ref in extract_refs(text)]
    if ticket.get("problem_id"):
        found.append(str(EvidenceId.of("zendesk", "ticket", ticket["problem_id"])))
    return [ref for ref in dict.fromkeys(found) if ref != own]
