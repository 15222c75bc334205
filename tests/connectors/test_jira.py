"""Jira connector: recorded payloads (ADF, colon-less offsets, remote links, search pages), JQL times, paging."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import respx

from caseline.connectors.base import Page
from caseline.connectors.jira import Jira, JiraSettings, jql_since, user_zone
from caseline.connectors.jira_map import map_jira
from caseline.errors import CredentialsError, MalformedItem
from caseline.timeparse import to_utc

BASE = "https://acme.atlassian.test"
Sample = Callable[[str, str], Any]


def _connector(**extra: Any) -> Jira:
    values = {"base_url": BASE, "email": "ops@acme.com", "token": "jira-secret", "jql": "project in (OPS, SUP)"}
    return Jira(JiraSettings(**(values | extra)))


async def _pages(connector: Jira, cursor: dict[str, Any] | None = None) -> list[Page]:
    async with connector.client() as api:
        return [page async for page in connector.fetch(api, cursor or {})]


def _issue(key: str, updated: str, **fields: Any) -> dict[str, Any]:
    base = {"summary": f"{key} summary", "created": "2026-03-01T09:00:00.000+0000", "updated": updated,
            "status": {"name": "To Do", "statusCategory": {"key": "new"}}}  # fmt: skip
    return {"id": str(10000 + int(key.split("-")[1])), "key": key, "fields": base | fields}


# --- map: recorded payloads ----------------------------------------------------------------------------


def test_recorded_issue_with_adf_description_and_plus_0100(vendor_sample: Sample) -> None:
    issue = vendor_sample("jira", "issue_adf_description_jira-cli.json")
    evidence = map_jira(issue, BASE)
    assert evidence.id == "jira:issue:TEST-1" and evidence.url == f"{BASE}/browse/TEST-1"
    assert evidence.body == "Test description" and evidence.title == "Bug summary"
    assert evidence.created_at == datetime(2020, 12, 3, 13, 5, 20, 974000, tzinfo=UTC)  # +0100 → UTC
    assert evidence.status == "To Do" and evidence.priority == "Medium"
    assert evidence.author is not None and evidence.author.name == "Person A" and evidence.author.email is None
    assert evidence.links == ["jira:issue:TEST-2"]  # the link without a key is skipped
    assert evidence.vendor_id is None  # the trimmed fixture has no id


def test_recorded_comments_minus_0700_adf_and_jsd_visibility(vendor_sample: Sample) -> None:
    comments = vendor_sample("jira", "issue_comments_airbyte.json")["comments"]
    issue = _issue("OPS-1", "2022-05-18T00:00:00.000-0700")
    evidence = map_jira({"issue": issue, "comments": comments, "changelog": [], "remotelinks": []}, BASE)
    activities = [a for a in evidence.activities if a.type in ("comment", "note")]
    assert len(activities) == len(comments)
    by_id = {a.native_id: a for a in activities}
    first = by_id["10755"]
    assert first.at == datetime(2022, 5, 17, 11, 6, 55, 76000, tzinfo=UTC)  # 04:06:55.076-0700
    assert first.text == "Closed" and first.type == "comment" and first.public
    assert first.actor is not None and first.actor.email == "integration-test@airbyte.io"
    for comment in comments:
        kind = "note" if comment.get("jsdPublic") is False or comment.get("visibility") else "comment"
        assert by_id[comment["id"]].type == kind
        assert by_id[comment["id"]].at == to_utc(comment["created"])


def test_recorded_remote_links_keep_unknown_urls(vendor_sample: Sample) -> None:
    links = vendor_sample("jira", "issue_remote_links_airbyte.json")
    zendesk = {"object": {"url": "https://acme.zendesk.com/agent/tickets/4711", "title": "#4711"}}
    raw = {"issue": _issue("OPS-2", "2026-03-01T10:00:00.000+0000"), "remotelinks": [*links, zendesk]}
    evidence = map_jira(raw, BASE)
    assert evidence.links == [
        "http://www.mycompany.com/support?id=1",
        "http://www.anothercompany.com/tester/testcase/1234",
        "zendesk:ticket:4711",
    ]


def test_links_from_adf_marks_cards_and_comments() -> None:
    description = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "ticket", "marks": [{"type": "link", "attrs": {"href": "https://acme.zendesk.com/agent/tickets/9"}}]},
        {"type": "inlineCard", "attrs": {"url": "https://app.intercom.com/a/inbox/abc/inbox/conversation/55"}},
    ]}]}  # fmt: skip
    issue = _issue("OPS-3", "2026-03-01T10:00:00.000+0000", description=description,
                   issuelinks=[{"inwardIssue": {"key": "OPS-1"}}, {"outwardIssue": {"key": "OPS-3"}}])  # fmt: skip
    comment = {"id": "1", "created": "2026-03-01T10:00:00.000+0000", "body": "see https://linear.app/acme/issue/ENG-9"}
    evidence = map_jira({"issue": issue, "comments": [comment], "remotelinks": []}, BASE)
    assert evidence.links == ["jira:issue:OPS-1", "zendesk:ticket:9", "intercom:conversation:55", "linear:issue:ENG-9"]


def test_status_transitions_and_resolution() -> None:
    done = {"name": "Done", "statusCategory": {"key": "done"}}
    history = {"id": "77", "created": "2026-03-01T11:00:00.000+0000", "author": {"displayName": "Kemi"},
               "items": [{"field": "status", "fromString": "To Do", "toString": "Done"},
                         {"field": "assignee", "fromString": None, "toString": "Kemi"}]}  # fmt: skip
    resolved = {"resolutiondate": "2026-03-01T11:00:00.200+0000", "resolution": {"name": "Fixed"}}
    issue = _issue("OPS-4", "2026-03-01T11:00:00.200+0000", status=done, **resolved)
    evidence = map_jira({"issue": issue, "changelog": [history]}, BASE)
    changes = [(a.from_status, a.to_status, a.native_id) for a in evidence.activities if a.type == "status_change"]
    assert changes == [("To Do", "Done", "77")]  # the resolution is that transition, not a second one
    without_log = map_jira({"issue": issue, "changelog": []}, BASE)
    assert [(a.to_status, a.text) for a in without_log.activities] == [("Done", "resolved: Fixed")]


def test_malformed_issues_are_reported_not_raised_as_crashes() -> None:
    with pytest.raises(MalformedItem, match="missing key"):
        map_jira({"issue": {"id": "1", "fields": {"created": "2026-01-01T00:00:00.000+0000"}}}, BASE)
    with pytest.raises(MalformedItem, match="OPS-9"):
        map_jira({"issue": _issue("OPS-9", "2026-03-01T10:00:00.000+0000", created="not-a-time")}, BASE)
    with pytest.raises(MalformedItem):
        map_jira({"issue": "nope"}, BASE)


# --- JQL time --------------------------------------------------------------------------------------------


def test_jql_since_is_floored_in_the_users_zone_with_overlap() -> None:
    since = datetime(2026, 3, 1, 17, 15, 42, tzinfo=UTC)
    assert jql_since(since, UTC) == "2026-03-01 17:13"
    assert jql_since(since, ZoneInfo("America/Los_Angeles")) == "2026-03-01 09:13"  # PST, -0800
    assert jql_since(since, ZoneInfo("Asia/Kolkata")) == "2026-03-01 22:43"
    # 01:30 happens twice in New York on 2026-11-01: go back an hour so either reading is early enough
    assert jql_since(datetime(2026, 11, 1, 6, 32, tzinfo=UTC), ZoneInfo("America/New_York")) == "2026-11-01 00:30"
    assert user_zone("Not/AZone") is UTC and user_zone(None) is UTC


# --- fetch -------------------------------------------------------------------------------------------------


@respx.mock(base_url=BASE, assert_all_called=False)
async def test_recorded_search_pages_follow_next_page_token(
    respx_mock: respx.MockRouter, vendor_sample: Sample
) -> None:
    page1 = copy.deepcopy(vendor_sample("jira", "search_jql_page1_jira-cli.json"))
    last = copy.deepcopy(vendor_sample("jira", "search_jql_last_page_jira-cli.json"))
    respx_mock.get("/rest/api/3/myself").mock(
        return_value=httpx.Response(200, json={"accountId": "a1", "timeZone": "America/Los_Angeles"})
    )
    search = respx_mock.post("/rest/api/3/search/jql").mock(
        side_effect=[httpx.Response(200, json=page1), httpx.Response(200, json=last)]
    )
    gone = vendor_sample("jira", "search_legacy_410_gone.json")
    legacy = respx_mock.route(path__regex=r"^/rest/api/[23]/search$").mock(return_value=httpx.Response(410, json=gone))
    remote = respx_mock.get(path__regex=r"/rest/api/3/issue/TEST-\d/remotelink").mock(
        return_value=httpx.Response(200, json=[])
    )
    cursor = {"issues": {"updated": "2026-03-01T17:15:42Z"}}
    pages = await _pages(_connector(), cursor)

    assert not legacy.called
    first, second = (json.loads(call.request.content) for call in search.calls)
    assert first["jql"] == '(project in (OPS, SUP)) AND updated >= "2026-03-01 09:13" ORDER BY updated ASC'
    assert "summary" in first["fields"] and "description" in first["fields"] and "comment" in first["fields"]
    assert first["expand"] == "changelog" and "nextPageToken" not in first
    assert second["nextPageToken"] == "token-page-2" and second["jql"] == first["jql"]
    assert [len(p.items) for p in pages] == [2, 1] and [p.final for p in pages] == [False, True]
    assert remote.call_count == 3
    # the recorded issues were updated long ago: the watermark never goes back
    assert [p.cursor for p in pages] == [{"updated": "2026-03-01T17:15:42Z"}] * 2
    assert search.calls[0].request.headers["Authorization"].startswith("Basic ")


@respx.mock(base_url=BASE)
async def test_truncated_comments_and_changelog_are_read_in_full(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/rest/api/3/myself").mock(return_value=httpx.Response(200, json={"timeZone": "UTC"}))
    issue = _issue("OPS-5", "2026-03-02T08:00:00.000+0000", comment={"comments": [{"id": "1"}], "total": 3})
    issue["changelog"] = {"startAt": 0, "maxResults": 1, "total": 3, "histories": [{"id": "h1"}]}
    second = _issue("OPS-6", "2026-03-02T09:30:00.500+0000")
    respx_mock.post("/rest/api/3/search/jql").mock(
        return_value=httpx.Response(200, json={"issues": [issue, second], "isLast": True})
    )
    comment = {"created": "2026-03-02T07:00:00.000+0000", "body": "x"}
    comments = respx_mock.get("/rest/api/3/issue/10005/comment").mock(side_effect=[
        httpx.Response(200, json={"startAt": 0, "maxResults": 2, "total": 3, "comments": [comment | {"id": "1"},
                                                                                       comment | {"id": "2"}]}),
        httpx.Response(200, json={"startAt": 2, "maxResults": 2, "total": 3, "comments": [comment | {"id": "3"}]}),
    ])  # fmt: skip
    history = {"created": "2026-03-02T07:30:00.000+0000", "items": []}
    changelog = respx_mock.get("/rest/api/3/issue/10005/changelog").mock(side_effect=[
        httpx.Response(200, json={"startAt": 0, "total": 3, "isLast": False, "values": [history, history]}),
        httpx.Response(200, json={"startAt": 2, "total": 3, "isLast": True, "values": [history]}),
    ])  # fmt: skip
    respx_mock.get("/rest/api/3/issue/10005/remotelink").mock(return_value=httpx.Response(200, json=[]))
    respx_mock.get("/rest/api/3/issue/10006/remotelink").mock(return_value=httpx.Response(404, json={}))

    (page,) = await _pages(_connector())
    full, gone = page.items
    assert [c["id"] for c in full["comments"]] == ["1", "2", "3"] and len(full["changelog"]) == 3
    assert comments.calls[1].request.url.params["startAt"] == "2"
    assert changelog.calls[1].request.url.params["startAt"] == "2"
    assert gone["remotelinks"] == [] and gone["issue"]["key"] == "OPS-6"  # a 404 on a child keeps the issue
    assert page.cursor == {"updated": "2026-03-02T09:30:00.500Z"}  # the newest `updated` of the page


@respx.mock(base_url=BASE)
async def test_429_with_retry_after_is_retried_and_401_names_the_key(respx_mock: respx.MockRouter) -> None:
    myself = respx_mock.get("/rest/api/3/myself").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "2"}, json={"errorMessages": ["Rate limit exceeded."]}),
        httpx.Response(200, json={"timeZone": "UTC"}),
        httpx.Response(401, json={"errorMessages": ["Client must be authenticated to access this resource."]}),
    ])  # fmt: skip
    empty = httpx.Response(200, json={"issues": [], "isLast": True})
    respx_mock.post("/rest/api/3/search/jql").mock(return_value=empty)
    pages = await _pages(_connector())
    assert myself.call_count == 2 and [p.items for p in pages] == [[]]
    expected = r"401 Unauthorized on GET /rest/api/3/myself — check sources\.jira\.token"
    with pytest.raises(CredentialsError, match=expected):
        await _pages(_connector())
