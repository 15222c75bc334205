"""What every vendor module of the emulator is made of: routes, requests, responses, time formats, cursors.

A vendor module defines one `Vendor` subclass, instantiates it as the module-level `VENDOR`, and registers
its endpoints with `@VENDOR.route(method, template)`. The same object tells the world how that vendor
writes times, ids and change markers, and tells the server how that vendor says 401 and 429.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from caseline.timeparse import to_utc

if TYPE_CHECKING:
    from email.message import Message

    from caseline.emulator.world import World

__all__ = [
    "HttpError",
    "RateState",
    "Record",
    "Request",
    "Response",
    "Route",
    "Vendor",
    "decode_cursor",
    "encode_cursor",
    "epoch",
    "iso_millis",
    "iso_seconds",
    "new_request_id",
    "parse_time",
    "url_with",
]

Record = dict[str, Any]


class HttpError(Exception):
    """Raised by a handler to answer with an error in the vendor's own shape."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.response = Response(status, body, dict(headers or {}))


@dataclass
class Request:
    """One parsed request, with the path relative to the vendor prefix."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    base_url: str
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> Any:
        """The JSON body; `None` when empty. A body that is not JSON raises ValueError."""
        if not self.body:
            return None
        return json.loads(self.body)


@dataclass
class Response:
    """A response before it is put on the wire (the server may still corrupt a copy of it)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":")).encode()


Handler = Callable[["World", Request], Response]


@dataclass(frozen=True)
class Route:
    """`GET /api/v2/tickets/{id}/comments.json` → handler; `{name}` matches one path segment."""

    method: str
    template: str
    handler: Handler

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compile_template(self.template)


_TEMPLATE_CACHE: dict[str, re.Pattern[str]] = {}


def _compile_template(template: str) -> re.Pattern[str]:
    if template not in _TEMPLATE_CACHE:
        parts = re.split(r"\{(\w+)\}", template)
        regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts))
        _TEMPLATE_CACHE[template] = re.compile(f"^{regex}$")
    return _TEMPLATE_CACHE[template]


@dataclass(frozen=True)
class RateState:
    """Where one vendor's rate-limit window stands after counting (or refusing) a request."""

    allowed: bool
    limit: int
    remaining: int
    window_seconds: float
    reset_at: int  # wall-clock epoch seconds at which the window ends
    retry_after: int  # whole seconds, at least 1
    daily: bool = False


class Vendor:
    """One vendor: its collections and time format (for the world), its routes and error shapes (for HTTP)."""

    name: str = ""
    collections: tuple[str, ...] = ()
    default_settings: Mapping[str, Any] = {}

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, method: str, template: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, template, handler))
            return handler

        return register

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method == method:
                return route, found.groupdict()
        return None

    # --- the world side -----------------------------------------------------------------------------

    def encode_time(self, key: str, when: datetime) -> Any:
        """`when` written the way this vendor writes the field named `key`."""
        raise NotImplementedError

    def record_id(self, collection: str, record: Record) -> str:
        if record.get("id") is None:
            raise ValueError(f"{self.name} {collection} record has no id")
        return str(record["id"])

    def normalize(self, world: World, collection: str, record: Record) -> None:
        """Fill the fields the vendor always sends (times, markers) so world files can stay short."""

    def touch(self, world: World, collection: str, record: Record, when: datetime, before: Record) -> None:
        """Stamp `record` as changed at `when` (updated times and the vendor's change marker)."""
        raise NotImplementedError

    def delete(self, world: World, collection: str, key: str, when: datetime) -> None:
        """Default: the record is gone, as if it never existed."""
        world.table(self.name, collection).pop(key)

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
        raise NotImplementedError(f"{self.name} has no comment helper for {collection}")

    # --- the HTTP side ------------------------------------------------------------------------------

    def authenticate(self, headers: Message, credentials: Mapping[str, str]) -> bool:
        raise NotImplementedError

    def unauthorized(self) -> Response:
        raise NotImplementedError

    def rate_limited(self, state: RateState) -> Response:
        raise NotImplementedError

    def rate_headers(self, state: RateState, route: Route) -> dict[str, str]:
        """Headers describing the rate-limit window on normal responses."""
        return {}

    def not_found(self, method: str, path: str) -> Response:
        return Response(404, {"error": "not found", "path": path})

    def observe(self, headers: Message) -> list[str]:
        """Notes about a request worth counting in the stats (e.g. which API version it asked for)."""
        return []


# --- time formats -----------------------------------------------------------------------------------


def iso_seconds(when: datetime) -> str:
    """`2019-06-05T01:13:24Z` (Zendesk)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(when: datetime) -> str:
    """`2023-02-24T03:00:26.696Z` (HubSpot)."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def epoch(when: datetime) -> int:
    """Unix epoch seconds (Intercom, Zendesk `generated_timestamp`)."""
    return int(when.timestamp())


def parse_time(value: Any) -> datetime:
    return to_utc(value)


# --- opaque cursors ---------------------------------------------------------------------------------


def encode_cursor(data: Mapping[str, Any]) -> str:
    raw = json.dumps(dict(data), separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> dict[str, Any] | None:
    """The data inside a cursor this emulator issued, or None for anything else."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def url_with(base: str, path: str, params: Mapping[str, Any]) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{base}{path}?{query}" if query else f"{base}{path}"


def new_request_id() -> str:
    return str(uuid.uuid4())
