"""VendorClient: the one way connectors talk HTTP (auth, retries, throttling, paging, error messages).

A connector declares how to reach its vendor (base URL, `httpx.Auth`, fixed headers, `RateLimitSpec`,
an optional `check` hook for errors inside a 2xx/4xx body) and calls `request()` or `paginate()`.
Everything else lives here, once:

    401/403            → CredentialsError naming `sources.<name>.<key>`; never retried
    429 + exhausted()  → RateLimitExhausted (a daily quota); never retried
    429, 5xx, resets   → retried (retry.py), then VendorError "… gave up after N attempts"
    404                → NotFoundResponse (a VendorError the connector may catch to skip a child item)
    other 4xx          → VendorError

Messages name vendor, method, path (never the query string) and status, never a secret.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, TypeVar

import httpx

from caseline import __version__
from caseline.connectors.budget import Budget
from caseline.connectors.paging import PageRequest, PaginationLoop, Paginator, dig
from caseline.connectors.retry import (
    RETRY_STATUSES,
    RateLimitSpec,
    Retryable,
    RetryableStatus,
    RetryPolicy,
    make_retrying,
    wait_hint,
)
from caseline.errors import CredentialsError, RateLimitExhausted, VendorError

__all__ = ["DEFAULT_TIMEOUT", "USER_AGENT", "NotFoundResponse", "PageResult", "VendorClient"]

log = logging.getLogger("caseline.connectors")

DEFAULT_TIMEOUT = httpx.Timeout(30, connect=10)
USER_AGENT = f"caseline/{__version__}"

T = TypeVar("T")
R = TypeVar("R")
Check = Callable[[httpx.Response], None]
ItemsSpec = str | Callable[[Any], Sequence[Any]]


class NotFoundResponse(VendorError):
    """A 404: for a child fetch (a ticket's comments) the connector catches this and skips the child."""


@dataclass(frozen=True)
class PageResult:
    """One page of a paginated walk: its items, the decoded body and the raw response."""

    items: list[Any]
    json: Any
    response: httpx.Response


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _vendor_detail(response: httpx.Response) -> str:
    """A short error text from the vendor's JSON body, to make a 4xx message useful."""
    try:
        body = response.json()
    except (jsonlib.JSONDecodeError, UnicodeDecodeError):
        return ""
    if not isinstance(body, Mapping):
        return ""
    for key in ("description", "message", "error", "errorMessages", "errors"):
        value = body.get(key)
        if value:
            text = " ".join(str(value).split())
            return f": {text[:200]}"
    return ""


class VendorClient:
    """One httpx.AsyncClient per source per run, with auth, retries, throttling and paging."""

    def __init__(
        self,
        source: str,
        base_url: object,
        *,
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        limits: RateLimitSpec | None = None,
        check: Check | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        credentials_key: str = "token",
        concurrency: int = 8,
        throttle: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.source = source
        self.base_url = httpx.URL(str(base_url).rstrip("/") + "/")
        self.limits = limits or RateLimitSpec()
        self.check = check
        self.policy = retry or RetryPolicy()
        self.credentials_key = credentials_key
        self.concurrency = max(1, concurrency)
        self.budget = Budget(self.limits, source=source, enabled=throttle, cap_s=self.policy.cap_s)
        self._client = httpx.AsyncClient(
            auth=auth,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"VendorClient(source={self.source!r}, base_url={str(self.base_url)!r})"

    async def __aenter__(self) -> VendorClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # ---- single requests ---------------------------------------------------------------------
    def _url(self, path: str) -> httpx.URL:
        """The full URL; an absolute URL (a vendor's next-page link) must stay on the base host."""
        url = httpx.URL(path)
        if not url.is_absolute_url:
            return self.base_url.join(path.lstrip("/"))
        if (url.scheme, url.host, url.port) != (self.base_url.scheme, self.base_url.host, self.base_url.port):
            raise VendorError(
                f"{self.source}: refusing to follow a link to another host ({url.host}) from {self.base_url.host}",
                source=self.source,
            )
        return url

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send one request with retries; raise the classified error for anything but success."""
        url = self._url(path)
        shown = url.path
        retrying = make_retrying(self.policy, source=self.source, method=method, path=shown)
        response: httpx.Response | None = None
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._attempt(method, url, params, json, shown)
        except (RetryableStatus, Retryable, httpx.TransportError) as exc:
            tries = retrying.statistics.get("attempt_number", 1)
            if isinstance(exc, RetryableStatus):
                what = str(exc)
            elif isinstance(exc, Retryable):  # a throttle signal inside the body (Slack, Linear)
                what = f"{self.source}: {exc} on {method} {shown}"
            else:
                what = f"{self.source}: {type(exc).__name__} on {method} {shown}"
            status = exc.status if isinstance(exc, RetryableStatus) else None
            raise VendorError(f"{what} (gave up after {tries} attempts)", source=self.source, status=status) from exc
        assert response is not None
        return response

    async def _attempt(
        self, method: str, url: httpx.URL, params: Mapping[str, Any] | None, json: Any, shown: str
    ) -> httpx.Response:
        await self.budget.acquire(shown)
        try:
            response = await self._client.request(method, url, params=params, json=json)
        finally:
            self.budget.release()
        self.budget.update(response)
        log.debug("%s: %s %s → %d", self.source, method, shown, response.status_code)
        try:
            self._classify(response, method, shown)
        except (RetryableStatus, Retryable) as exc:
            throttled = isinstance(exc, Retryable) or exc.status == 429
            if throttled and exc.wait_s:
                self.budget.hold(exc.wait_s)
            raise
        return response

    def _classify(self, response: httpx.Response, method: str, shown: str) -> None:
        status = response.status_code
        where = f"{status} {_phrase(status)} on {method} {shown}".replace("  ", " ")
        if status in (401, 403):
            raise CredentialsError(
                self.source, f"{self.source}: {where} — check sources.{self.source}.{self.credentials_key}"
            )
        if self.check is not None and status < 500 and status != 429:
            try:
                self.check(response)
            except Retryable as exc:
                if exc.wait_s is None:
                    exc.wait_s = wait_hint(response, self.limits)
                raise
        if status == 429 and self.limits.exhausted is not None and self.limits.exhausted(response):
            raise RateLimitExhausted(
                f"{self.source}: {where}: quota exhausted until the vendor's reset; not retrying",
                source=self.source,
                status=status,
            )
        if status in RETRY_STATUSES:
            raise RetryableStatus(
                f"{self.source}: {where}",
                source=self.source,
                status=status,
                wait_s=wait_hint(response, self.limits),
            )
        if status == 404:
            raise NotFoundResponse(f"{self.source}: {where}", source=self.source, status=status)
        if status >= 400:
            raise VendorError(f"{self.source}: {where}{_vendor_detail(response)}", source=self.source, status=status)

    def _decode(self, response: httpx.Response, method: str) -> Any:
        try:
            return response.json()
        except (jsonlib.JSONDecodeError, UnicodeDecodeError):
            raise VendorError(
                f"{self.source}: {response.status_code} on {method} {response.request.url.path}: body is not JSON",
                source=self.source,
                status=response.status_code,
            ) from None

    async def get_json(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """GET `path` and return its decoded JSON body."""
        return self._decode(await self.request("GET", path, params=params), "GET")

    async def post_json(self, path: str, *, json: Any, params: Mapping[str, Any] | None = None) -> Any:
        """POST a JSON body and return the decoded JSON answer (GraphQL, search endpoints)."""
        return self._decode(await self.request("POST", path, params=params, json=json), "POST")

    # ---- paging --------------------------------------------------------------------------------
    def _items(self, body: Any, items: ItemsSpec, method: str, shown: str) -> list[Any]:
        found = items(body) if callable(items) else dig(body, items)
        if found is None:
            return []
        if not isinstance(found, list | tuple):
            raise VendorError(f"{self.source}: expected a list at {items!r} in {method} {shown}", source=self.source)
        return list(found)

    async def paginate(
        self,
        path: str,
        *,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        items: ItemsSpec,
        paginator: Paginator | None = None,
    ) -> AsyncIterator[PageResult]:
        """Yield every page of `path`; without a paginator, the single page."""
        pager = paginator.clone() if paginator is not None else None
        request: PageRequest | None = PageRequest(method, path, params, json)
        if pager is not None and request is not None:
            request = pager.first(request)
        while request is not None:
            response = await self.request(request.method, request.url, params=request.params, json=request.json)
            shown = response.request.url.path
            body = self._decode(response, request.method)
            found = self._items(body, items, request.method, shown)
            yield PageResult(found, body, response)
            if pager is None:
                return
            try:
                request = pager.advance(body, found)
            except PaginationLoop as exc:
                raise PaginationLoop(f"{self.source}: {exc} on {method} {shown}", source=self.source) from None

    # ---- fan-out -------------------------------------------------------------------------------
    async def gather_each(self, fn: Callable[[T], Awaitable[R]], items: Iterable[T]) -> list[R]:
        """`fn` over `items` with at most `concurrency` in flight (child fetches); results keep order.

        The first failure cancels the rest and is raised as itself (not wrapped in an ExceptionGroup).
        """
        gate = asyncio.Semaphore(self.concurrency)

        async def one(item: T) -> R:
            async with gate:
                return await fn(item)

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(item)) for item in items]
        except BaseExceptionGroup as grouped:
            first = grouped.exceptions[0]
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            raise first from None
        return [task.result() for task in tasks]
