"""Paginators: each strategy's next request and end condition, the loop guard, and paginate() end to end."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from caseline.connectors.http import VendorClient
from caseline.connectors.paging import (
    CursorParam,
    GraphQLPageInfo,
    NextUrl,
    Offset,
    PageRequest,
    PaginationLoop,
    dig,
)

BASE = "https://api.example.test"


def test_dig() -> None:
    data = {"a": {"b": {"c": 1}}, "x": [1]}
    assert dig(data, "a.b.c") == 1
    assert dig(data, "a.missing.c") is None
    assert dig(data, "x.0") is None


def test_cursor_param_query() -> None:
    pager = CursorParam("response_metadata.next_cursor", param="cursor")
    first = pager.first(PageRequest("GET", "/api/conversations.history", {"channel": "C1", "limit": 200}))
    assert first.params == {"channel": "C1", "limit": 200}
    nxt = pager.advance({"response_metadata": {"next_cursor": "dGVhbTpDMDYx"}}, [1])
    assert nxt == PageRequest(
        "GET", "/api/conversations.history", {"channel": "C1", "limit": 200, "cursor": "dGVhbTpDMDYx"}
    )
    assert pager.advance({"response_metadata": {"next_cursor": ""}}, [1]) is None  # Slack: empty = end


def test_cursor_param_drop_and_stop_flag() -> None:
    """Zendesk export: the cursor replaces start_time; end_of_stream ends the walk."""
    pager = CursorParam("after_cursor", param="cursor", stop="end_of_stream", drop=("start_time",))
    pager.first(PageRequest("GET", "/export", {"start_time": 10, "per_page": 1000}))
    nxt = pager.advance({"after_cursor": "c1", "end_of_stream": False}, [])
    assert nxt is not None and nxt.params == {"per_page": 1000, "cursor": "c1"}
    assert pager.advance({"after_cursor": "c2", "end_of_stream": True}, []) is None


def test_cursor_param_more_flag() -> None:
    pager = CursorParam("meta.after_cursor", param="page[after]", more="meta.has_more")
    pager.first(PageRequest("GET", "/comments", {"page[size]": 100}))
    assert pager.advance({"meta": {"has_more": True, "after_cursor": "xxx"}}, [1]) is not None
    assert pager.advance({"meta": {"has_more": False, "after_cursor": "yyy"}}, [1]) is None


def test_cursor_param_body_path() -> None:
    """Intercom search: the token goes into the JSON body at pagination.starting_after."""
    pager = CursorParam("pages.next.starting_after", body_path="pagination.starting_after")
    body = {"query": {"field": "updated_at", "operator": ">", "value": 1}, "pagination": {"per_page": 150}}
    pager.first(PageRequest("POST", "/conversations/search", None, body))
    nxt = pager.advance({"pages": {"next": {"starting_after": "WzE3MF0="}}}, [1])
    assert nxt is not None
    assert nxt.json == {**body, "pagination": {"per_page": 150, "starting_after": "WzE3MF0="}}
    assert body["pagination"] == {"per_page": 150}  # the caller's body is not mutated
    assert pager.advance({"pages": {}}, [1]) is None


def test_cursor_param_needs_exactly_one_target() -> None:
    with pytest.raises(ValueError):
        CursorParam("a.b")
    with pytest.raises(ValueError):
        CursorParam("a.b", param="x", body_path="y")


def test_next_url() -> None:
    pager = NextUrl("links.next", more="meta.has_more")
    pager.first(PageRequest("GET", "/comments.json", {"page[size]": 100}))
    nxt = pager.advance({"links": {"next": f"{BASE}/comments.json?page[after]=a"}, "meta": {"has_more": True}}, [1])
    assert nxt == PageRequest("GET", f"{BASE}/comments.json?page[after]=a", None, None)
    assert pager.advance({"links": {"next": f"{BASE}/c?page[after]=b"}, "meta": {"has_more": False}}, [1]) is None
    stop = NextUrl("after_url", stop="end_of_stream")
    stop.first(PageRequest("GET", "/export"))
    assert stop.advance({"after_url": f"{BASE}/export?cursor=z", "end_of_stream": True}, []) is None


def test_offset() -> None:
    pager = Offset(page_size=2)
    first = pager.first(PageRequest("GET", "/rest/api/3/issue/SUP-1/comment"))
    assert first.params == {"startAt": 0, "maxResults": 2}
    nxt = pager.advance({"startAt": 0, "total": 5}, [1, 2])
    assert nxt is not None and nxt.params == {"startAt": 2, "maxResults": 2}
    nxt = pager.advance({"total": 5}, [3])  # the server may return fewer than asked: count what came
    assert nxt is not None and nxt.params == {"startAt": 3, "maxResults": 2}
    assert pager.advance({"total": 5}, [4, 5]) is None  # reached total
    changelog = Offset()
    changelog.first(PageRequest("GET", "/changelog"))
    assert changelog.advance({"isLast": True}, [1]) is None
    assert changelog.advance({}, []) is None  # an empty page ends it


def test_graphql_page_info() -> None:
    pager = GraphQLPageInfo("data.issues.pageInfo")
    body = {"query": "query($after: String) { issues(after: $after) { nodes { id } } }", "variables": {"first": 50}}
    pager.first(PageRequest("POST", "/graphql", None, body))
    nxt = pager.advance({"data": {"issues": {"pageInfo": {"hasNextPage": True, "endCursor": "c1"}}}}, [1])
    assert nxt is not None and nxt.json["variables"] == {"first": 50, "after": "c1"}
    assert pager.advance({"data": {"issues": {"pageInfo": {"hasNextPage": False, "endCursor": "c2"}}}}, [1]) is None


@pytest.mark.parametrize(
    ("pager", "response"),
    [
        (CursorParam("next", param="cursor"), {"next": "same"}),
        (NextUrl("next"), {"next": f"{BASE}/p?x=1"}),
        (GraphQLPageInfo("info"), {"info": {"hasNextPage": True, "endCursor": "same"}}),
    ],
    ids=["cursor", "next-url", "graphql"],
)
def test_loop_guard(pager: Any, response: dict[str, Any]) -> None:
    pager.first(PageRequest("POST", "/p", None, {}))
    assert pager.advance(response, [1]) is not None
    with pytest.raises(PaginationLoop, match="came back twice"):
        pager.advance(response, [1])


def test_clone_gives_fresh_state() -> None:
    pager = CursorParam("next", param="cursor")
    pager.first(PageRequest("GET", "/p"))
    pager.advance({"next": "a"}, [1])
    fresh = pager.clone()
    fresh.first(PageRequest("GET", "/p"))
    assert fresh.advance({"next": "a"}, [1]) is not None  # "a" is not a repeat for the clone


async def test_paginate_walks_pages_and_reuses_one_connection(router: respx.MockRouter) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        pages = {None: ({"items": [1, 2], "next": "p2"}), "p2": {"items": [3], "next": ""}}
        return httpx.Response(200, json=pages[cursor])

    route = router.get(f"{BASE}/things").mock(side_effect=answer)
    async with VendorClient("demo", BASE) as api:
        pages = [p async for p in api.paginate("/things", params={"limit": 2}, items="items",
                                               paginator=CursorParam("next", param="cursor"))]  # fmt: skip
    assert [p.items for p in pages] == [[1, 2], [3]]
    assert [dict(c.request.url.params) for c in route.calls] == [{"limit": "2"}, {"limit": "2", "cursor": "p2"}]
    assert all(c.request.headers["User-Agent"].startswith("caseline/") for c in route.calls)


async def test_paginate_reports_a_loop_with_vendor_and_path(router: respx.MockRouter) -> None:
    router.get(f"{BASE}/things").mock(return_value=httpx.Response(200, json={"items": [1], "next": "same"}))
    async with VendorClient("demo", BASE) as api:
        with pytest.raises(PaginationLoop) as info:
            async for _ in api.paginate("/things", items="items", paginator=CursorParam("next", param="cursor")):
                pass
    assert str(info.value).startswith("demo: pagination loop") and str(info.value).endswith("on GET /things")


async def test_paginate_graphql_post(router: respx.MockRouter) -> None:
    seen: list[Any] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body["variables"].get("after"))
        more = body["variables"].get("after") is None
        info = {"hasNextPage": more, "endCursor": "e1" if more else "e2"}
        return httpx.Response(200, json={"data": {"issues": {"nodes": [{"id": len(seen)}], "pageInfo": info}}})

    router.post(f"{BASE}/graphql").mock(side_effect=answer)
    async with VendorClient("linear", BASE) as api:
        pages = [p async for p in api.paginate("/graphql", method="POST", json={"query": "q", "variables": {}},
                                               items="data.issues.nodes",
                                               paginator=GraphQLPageInfo("data.issues.pageInfo"))]  # fmt: skip
    assert [p.items for p in pages] == [[{"id": 1}], [{"id": 2}]]
    assert seen == [None, "e1"]


async def test_base_url_path_prefix_is_kept(router: respx.MockRouter) -> None:
    """The emulator serves each vendor under a prefix; paths join below it, not replace it."""
    route = router.get("http://127.0.0.1:9999/zendesk/api/v2/x.json").mock(return_value=httpx.Response(200, json={}))
    async with VendorClient("zendesk", "http://127.0.0.1:9999/zendesk") as api:
        await api.get_json("/api/v2/x.json")
    assert route.called
