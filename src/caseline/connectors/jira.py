"""Jira Cloud (REST v3): issues changed since the watermark via the enhanced JQL search, with children.

`POST /rest/api/3/search/jql` pages with `nextPageToken` (the old `/search` answers 410: never called).
JQL dates have minute precision in the API user's own time zone (`/myself` → `timeZone`), so the watermark
is converted, floored and moved back by an overlap; the store collapses the re-read issues. Pages come
`ORDER BY updated ASC`, so each page is stored with the cursor that covers it.
https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import suppress
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import SecretStr

from caseline.connectors.auth import Basic
from caseline.connectors.base import Connector, Cursors, Page, SourceSettings
from caseline.connectors.http import NotFoundResponse, VendorClient
from caseline.connectors.jira_map import map_jira
from caseline.connectors.paging import CursorParam, Offset
from caseline.connectors.retry import RateLimitSpec
from caseline.evidence import Account, Evidence
from caseline.timeparse import format_utc, to_utc

__all__ = ["Jira", "JiraSettings", "jql_since"]

SEARCH = "/rest/api/3/search/jql"
OVERLAP = timedelta(minutes=2)
# The enhanced search returns only ids unless it is told which fields to send.
FIELDS = ["summary", "status", "priority", "issuetype", "project", "assignee", "reporter", "creator", "labels",
          "components", "created", "updated", "resolution", "resolutiondate", "description", "issuelinks",
          "comment"]  # fmt: skip
SEARCH_PAGES = CursorParam("nextPageToken", body_path="nextPageToken", stop="isLast")
COMMENT_PAGES = Offset(page_size=100, total_path="total", is_last_path=None)
CHANGELOG_PAGES = Offset(page_size=100, total_path="total", is_last_path="isLast")
# 429 (and some 503s) carry Retry-After; X-RateLimit-Reset is an ISO time.
LIMITS = RateLimitSpec(retry_after=True, remaining="X-RateLimit-Remaining", reset="X-RateLimit-Reset", floor=1)


class JiraSettings(SourceSettings):
    email: str
    token: SecretStr
    jql: str


def user_zone(name: object) -> tzinfo:
    """The API user's profile time zone; UTC when Jira names none (or one this system does not know)."""
    if isinstance(name, str) and name:
        with suppress(ZoneInfoNotFoundError, ValueError):
            return ZoneInfo(name)
    return UTC


def jql_since(since: datetime, zone: tzinfo, overlap: timedelta = OVERLAP) -> str:
    """`yyyy-MM-dd HH:mm` in the user's zone, floored to the minute and `overlap` earlier.

    A wall time the zone repeats (the autumn DST hour) is moved back an hour more, so whichever of
    the two instants Jira picks is not after `since`.
    """
    local = (since - overlap).astimezone(zone).replace(second=0, microsecond=0)
    naive = local.replace(tzinfo=None)
    if naive.replace(tzinfo=zone, fold=0).utcoffset() != naive.replace(tzinfo=zone, fold=1).utcoffset():
        local -= timedelta(hours=1)
    return local.strftime("%Y-%m-%d %H:%M")


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _updated(issue: Any) -> datetime | None:
    with suppress(ValueError, TypeError, AttributeError):
        return to_utc(issue["fields"]["updated"])
    return None


class Jira(Connector[JiraSettings]):
    """Jira issues → `jira:issue:<key>` evidence; comments and status transitions → activities."""

    name = "jira"
    Settings = JiraSettings

    def client(self) -> VendorClient:
        auth = Basic(self.settings.email, self.settings.token)
        return VendorClient(self.name, self.settings.base_url, auth=auth, limits=LIMITS)

    async def fetch(self, api: VendorClient, cursor: Cursors) -> AsyncIterator[Page]:
        zone = user_zone((await api.get_json("/rest/api/3/myself")).get("timeZone"))
        stored = (cursor.get("issues") or {}).get("updated")
        since = to_utc(stored) if stored else self.settings.start_time()
        jql = f'({self.settings.jql}) AND updated >= "{jql_since(since, zone)}" ORDER BY updated ASC'
        body = {"jql": jql, "fields": FIELDS, "expand": "changelog", "maxResults": 100}
        watermark = since if stored else None
        async for page in api.paginate(SEARCH, method="POST", json=body, items="issues", paginator=SEARCH_PAGES):
            issues = await api.gather_each(lambda issue: self._with_children(api, issue), page.items)
            for found in filter(None, map(_updated, page.items)):
                watermark = max(watermark, found) if watermark else found
            value = {"updated": format_utc(watermark)} if watermark else None
            yield Page("issues", issues, value, final=bool(page.json.get("isLast")))

    async def _with_children(self, api: VendorClient, issue: Any) -> dict[str, Any]:
        """The issue with all its comments, its full changelog and its remote links (404: issue gone)."""
        if not isinstance(issue, Mapping):
            return {"issue": issue}
        embedded = _dict(_dict(issue.get("fields")).get("comment"))
        comments = list(embedded.get("comments") or [])
        log = _dict(issue.get("changelog"))
        histories = list(log.get("histories") or [])
        links: list[Any] = []
        ref = issue.get("id") or issue.get("key")
        if ref:
            path = f"/rest/api/3/issue/{ref}"
            with suppress(NotFoundResponse):  # deleted or moved out of reach since the search
                if int(embedded.get("total") or 0) > len(comments):
                    comments = await self._all(api, f"{path}/comment", "comments", COMMENT_PAGES, orderBy="created")
                if int(log.get("total") or 0) > len(histories):
                    histories = await self._all(api, f"{path}/changelog", "values", CHANGELOG_PAGES)
                found = await api.get_json(f"{path}/remotelink")
                links = list(found) if isinstance(found, list) else []
        return {"issue": dict(issue), "comments": comments, "changelog": histories, "remotelinks": links}

    @staticmethod
    async def _all(api: VendorClient, path: str, items: str, pager: Offset, **params: Any) -> list[Any]:
        out: list[Any] = []
        async for page in api.paginate(path, params=params or None, items=items, paginator=pager):
            out += page.items
        return out

    def map(self, raw: Mapping[str, Any]) -> Evidence | Account | None:
        return map_jira(raw, self.settings.base)
