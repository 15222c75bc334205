"""Linear (GraphQL): issues changed since the watermark, with comments, state history and attachments.

One query per page, `orderBy: updatedAt` (Linear documents it as "most recently updated" — newest first),
so the watermark (the newest `updatedAt` seen) is written only with the pass's last page. Errors come in
the GraphQL `errors[]` array — rate limits as HTTP 400 with `extensions.code: RATELIMITED` — and any
error, even beside partial data, fails that page.
https://linear.app/developers/graphql · https://linear.app/developers/rate-limiting
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from pydantic import HttpUrl, SecretStr

from caseline.connectors.auth import BearerOrRaw
from caseline.connectors.base import Connector, Cursors, Page, SourceSettings
from caseline.connectors.http import VendorClient
from caseline.connectors.linear_map import map_linear
from caseline.connectors.paging import GraphQLPageInfo
from caseline.connectors.retry import RateLimitSpec, Retryable, parse_reset, parse_retry_after
from caseline.errors import CredentialsError, VendorError
from caseline.evidence import Account, Evidence
from caseline.timeparse import format_utc, to_utc

__all__ = ["QUERY", "Linear", "LinearSettings", "check"]

OVERLAP = timedelta(minutes=2)
RESET = "X-RateLimit-Requests-Reset"  # epoch milliseconds
LIMITS = RateLimitSpec(retry_after=True, remaining="X-RateLimit-Requests-Remaining", reset=RESET, floor=1)
AUTH_CODES = frozenset({"AUTHENTICATION_ERROR", "FORBIDDEN", "authentication error", "forbidden"})
# Complexity stays well under the 10,000-point query cap: 50 issues × small nested connections.
QUERY = """
query CaselineIssues($since: DateTimeOrDuration!, $after: String) {
  issues(first: 50, after: $after, orderBy: updatedAt, includeArchived: true, filter: {updatedAt: {gte: $since}}) {
    nodes {
      id identifier title url description priority priorityLabel createdAt updatedAt archivedAt trashed
      completedAt canceledAt previousIdentifiers
      state { name type } team { key } creator { name email } assignee { name email }
      labels(first: 10) { nodes { name } }
      attachments(first: 10) { nodes { url title sourceType } }
      comments(first: 20) { nodes { id body createdAt updatedAt user { name email } } }
      history(first: 15) { nodes { createdAt fromState { name } toState { name } actor { name email } } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
""".strip()
PAGES = GraphQLPageInfo("data.issues.pageInfo")


class LinearSettings(SourceSettings):
    base_url: HttpUrl = HttpUrl("https://api.linear.app")
    token: SecretStr


def _codes(error: Any) -> set[str]:
    ext = error.get("extensions") if isinstance(error, Mapping) else None
    return {str(v) for v in (ext.get("code"), ext.get("type")) if v} if isinstance(ext, Mapping) else set()


def check(response: Any) -> None:
    """`errors[]` fails the page: RATELIMITED is retried (wait from the reset header), auth is fatal."""
    try:
        body = response.json()
    except ValueError:
        return
    errors = body.get("errors") if isinstance(body, Mapping) else None
    if not errors or not isinstance(errors, list):
        return
    codes = set().union(*(_codes(e) for e in errors))
    if codes & {"RATELIMITED", "ratelimited"}:
        hint = parse_retry_after(response.headers.get("Retry-After")) or parse_reset(response.headers.get(RESET))
        raise Retryable("linear: RATELIMITED on POST /graphql", wait_s=max(hint, 1.0) if hint is not None else None)
    if codes & AUTH_CODES:
        raise CredentialsError("linear", f"linear: {min(codes)} on POST /graphql — check sources.linear.token")
    first = errors[0] if isinstance(errors[0], Mapping) else {}
    message = " ".join(str(first.get("message") or "GraphQL error").split())[:200]
    raise VendorError(f"linear: {response.status_code} on POST /graphql: {message}", source="linear",
                      status=response.status_code)  # fmt: skip


def _updated(issue: Any) -> datetime | None:
    with suppress(ValueError, TypeError, AttributeError):
        return to_utc(issue["updatedAt"])
    return None


class Linear(Connector[LinearSettings]):
    """Linear issues → `linear:issue:<identifier>` evidence (vendor id kept; moved issues keep their id)."""

    name = "linear"
    Settings = LinearSettings

    def client(self) -> VendorClient:
        auth = BearerOrRaw(self.settings.token)
        return VendorClient(self.name, self.settings.base_url, auth=auth, limits=LIMITS, check=check)

    async def fetch(self, api: VendorClient, cursor: Cursors) -> AsyncIterator[Page]:
        stored = (cursor.get("issues") or {}).get("updated_at")
        since = to_utc(stored) if stored else self.settings.start_time()
        body = {"query": QUERY, "variables": {"since": format_utc(since - OVERLAP), "after": None}}
        watermark = since if stored else None
        async for page in api.paginate("/graphql", method="POST", json=body, items="data.issues.nodes",
                                       paginator=PAGES):  # fmt: skip
            for found in filter(None, map(_updated, page.items)):
                watermark = max(watermark, found) if watermark else found
            last = not (((page.json.get("data") or {}).get("issues") or {}).get("pageInfo") or {}).get("hasNextPage")
            value = {"updated_at": format_utc(watermark)} if last and watermark else None
            yield Page("issues", page.items, value, final=last)

    def map(self, raw: Mapping[str, Any]) -> Evidence | Account | None:
        return map_linear(raw)
