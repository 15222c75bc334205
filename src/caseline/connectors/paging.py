"""Paginators: where the next-page token comes from, where it goes, and when to stop.

A paginator is a small object with two steps (dlt's shape): `first(request)` returns the first request,
`advance(response_json, items)` returns the next request or `None` at the end. Where the token goes
(query parameter, JSON body path, GraphQL variable) is the paginator's business, so connectors never build
URLs by hand. Each paginator carries a loop guard (singer-sdk's): seeing the same token twice raises
`PaginationLoop` instead of fetching forever.

Paginators keep state between `first` and the last `advance`; `VendorClient.paginate` works on a `clone()`,
so one instance can be declared once and used by concurrent calls.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from caseline.errors import VendorError

__all__ = [
    "CursorParam",
    "GraphQLPageInfo",
    "NextUrl",
    "Offset",
    "PageRequest",
    "PaginationLoop",
    "Paginator",
    "dig",
]


class PaginationLoop(VendorError):
    """A vendor handed back a page token it had already given: stop rather than loop forever."""


@dataclass(frozen=True)
class PageRequest:
    """One request of a paginated walk; `url` is a path under the base URL or an absolute URL."""

    method: str
    url: str
    params: Mapping[str, Any] | None = None
    json: Any = None

    def with_params(self, **updates: Any) -> PageRequest:
        return replace(self, params={**(self.params or {}), **updates})


def dig(data: Any, path: str) -> Any:
    """`dig({"a": {"b": 1}}, "a.b") == 1`; missing keys (or non-dicts on the way) give None."""
    value = data
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _with_body_path(body: Any, path: str, value: Any) -> dict[str, Any]:
    """A deep copy of the JSON body with `value` set at the dotted `path` (intermediate dicts created)."""
    out: dict[str, Any] = copy.deepcopy(dict(body or {}))
    node = out
    *parents, last = path.split(".")
    for key in parents:
        child = node.get(key)
        node[key] = child = dict(child) if isinstance(child, Mapping) else {}
        node = child
    node[last] = value
    return out


def _shown(token: Any) -> str:
    text = str(token)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class Paginator(ABC):
    """Base: keeps the current request and the tokens already seen."""

    _request: PageRequest | None = field(default=None, init=False, repr=False)
    _seen: set[str] = field(default_factory=set, init=False, repr=False)

    def clone(self) -> Paginator:
        fresh = copy.copy(self)
        fresh._request, fresh._seen = None, set()
        return fresh

    def first(self, request: PageRequest) -> PageRequest:
        self._seen = set()
        self._request = self._prepare(request)
        return self._request

    def _prepare(self, request: PageRequest) -> PageRequest:
        return request

    @property
    def current(self) -> PageRequest:
        if self._request is None:
            raise RuntimeError("paginator used before first()")
        return self._request

    @abstractmethod
    def _next(self, response_json: Any, items: Sequence[Any]) -> PageRequest | None:
        """The next request, or None when the walk is over."""

    def advance(self, response_json: Any, items: Sequence[Any]) -> PageRequest | None:
        nxt = self._next(response_json, items)
        if nxt is not None:
            self._request = nxt
        return nxt

    def _guard(self, token: Any) -> None:
        key = repr(token)
        if key in self._seen:
            raise PaginationLoop(f"pagination loop: page token {_shown(token)!r} came back twice")
        self._seen.add(key)


def _more(response_json: Any, stop: str | None, more: str | None) -> bool:
    if stop is not None and dig(response_json, stop):
        return False
    return not (more is not None and not dig(response_json, more))


@dataclass
class CursorParam(Paginator):
    """An opaque token read from `token_path`, sent back as query `param` or at JSON `body_path`.

    Slack `response_metadata.next_cursor` → `cursor`; HubSpot `paging.next.after` → `after`; Zendesk
    `meta.after_cursor` → `page[after]` (with `more="meta.has_more"`); Intercom search
    `pages.next.starting_after` → body `pagination.starting_after`; Jira `nextPageToken`.
    An empty or missing token ends the walk, as does a false `more` flag or a true `stop` flag.
    `drop` names query params of the first request that the token replaces (Zendesk's `start_time`).
    """

    token_path: str = ""
    param: str | None = None
    body_path: str | None = None
    more: str | None = None
    stop: str | None = None
    drop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.token_path or (self.param is None) == (self.body_path is None):
            raise ValueError("CursorParam needs token_path and exactly one of param / body_path")

    def _next(self, response_json: Any, items: Sequence[Any]) -> PageRequest | None:
        if not _more(response_json, self.stop, self.more):
            return None
        token = dig(response_json, self.token_path)
        if token in (None, ""):
            return None
        self._guard(token)
        if self.param is not None:
            kept = {k: v for k, v in (self.current.params or {}).items() if k not in self.drop}
            return replace(self.current, params={**kept, self.param: token})
        assert self.body_path is not None
        return replace(self.current, json=_with_body_path(self.current.json, self.body_path, token))


@dataclass
class NextUrl(Paginator):
    """Follow a full next-page URL read from `url_path` (Zendesk export `after_url`, `links.next`).

    The URL carries its own query, so the first request's params are dropped; `stop` names a flag that
    ends the walk when true (`end_of_stream`), `more` one that ends it when false (`meta.has_more`).
    """

    url_path: str = ""
    stop: str | None = None
    more: str | None = None

    def _next(self, response_json: Any, items: Sequence[Any]) -> PageRequest | None:
        if not _more(response_json, self.stop, self.more):
            return None
        url = dig(response_json, self.url_path)
        if not url:
            return None
        self._guard(url)
        return PageRequest(self.current.method, str(url), None, self.current.json)


@dataclass
class Offset(Paginator):
    """`startAt`/`maxResults` paging (Jira comments, changelog): ends on `isLast`, `total` or an empty page.

    The next offset counts the items actually returned: Jira may return fewer than asked for.
    """

    start_param: str = "startAt"
    size_param: str = "maxResults"
    page_size: int = 50
    total_path: str | None = "total"
    is_last_path: str | None = "isLast"
    start: int = 0

    def _prepare(self, request: PageRequest) -> PageRequest:
        params = {self.start_param: self.start, self.size_param: self.page_size, **(request.params or {})}
        return replace(request, params=params)

    def _next(self, response_json: Any, items: Sequence[Any]) -> PageRequest | None:
        if self.is_last_path and dig(response_json, self.is_last_path) is True:
            return None
        if not items:
            return None
        offset = int((self.current.params or {}).get(self.start_param, self.start)) + len(items)
        total = dig(response_json, self.total_path) if self.total_path else None
        if isinstance(total, int) and offset >= total:
            return None
        self._guard(offset)
        return self.current.with_params(**{self.start_param: offset})


@dataclass
class GraphQLPageInfo(Paginator):
    """Relay paging (Linear): `pageInfo {hasNextPage endCursor}` at `path` → `variables.<variable>`."""

    path: str = ""
    variable: str = "after"

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("GraphQLPageInfo needs the path to pageInfo, e.g. 'data.issues.pageInfo'")

    def _next(self, response_json: Any, items: Sequence[Any]) -> PageRequest | None:
        info = dig(response_json, self.path)
        if not isinstance(info, Mapping) or not info.get("hasNextPage"):
            return None
        cursor = info.get("endCursor")
        if not cursor:
            return None
        self._guard(cursor)
        body = _with_body_path(self.current.json, f"variables.{self.variable}", cursor)
        return replace(self.current, json=body)
