"""The emulated Jira Cloud API: JQL subset in the user's zone, enhanced-search paging, children, moves, errors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from caseline.emulator import RateLimit, RateLimits, World, serve
from caseline.emulator.generate import DEFAULT_CREDENTIALS

NOW = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
AUTH = (DEFAULT_CREDENTIALS["jira"]["email"], DEFAULT_CREDENTIALS["jira"]["token"])


def _issue(number: int, updated: str, project: str = "OPS", **extra: Any) -> dict[str, Any]:
    fields = {"summary": f"issue {number}", "created": "2026-03-01T08:00:00Z", "updated": updated,
              "project": {"key": project}}  # fmt: skip
    return {"id": str(10000 + number), "key": f"{project}-{number}", "fields": fields, **extra}


def _world() -> World:
    comments = [{"body": f"comment {n}", "created": f"2026-03-01T09:0{n}:00Z"} for n in range(5)]
    return World.from_dict({
        "credentials": {"jira": DEFAULT_CREDENTIALS["jira"]},
        "settings": {"jira": {"timeZone": "America/Los_Angeles", "embedded_comments": 2}},
        "vendors": {"jira": {"issues": [
            _issue(1, "2026-03-01T17:12:59Z", comments=comments),  # 09:12:59 in Los Angeles
            _issue(2, "2026-03-01T17:13:00Z"),  # 09:13:00
            _issue(3, "2026-03-01T17:30:00Z", remotelinks=[{"object": {"url": "https://x.zendesk.com/agent/tickets/4"}}]),
            _issue(4, "2026-03-01T18:00:00Z", project="SUP"),
            _issue(5, "2026-03-01T16:00:00Z", project="MKT"),
        ]}},
    }, now=NOW)  # fmt: skip


@pytest.fixture
def jira() -> Iterator[tuple[World, httpx.Client]]:
    world = _world()
    with serve(world) as emu, httpx.Client(base_url=emu.base_url("jira"), auth=AUTH, timeout=5) as client:
        yield world, client
        assert emu.stats.crashes == []


def _search(client: httpx.Client, jql: str, **body: Any) -> httpx.Response:
    return client.post("/rest/api/3/search/jql", json={"jql": jql, "fields": ["summary", "updated", "comment"], **body})


def test_jql_dates_are_read_in_the_users_zone(jira: tuple[World, httpx.Client]) -> None:
    _, client = jira
    assert client.get("/rest/api/3/myself").json()["timeZone"] == "America/Los_Angeles"
    found = _search(client, '(project in (OPS, SUP)) AND updated >= "2026-03-01 09:13" ORDER BY updated ASC').json()
    assert [i["key"] for i in found["issues"]] == ["OPS-2", "OPS-3", "SUP-4"] and found["isLast"]
    assert found["issues"][0]["fields"]["updated"] == "2026-03-01T09:13:00.000-0800"  # the user's offset
    slash = _search(client, 'project = OPS AND updated > "2026/03/01 09:13" ORDER BY updated DESC').json()
    assert [i["key"] for i in slash["issues"]] == ["OPS-3"]
    negated = _search(client, "project not in (OPS) OR key = OPS-1 ORDER BY key ASC").json()
    assert [i["key"] for i in negated["issues"]] == ["OPS-1", "SUP-4", "MKT-5"]


def test_enhanced_search_pages_with_tokens_and_sends_only_asked_fields(jira: tuple[World, httpx.Client]) -> None:
    _, client = jira
    keys, token = [], None
    while True:
        page = _search(client, "project in (OPS, SUP, MKT) ORDER BY updated ASC", maxResults=2,
                       **({"nextPageToken": token} if token else {})).json()  # fmt: skip
        assert "total" not in page and "startAt" not in page
        keys += [i["key"] for i in page["issues"]]
        token = page.get("nextPageToken")
        assert page["isLast"] == (token is None)
        if token is None:
            break
    assert keys == ["MKT-5", "OPS-1", "OPS-2", "OPS-3", "SUP-4"]
    ids_only = client.post("/rest/api/3/search/jql", json={"jql": "project = OPS"}).json()
    assert all(set(i) == {"id"} for i in ids_only["issues"])  # no `fields`: only ids
    embedded = _search(client, "key = OPS-1").json()["issues"][0]["fields"]["comment"]
    assert embedded["total"] == 5 and len(embedded["comments"]) == 2
    get = client.get("/rest/api/3/search/jql", params={"jql": "key = OPS-2", "fields": "summary"}).json()
    assert get["issues"][0]["fields"] == {"summary": "issue 2"}


def test_bad_queries_and_tokens_are_400s(jira: tuple[World, httpx.Client]) -> None:
    _, client = jira
    assert _search(client, "").status_code == 400  # unbounded
    assert _search(client, "nosuchfield = 1").json()["errorMessages"][0].startswith("Field 'nosuchfield'")
    assert _search(client, 'updated >= "yesterday"').status_code == 400
    assert _search(client, "project = OPS", nextPageToken="forged").status_code == 400
    assert client.get("/rest/api/3/search", params={"jql": "project = OPS"}).status_code == 410


def test_children_are_paged_and_moved_keys_still_resolve(jira: tuple[World, httpx.Client]) -> None:
    world, client = jira
    first = client.get("/rest/api/3/issue/OPS-1/comment", params={"startAt": 0, "maxResults": 3}).json()
    rest = client.get("/rest/api/3/issue/10001/comment", params={"startAt": 3, "maxResults": 3}).json()
    assert first["total"] == 5 and [c["body"]["content"][0]["content"][0]["text"] for c in first["comments"] + rest[
        "comments"]] == [f"comment {n}" for n in range(5)]  # fmt: skip
    assert first["comments"][0]["created"] == "2026-03-01T01:00:00.000-0800"
    links = client.get("/rest/api/3/issue/OPS-3/remotelink").json()
    assert links[0]["object"]["url"] == "https://x.zendesk.com/agent/tickets/4"

    world.edit("jira", "issues", "10002", key="SUP-9")
    world.edit("jira", "issues", "10002", fields={"status": {"name": "Done", "statusCategory": {"key": "done"}}})
    log = client.get("/rest/api/3/issue/OPS-2/changelog").json()  # the old key redirects
    assert log["isLast"] and log["values"][-1]["items"][0]["toString"] == "Done"
    moved = _search(client, "key = OPS-2").json()["issues"][0]
    assert moved["key"] == "SUP-9" and moved["id"] == "10002"
    assert client.get("/rest/api/3/issue/NOPE-1/comment").status_code == 404


def test_auth_and_rate_limits() -> None:
    limits = RateLimits(jira=RateLimit(requests=1, per_seconds=60))
    with serve(_world(), limits=limits) as emu, httpx.Client(base_url=emu.base_url("jira"), timeout=5) as client:
        assert client.get("/rest/api/3/myself", auth=("ops@example.com", "wrong")).status_code == 401
        assert client.get("/rest/api/3/myself", auth=AUTH).status_code == 200
        limited = client.get("/rest/api/3/myself", auth=AUTH)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["RateLimit-Reason"] == "jira-burst-based"
