"""Intercom as documented (API 2.x): conversation search, conversation retrieve with parts, contacts, companies.

World collections: `conversations` (each with its `conversation_parts` list object), `contacts`, `companies`.
Settings: `max_parts` (parts returned by retrieve, 500 in the docs), `order_seed` (search result order).
"""

from __future__ import annotations

import copy
import hashlib
import html
import math
import re
from collections.abc import Callable, Mapping
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
    new_request_id,
    url_with,
)

if TYPE_CHECKING:
    from email.message import Message

    from caseline.emulator.world import World

SEARCH_DOC = (
    "https://developers.intercom.com/docs/references/rest-api/api.intercom.io/conversations/searchconversations"
)
RETRIEVE_DOC = (
    "https://developers.intercom.com/docs/references/rest-api/api.intercom.io/conversations/retrieveconversation"
)
RATE_DOC = "https://developers.intercom.com/docs/references/rest-api/errors/rate-limiting"

_TYPES = {"conversations": "conversation", "contacts": "contact", "companies": "company"}
_DEFAULT_AUTHOR = {"type": "admin", "id": "1", "name": "Support", "email": "support@example.com"}


class Intercom(Vendor):
    name = "intercom"
    collections = ("conversations", "contacts", "companies")
    default_settings = {"max_parts": 500, "order_seed": 7}

    def encode_time(self, key: str, when: datetime) -> Any:
        return epoch(when)  # every Intercom timestamp is Unix epoch seconds

    def normalize(self, world: World, collection: str, record: Record) -> None:
        record["id"] = str(record["id"])
        record.setdefault("type", _TYPES[collection])
        record.setdefault("created_at", record.get("updated_at", epoch(world.now)))
        record.setdefault("updated_at", record["created_at"])
        if collection == "conversations":
            parts = record.setdefault("conversation_parts", {})
            parts.setdefault("type", "conversation_part.list")
            parts.setdefault("conversation_parts", [])
            parts["total_count"] = len(parts["conversation_parts"])

    def touch(self, world: World, collection: str, record: Record, when: datetime, before: Record) -> None:
        # Adding a part or changing state bumps updated_at, which is what search filters on (SEARCH_DOC).
        record["updated_at"] = epoch(when)

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
        if collection != "conversations":
            return super().add_comment(world, collection, key, body, public=public, author=author, when=when)
        conversation = world.table(self.name, collection)[key]
        parts = conversation["conversation_parts"]
        existing = [int(p["id"]) for p in _all_parts(world) if str(p.get("id", "")).isdigit()]
        stamp = epoch(when)
        part: Record = {
            "type": "conversation_part",
            "id": str(world.next_id("intercom.parts", max(existing, default=0))),
            "part_type": "comment" if public else "note",
            "body": f"<p>{html.escape(body)}</p>",
            "created_at": stamp,
            "updated_at": stamp,
            "notified_at": stamp,
            "assigned_to": None,
            "author": copy.deepcopy(author) if author is not None else dict(_DEFAULT_AUTHOR),
            "attachments": [],
            "external_id": None,
            "redacted": False,
        }
        parts["conversation_parts"].append(part)
        parts["total_count"] = len(parts["conversation_parts"])
        self.touch(world, collection, conversation, when, conversation)
        return part

    def authenticate(self, headers: Message, credentials: Mapping[str, str]) -> bool:
        return (headers.get("Authorization") or "") == f"Bearer {credentials.get('token')}"

    def unauthorized(self) -> Response:
        return _errors(401, "unauthorized", "Access Token Invalid").response

    # RATE_DOC: 429 with X-RateLimit-Limit/Remaining/Reset (epoch seconds); no Retry-After.
    def rate_limited(self, state: RateState) -> Response:
        response = _errors(
            429, "rate_limit_exceeded", "You have exceeded the rate limit. Please try again later."
        ).response
        response.headers.update(self._limit_headers(state))
        return response

    def rate_headers(self, state: RateState, route: Route) -> dict[str, str]:
        return self._limit_headers(state)

    def _limit_headers(self, state: RateState) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(state.limit),
            "X-RateLimit-Remaining": str(state.remaining),
            "X-RateLimit-Reset": str(state.reset_at),
        }

    def not_found(self, method: str, path: str) -> Response:
        return _errors(404, "not_found", "Resource Not Found").response

    def observe(self, headers: Message) -> list[str]:
        # Without Intercom-Version the app's default version applies; count what clients send.
        return [f"Intercom-Version={headers.get('Intercom-Version') or 'missing'}"]


VENDOR = Intercom()


def _all_parts(world: World) -> list[Record]:
    return [
        p
        for c in world.table("intercom", "conversations").values()
        for p in c["conversation_parts"]["conversation_parts"]
    ]


def _errors(status: int, code: str, message: str) -> HttpError:
    body = {"type": "error.list", "request_id": new_request_id(), "errors": [{"code": code, "message": message}]}
    return HttpError(status, body)


# --- search ------------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _lookup(record: Record, field: str) -> Any:
    value: Any = record
    for part in field.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _equal(actual: Any, expected: Any) -> bool:
    a, b = _number(actual), _number(expected)
    if a is not None and b is not None:
        return a == b
    if actual is None or expected is None:
        return actual is expected
    return str(actual) == str(expected)


def _compare(check: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    def test(actual: Any, expected: Any) -> bool:
        a, b = _number(actual), _number(expected)
        return a is not None and b is not None and check(a, b)

    return test


def _text(check: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def test(actual: Any, expected: Any) -> bool:
        return actual is not None and check(str(actual).lower(), str(expected).lower())

    return test


def _inside(actual: Any, expected: Any) -> bool:
    return isinstance(expected, list) and any(_equal(actual, e) for e in expected)


# SEARCH_DOC operator table: `>` is "greater (or equal) than" and `<` "lower (or equal) than" — both
# inclusive, so a client polling `updated_at > watermark` sees the boundary item again and must dedupe.
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": _equal,
    "!=": lambda a, e: not _equal(a, e),
    "IN": _inside,
    "NIN": lambda a, e: isinstance(e, list) and not _inside(a, e),
    ">": _compare(lambda a, b: a >= b),
    "<": _compare(lambda a, b: a <= b),
    "~": _text(lambda a, b: b in a),
    "!~": _text(lambda a, b: b not in a),
    "^": _text(lambda a, b: a.startswith(b)),
    "$": _text(lambda a, b: a.endswith(b)),
}


def _compile(node: Any, depth: int) -> Callable[[Record], bool]:
    """One query node → predicate; limits from SEARCH_DOC: 2 levels of nesting, 15 filters per group."""
    if not isinstance(node, dict):
        raise _errors(400, "parameter_invalid", "query must be an object")
    operator = node.get("operator")
    if operator in ("AND", "OR"):
        values = node.get("value")
        if not isinstance(values, list) or not values:
            raise _errors(400, "parameter_invalid", f"{operator} needs a non-empty list in value")
        if depth >= 2:
            raise _errors(400, "parameter_invalid", "query nesting is limited to 2 levels")
        if len(values) > 15:
            raise _errors(400, "parameter_invalid", "a query group holds at most 15 filters")
        parts = [_compile(value, depth + 1) for value in values]
        if operator == "AND":
            return lambda record: all(part(record) for part in parts)
        return lambda record: any(part(record) for part in parts)
    field = node.get("field")
    if not isinstance(field, str) or not field:
        raise _errors(400, "parameter_invalid", "each filter needs a field")
    if operator not in _OPERATORS:
        raise _errors(
            400, "parameter_invalid", f"unsupported operator {operator!r} (documented: {' '.join(_OPERATORS)})"
        )
    test = _OPERATORS[str(operator)]
    expected = node.get("value")
    return lambda record: test(_lookup(record, field), expected)


def _order_key(seed: int, conversation_id: str) -> str:
    return hashlib.sha256(f"{seed}:{conversation_id}".encode()).hexdigest()


def _summary(conversation: Record) -> Record:
    return {k: copy.deepcopy(v) for k, v in conversation.items() if k != "conversation_parts"}


@VENDOR.route("POST", "/conversations/search")
def search_conversations(world: World, req: Request) -> Response:
    try:
        body = req.json()
    except ValueError:
        raise _errors(400, "parameter_invalid", "body is not JSON") from None
    if not isinstance(body, dict) or "query" not in body:
        raise _errors(400, "parameter_not_found", "query is required")
    matches_query = _compile(body["query"], 0)
    pagination = body.get("pagination") or {}
    per_page = pagination.get("per_page", 20)
    if not isinstance(per_page, int) or isinstance(per_page, bool) or not 1 <= per_page <= 150:
        raise _errors(400, "parameter_invalid", "per_page must be between 1 and 150")

    # The result order of conversation search is not documented, so the emulator gives none a client
    # could lean on: a fixed pseudo-random order (stable across pages, unrelated to updated_at).
    seed = int(world.settings["intercom"]["order_seed"])
    ordered = world.memo(
        ("intercom", "order", seed),
        lambda: sorted(
            ((_order_key(seed, c["id"]), c) for c in world.table("intercom", "conversations").values()),
            key=lambda pair: pair[0],
        ),
    )
    matches = [(key, c) for key, c in ordered if matches_query(c)]
    start, page_number = 0, 1
    after = pagination.get("starting_after")
    if after:
        cursor = decode_cursor(str(after))
        if cursor is None or not isinstance(cursor.get("k"), str):
            raise _errors(400, "parameter_invalid", "starting_after is invalid")
        start = sum(1 for key, _ in matches if key <= cursor["k"])
        page_number = int(cursor.get("p", 0)) + 1
    chunk = matches[start : start + per_page]
    pages: Record = {
        "type": "pages",
        "page": page_number,
        "per_page": per_page,
        "total_pages": max(1, math.ceil(len(matches) / per_page)),
    }
    if start + per_page < len(matches):
        pages["next"] = {
            "page": page_number + 1,
            "starting_after": encode_cursor({"k": chunk[-1][0], "p": page_number}),
        }
    return Response(
        200,
        {
            "type": "conversation.list",
            "pages": pages,
            "total_count": len(matches),
            "conversations": [_summary(c) for _, c in chunk],
        },
    )


# --- retrieve ----------------------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]+>")


def _plain(value: Any) -> Any:
    return html.unescape(_TAG.sub("", value)) if isinstance(value, str) else value


def _get(world: World, collection: str, record_id: str) -> Record:
    found = world.table("intercom", collection).get(record_id)
    if found is None:
        raise _errors(404, "not_found", "Resource Not Found")
    return copy.deepcopy(found)


@VENDOR.route("GET", "/conversations/{id}")
def retrieve_conversation(world: World, req: Request) -> Response:
    conversation = _get(world, "conversations", req.params["id"])
    parts = conversation["conversation_parts"]
    # RETRIEVE_DOC: at most the 500 most recent parts come back; total_count still counts them all.
    limit = int(world.settings["intercom"]["max_parts"])
    parts["total_count"] = len(parts["conversation_parts"])
    parts["conversation_parts"] = parts["conversation_parts"][-limit:] if limit else []
    if req.arg("display_as") == "plaintext":
        for part in parts["conversation_parts"]:
            part["body"] = _plain(part.get("body"))
        if isinstance(conversation.get("source"), dict):
            conversation["source"]["body"] = _plain(conversation["source"].get("body"))
    return Response(200, conversation)


# https://developers.intercom.com/docs/references/rest-api/api.intercom.io/contacts/showcontact
@VENDOR.route("GET", "/contacts/{id}")
def retrieve_contact(world: World, req: Request) -> Response:
    return Response(200, _get(world, "contacts", req.params["id"]))


# https://developers.intercom.com/docs/references/rest-api/api.intercom.io/companies/retrievecompany
@VENDOR.route("GET", "/companies/{id}")
def retrieve_company(world: World, req: Request) -> Response:
    return Response(200, _get(world, "companies", req.params["id"]))


@VENDOR.route("GET", "/companies")
def list_companies(world: World, req: Request) -> Response:
    """Offset pages (`page`, `per_page`, default 15); `pages.next` is the next page's URL while one exists."""
    try:
        page = max(1, int(req.arg("page") or 1))
        per_page = max(1, min(int(req.arg("per_page") or 15), 60))  # [verify] max per_page
    except ValueError:
        raise _errors(400, "parameter_invalid", "page and per_page must be integers") from None
    companies = sorted(world.table("intercom", "companies").values(), key=lambda c: (c["created_at"], c["id"]))
    start = (page - 1) * per_page
    total_pages = max(1, math.ceil(len(companies) / per_page))
    pages: Record = {"type": "pages", "page": page, "per_page": per_page, "total_pages": total_pages, "next": None}
    if page < total_pages:
        pages["next"] = url_with(req.base_url, "/companies", {"page": page + 1, "per_page": per_page})
    return Response(
        200,
        {
            "type": "list",
            "data": copy.deepcopy(companies[start : start + per_page]),
            "pages": pages,
            "total_count": len(companies),
        },
    )
