"""Zendesk Support as documented: cursor-based incremental exports, comments, audits, organizations, users.

World collections: `tickets` (each carrying its `comments` and `audits` lists), `users`, `organizations`.
Settings: `subdomain` (for record `url`s), `exclude_recent_seconds` (the export's "last minute" quirk; 0 = off).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import copy
import html
import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from caseline.emulator.vendors._base import (
    HttpError,
    RateState,
    Record,
    Request,
    Response,
    Route,
    Vendor,
    decode_cursor,
    encode_cursor,
    epoch,
    iso_seconds,
    parse_time,
    url_with,
)

if TYPE_CHECKING:
    from email.message import Message

    from caseline.emulator.world import World

EXPORT_DOC = "https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/"
PAGINATION_DOC = "https://developer.zendesk.com/api-reference/introduction/pagination/"

_AUDITED_FIELDS = ("status", "priority", "type", "assignee_id", "group_id", "subject")


class Zendesk(Vendor):
    name = "zendesk"
    collections = ("tickets", "users", "organizations")
    default_settings = {"subdomain": "example", "exclude_recent_seconds": 0}

    def encode_time(self, key: str, when: datetime) -> Any:
        # generated_timestamp and event timestamps are epoch seconds, everything else ISO 'Z' seconds.
        return epoch(when) if key.endswith("timestamp") else iso_seconds(when)

    def record_id(self, collection: str, record: Record) -> str:
        return str(int(super().record_id(collection, record)))

    def normalize(self, world: World, collection: str, record: Record) -> None:
        record["id"] = int(record["id"])
        now = iso_seconds(world.now)
        record.setdefault("created_at", record.get("updated_at") or now)
        record.setdefault("updated_at", record["created_at"])
        subdomain = world.settings[self.name]["subdomain"]
        record.setdefault("url", f"https://{subdomain}.zendesk.com/api/v2/{collection}/{record['id']}.json")
        if collection == "tickets":
            record.setdefault("status", "new")
            if record.get("comments"):
                record.setdefault("description", record["comments"][0].get("body"))
            record.setdefault("generated_timestamp", epoch(parse_time(record["updated_at"])))
            for name in ("comments", "audits"):
                record.setdefault(name, [])
            for comment in record["comments"]:
                comment.setdefault("type", "Comment")
                comment.setdefault("public", True)
                comment.setdefault("attachments", [])
                comment.setdefault("created_at", record["created_at"])
            for audit in record["audits"]:
                audit.setdefault("ticket_id", record["id"])
        if collection == "users":
            record.setdefault("active", True)

    def touch(self, world: World, collection: str, record: Record, when: datetime, before: Record) -> None:
        record["updated_at"] = iso_seconds(when)
        if collection != "tickets":
            return
        # Any audit bumps updated_at and generated_timestamp, which is what the export filters on.
        record["generated_timestamp"] = epoch(when)
        events = [
            {
                "id": _next_id(world, "audit_events"),
                "type": "Change",
                "field_name": name,
                "value": record.get(name),
                "previous_value": before.get(name),
            }
            for name in _AUDITED_FIELDS
            if record.get(name) != before.get(name)
        ]
        if events:
            record["audits"].append(_audit(world, record, when, record.get("assignee_id"), events))

    def delete(self, world: World, collection: str, key: str, when: datetime) -> None:
        table = world.table(self.name, collection)
        if collection == "organizations":
            table.pop(key)
            return
        record = table[key]
        before = copy.deepcopy(record)
        if collection == "tickets":
            # Deleted tickets stay in the export as tombstones unless exclude_deleted=true (EXPORT_DOC).
            record["status"] = "deleted"
        else:
            record["active"] = False
        self.touch(world, collection, record, when, before)

    def add_comment(
        self,
        world: World,
        collection: str,
        key: str,
        body: str,
        *,
        public: bool,
        author: Any,
        when: datetime,
    ) -> Record:
        if collection != "tickets":
            return super().add_comment(world, collection, key, body, public=public, author=author, when=when)
        ticket = world.table(self.name, collection)[key]
        author_id = author if author is not None else ticket.get("assignee_id") or ticket.get("requester_id")
        comment: Record = {
            "id": _next_id(world, "comments"),
            "type": "Comment",
            "author_id": author_id,
            "body": body,
            "html_body": f'<div class="zd-comment"><p>{html.escape(body)}</p></div>',
            "plain_body": body,
            "public": public,
            "attachments": [],
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": iso_seconds(when),
        }
        before = copy.deepcopy(ticket)
        ticket["comments"].append(comment)
        event = {k: comment[k] for k in ("id", "type", "author_id", "body", "html_body", "plain_body", "public")}
        event["attachments"] = []
        ticket["audits"].append(_audit(world, ticket, when, author_id, [event]))
        comment["audit_id"] = ticket["audits"][-1]["id"]
        self.touch(world, collection, ticket, when, before)
        return comment

    # https://developer.zendesk.com/api-reference/introduction/security-and-auth/
    def authenticate(self, headers: Message, credentials: Mapping[str, str]) -> bool:
        header = headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return bool(credentials.get("oauth_token")) and value == credentials.get("oauth_token")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == f"{credentials.get('email')}/token:{credentials.get('token')}"

    def unauthorized(self) -> Response:
        return Response(401, {"error": "Couldn't authenticate you"}, {"WWW-Authenticate": 'Basic realm="Web Password"'})

    # https://developer.zendesk.com/api-reference/introduction/rate-limits/ : 429 + Retry-After (seconds).
    def rate_limited(self, state: RateState) -> Response:
        body = {"error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded"}
        return Response(429, body, {"Retry-After": str(state.retry_after), **self._limit_headers(state)})

    def rate_headers(self, state: RateState, route: Route) -> dict[str, str]:
        return self._limit_headers(state)

    def _limit_headers(self, state: RateState) -> dict[str, str]:
        return {
            "X-Rate-Limit": str(state.limit),
            "X-Rate-Limit-Remaining": str(state.remaining),
            "ratelimit-limit": str(state.limit),
            "ratelimit-remaining": str(state.remaining),
            "ratelimit-reset": str(state.retry_after),
        }

    def not_found(self, method: str, path: str) -> Response:
        return Response(404, {"error": "InvalidEndpoint", "description": "Not found"})


VENDOR = Zendesk()


def _next_id(world: World, kind: str) -> int:
    """A fresh id for comments/audits/audit events, above every id of that kind in the world."""
    tickets = world.table("zendesk", "tickets").values()
    if kind == "comments":
        ids = [c.get("id") for t in tickets for c in t["comments"]]
    elif kind == "audits":
        ids = [a.get("id") for t in tickets for a in t["audits"]]
    else:
        ids = [e.get("id") for t in tickets for a in t["audits"] for e in a.get("events", [])]
    return world.next_id(f"zendesk.{kind}", max((i for i in ids if isinstance(i, int)), default=0))


def _audit(world: World, ticket: Record, when: datetime, author_id: Any, events: list[Record]) -> Record:
    return {
        "id": _next_id(world, "audits"),
        "ticket_id": ticket["id"],
        "created_at": iso_seconds(when),
        "author_id": author_id,
        "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
        "metadata": {"system": {}, "custom": {}},
        "events": events,
    }


def _error(status: int, error: str, description: str) -> HttpError:
    return HttpError(status, {"error": error, "description": description})


def _int_arg(req: Request, name: str, default: int, maximum: int | None = None) -> int:
    raw = req.arg(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _error(400, "InvalidValue", f"{name} must be an integer") from None
    if value < 0 or (maximum is not None and value > maximum):
        raise _error(400, "InvalidPaginationParameter", f"{name} must be between 0 and {maximum}")
    return value


def _ticket_view(ticket: Record) -> Record:
    return {k: copy.deepcopy(v) for k, v in ticket.items() if k not in ("comments", "audits")}


# --- cursor-based incremental export ---------------------------------------------------------------

_CURSOR = re.compile(r"^(\d+)\.0\|\|(\d+)\|$")


def _export_cursor(position: tuple[int, int]) -> str:
    # Shaped like Zendesk's own ("MTU4MDc1Mzc5OC4wfHw0MzJ8" = "1580753798.0||432|"); opaque to clients.
    return base64.b64encode(f"{position[0]}.0||{position[1]}|".encode()).decode()


def _export_position(cursor: str) -> tuple[int, int]:
    try:
        found = _CURSOR.match(base64.b64decode(cursor, validate=True).decode())
    except (binascii.Error, UnicodeDecodeError):
        found = None
    if not found:
        raise _error(400, "InvalidPaginationParameter", "cursor is invalid")
    return int(found.group(1)), int(found.group(2))


def _marker(collection: str, record: Record) -> tuple[int, int]:
    if collection == "tickets":
        return int(record["generated_timestamp"]), int(record["id"])
    return epoch(parse_time(record["updated_at"])), int(record["id"])


def _sorted(world: World, collection: str) -> tuple[list[Record], list[tuple[int, int]]]:
    def build() -> tuple[list[Record], list[tuple[int, int]]]:
        records = sorted(world.table("zendesk", collection).values(), key=lambda r: _marker(collection, r))
        return records, [_marker(collection, r) for r in records]

    return world.memo(("zendesk", "export", collection), build)


def _cursor_export(world: World, req: Request, collection: str) -> tuple[list[Record], Record]:
    """One page of a cursor-based export, ordered by (change time, id) (EXPORT_DOC)."""
    per_page = max(1, min(_int_arg(req, "per_page", 1000), 1000))  # per_page is capped at 1000
    cursor = req.arg("cursor")
    start_time = req.arg("start_time")
    if cursor:
        position = _export_position(cursor)
    elif start_time is not None:
        position = (_int_arg(req, "start_time", 0), 0)  # (t, 0) < every (t, id): items changed at or after t
    else:
        raise _error(400, "InvalidValue", "start_time or cursor is required")
    exclude_deleted = (req.arg("exclude_deleted") or "").lower() == "true"
    # Optional quirk: items changed during the minute before the request are left for the next call
    # (https://developer.zendesk.com/documentation/ticketing/managing-tickets/using-the-incremental-export-api).
    recent = int(world.settings["zendesk"]["exclude_recent_seconds"])
    bound = epoch(world.now) - recent if recent else None

    records, markers = _sorted(world, collection)
    page: list[Record] = []
    last = position
    more = False
    for index in range(bisect.bisect_right(markers, position), len(records)):
        marker = markers[index]
        if bound is not None and marker[0] > bound:
            break
        record = records[index]
        if exclude_deleted and record.get("status") == "deleted":
            continue
        if len(page) == per_page:
            more = True
            break
        page.append(record)
        last = marker

    after_cursor = _export_cursor(last)
    path = f"/api/v2/incremental/{collection}/cursor.json"
    keep = {
        "per_page": req.arg("per_page"),
        "include": req.arg("include"),
        "exclude_deleted": req.arg("exclude_deleted"),
    }
    envelope: Record = {
        "after_url": url_with(req.base_url, path, {"cursor": after_cursor, **keep}),
        "after_cursor": after_cursor,
        "before_url": None,
        "before_cursor": None,
        "end_of_stream": not more,
    }
    if page:
        envelope["before_cursor"] = _export_cursor(_marker(collection, page[0]))
        envelope["before_url"] = url_with(req.base_url, path, {"cursor": envelope["before_cursor"], **keep})
    return page, envelope


@VENDOR.route("GET", "/api/v2/incremental/tickets/cursor.json")
def ticket_export(world: World, req: Request) -> Response:
    page, envelope = _cursor_export(world, req, "tickets")
    body: Record = {"tickets": [_ticket_view(t) for t in page], **envelope}
    includes = {part.strip() for part in (req.arg("include") or "").split(",") if part.strip()}
    users = world.table("zendesk", "users")
    if "users" in includes or "organizations" in includes:
        user_ids: set[int] = {
            int(t[k]) for t in page for k in ("requester_id", "submitter_id", "assignee_id") if t.get(k) is not None
        }
        if "users" in includes:
            body["users"] = [copy.deepcopy(users[str(i)]) for i in sorted(user_ids) if str(i) in users]
        if "organizations" in includes:
            orgs = world.table("zendesk", "organizations")
            org_ids = {t.get("organization_id") for t in page} | {
                users[str(i)].get("organization_id") for i in user_ids if str(i) in users
            }
            known = sorted(int(i) for i in org_ids if i is not None)
            body["organizations"] = [copy.deepcopy(orgs[str(i)]) for i in known if str(i) in orgs]
    return Response(200, body)


@VENDOR.route("GET", "/api/v2/incremental/users/cursor.json")
def user_export(world: World, req: Request) -> Response:
    page, envelope = _cursor_export(world, req, "users")
    return Response(200, {"users": copy.deepcopy(page), **envelope})


@VENDOR.route("GET", "/api/v2/incremental/organizations.json")
def organization_export(world: World, req: Request) -> Response:
    """Time-based export: `next_page` restarts at `end_time`, so boundary items repeat (EXPORT_DOC)."""
    if req.arg("start_time") is None:
        raise _error(400, "InvalidValue", "start_time is required")
    start = _int_arg(req, "start_time", 0)
    per_page = max(1, min(_int_arg(req, "per_page", 1000), 1000))
    records, markers = _sorted(world, "organizations")
    index = bisect.bisect_left(markers, (start, 0))
    page = records[index : index + per_page]
    end = index + len(page)
    # Items sharing the last timestamp all come on this page, so the next page cannot repeat it forever.
    while page and end < len(records) and markers[end][0] == markers[end - 1][0]:
        page.append(records[end])
        end += 1
    end_time = markers[end - 1][0] if page else start
    if page and markers[index][0] == end_time:
        end_time += 1
    next_page = url_with(
        req.base_url,
        "/api/v2/incremental/organizations.json",
        {"start_time": end_time, "per_page": req.arg("per_page")},
    )
    return Response(
        200,
        {
            "organizations": copy.deepcopy(page),
            "count": len(page),
            "end_time": end_time,
            "next_page": next_page,
            "end_of_stream": end >= len(records),
        },
    )


# --- cursor pagination of ordinary lists ------------------------------------------------------------


def _paged(req: Request, items: list[Record], key: str, path: str) -> Response:
    """Cursor pagination (`page[size]`≤100, `meta.has_more`, `links.next`) or, without it, offset pages.

    PAGINATION_DOC: cursor pagination is chosen by `page[size]`/`page[after]`; otherwise the legacy offset
    style (`page`, `per_page`, `next_page`, `count`) applies.
    """
    if req.arg("page[size]") is None and req.arg("page[after]") is None:
        number = max(1, _int_arg(req, "page", 1))
        per_page = max(1, min(_int_arg(req, "per_page", 100), 100))
        start = (number - 1) * per_page
        chunk = items[start : start + per_page]

        def page_url(n: int) -> str:
            return url_with(req.base_url, path, {"page": n, "per_page": per_page})

        return Response(
            200,
            {
                key: copy.deepcopy(chunk),
                "next_page": page_url(number + 1) if start + per_page < len(items) else None,
                "previous_page": page_url(number - 1) if number > 1 else None,
                "count": len(items),
            },
        )
    size = _int_arg(req, "page[size]", 100, 100)
    if size < 1:
        raise _error(400, "InvalidPaginationParameter", "page[size] must be at least 1")
    start = 0
    after = req.arg("page[after]")
    if after:
        data = decode_cursor(after)
        ids = [item.get("id") for item in items]
        if data is None or data.get("after") not in ids:
            raise _error(400, "InvalidPaginationParameter", "page[after] is invalid")
        start = ids.index(data["after"]) + 1
    chunk = items[start : start + size]
    has_more = start + size < len(items)
    after_cursor = encode_cursor({"after": chunk[-1]["id"]}) if chunk else None
    before_cursor = encode_cursor({"before": chunk[0]["id"]}) if chunk else None
    next_url = url_with(req.base_url, path, {"page[size]": size, "page[after]": after_cursor}) if has_more else None
    return Response(
        200,
        {
            key: copy.deepcopy(chunk),
            "meta": {"has_more": has_more, "after_cursor": after_cursor, "before_cursor": before_cursor},
            "links": {"prev": None, "next": next_url},  # backwards paging is not emulated
        },
    )


def _live_ticket(world: World, ticket_id: str) -> Record:
    ticket = world.table("zendesk", "tickets").get(ticket_id)
    if ticket is None or ticket.get("status") == "deleted":
        raise _error(404, "RecordNotFound", "Not found")
    return ticket


# https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/
@VENDOR.route("GET", "/api/v2/tickets/{id}/comments.json")
def ticket_comments(world: World, req: Request) -> Response:
    ticket = _live_ticket(world, req.params["id"])
    comments = list(ticket["comments"])
    if (req.arg("sort_order") or "asc") == "desc":
        comments.reverse()
    response = _paged(req, comments, "comments", f"/api/v2/tickets/{ticket['id']}/comments.json")
    if "users" in (req.arg("include") or "").split(","):  # documented sideload: the comments' authors
        users = world.table("zendesk", "users")
        authors = sorted({int(c["author_id"]) for c in response.body["comments"] if c.get("author_id") is not None})
        response.body["users"] = [copy.deepcopy(users[str(i)]) for i in authors if str(i) in users]
    return response


# https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_audits/
@VENDOR.route("GET", "/api/v2/tickets/{id}/audits.json")
def ticket_audits(world: World, req: Request) -> Response:
    ticket = _live_ticket(world, req.params["id"])
    return _paged(req, list(ticket["audits"]), "audits", f"/api/v2/tickets/{ticket['id']}/audits.json")


# https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/
@VENDOR.route("GET", "/api/v2/organizations.json")
def organizations(world: World, req: Request) -> Response:
    items = sorted(world.table("zendesk", "organizations").values(), key=lambda r: int(r["id"]))
    return _paged(req, items, "organizations", "/api/v2/organizations.json")


# https://developer.zendesk.com/api-reference/ticketing/users/users/
@VENDOR.route("GET", "/api/v2/users.json")
def users(world: World, req: Request) -> Response:
    items = sorted(world.table("zendesk", "users").values(), key=lambda r: int(r["id"]))
    return _paged(req, items, "users", "/api/v2/users.json")
