"""The emulated Linear GraphQL API: ordering, filters, keyset paging, archived issues, moves, Linear's errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from caseline.emulator import RateLimit, RateLimits, World, serve
from caseline.emulator.generate import DEFAULT_CREDENTIALS

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = DEFAULT_CREDENTIALS["linear"]["token"]
PAGE = """query($since: DateTimeOrDuration!, $after: String, $first: Int, $archived: Boolean) {
  issues(first: $first, after: $after, orderBy: updatedAt, includeArchived: $archived,
         filter: {updatedAt: {gte: $since}}) {
    nodes { identifier updatedAt archivedAt trashed previousIdentifiers team { key }
            history(first: 5) { nodes { fromState { name } toState { name } } } }
    pageInfo { hasNextPage endCursor }
  }
}"""


def _world() -> World:
    issues = [{"identifier": f"ENG-{n}", "title": f"issue {n}", "createdAt": "2026-02-01T00:00:00.000Z",
               "updatedAt": f"2026-03-01T0{n}:00:00.000Z"} for n in range(1, 8)]  # fmt: skip
    return World.from_dict({"credentials": {"linear": DEFAULT_CREDENTIALS["linear"]},
                            "vendors": {"linear": {"issues": issues}}}, now=NOW)  # fmt: skip


@pytest.fixture
def linear() -> Iterator[tuple[World, httpx.Client]]:
    world = _world()
    with serve(world) as emu, httpx.Client(base_url=emu.base_url("linear"), headers={"Authorization": KEY}) as client:
        yield world, client
        assert emu.stats.crashes == []


def _page(client: httpx.Client, **variables: Any) -> dict[str, Any]:
    values = {"since": "2026-03-01T02:00:00.000Z", "after": None, "first": 50, "archived": True} | variables
    response = client.post("/graphql", json={"query": PAGE, "variables": values})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["data"]["issues"]
    return body


def test_updated_at_order_filter_and_keyset_paging(linear: tuple[World, httpx.Client]) -> None:
    _, client = linear
    seen, after = [], None
    while True:
        page = _page(client, first=2, after=after)
        seen += [n["identifier"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["ENG-7", "ENG-6", "ENG-5", "ENG-4", "ENG-3", "ENG-2"]  # most recently updated first; gte
    assert [n["identifier"] for n in _page(client, since="-PT8H")["nodes"]] == seen[:4]  # durations from now


def test_archived_moves_and_state_history(linear: tuple[World, httpx.Client]) -> None:
    world, client = linear
    ids = {i["identifier"]: i["id"] for i in world.all("linear", "issues")}
    world.delete("linear", "issues", ids["ENG-2"])
    world.edit("linear", "issues", ids["ENG-3"], identifier="OPS-1")
    world.edit("linear", "issues", ids["ENG-4"], state={"name": "Done", "type": "completed"})
    nodes = {n["identifier"]: n for n in _page(client)["nodes"]}
    assert nodes["ENG-2"]["trashed"] and nodes["ENG-2"]["archivedAt"]
    assert "ENG-2" not in {n["identifier"] for n in _page(client, archived=False)["nodes"]}
    assert nodes["OPS-1"]["previousIdentifiers"] == ["ENG-3"] and nodes["OPS-1"]["team"]["key"] == "OPS"
    assert nodes["ENG-4"]["history"]["nodes"] == [{"fromState": {"name": "Todo"}, "toState": {"name": "Done"}}]
    assert list(nodes)[:3] == ["ENG-4", "OPS-1", "ENG-2"]  # each change moved updatedAt forward


def test_graphql_errors_in_linears_shape(linear: tuple[World, httpx.Client]) -> None:
    _, client = linear
    syntax = client.post("/graphql", json={"query": "{ issues( }"})
    unknown = client.post("/graphql", json={"query": "{ issues { nodes { nope } } }"})
    too_many = client.post("/graphql", json={"query": "{ issues(first: 251) { nodes { id } } }"})
    forged = client.post("/graphql", json={"query": '{ issues(after: "forged") { nodes { id } } }'})
    denied = client.post("/graphql", json={"query": "{ viewer { id } }"}, headers={"Authorization": "Bearer " + KEY})
    assert syntax.status_code == 400 and syntax.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    for answer in (too_many, forged):
        assert answer.status_code == 400 and answer.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert denied.status_code == 400  # a personal API key with "Bearer" is refused
    assert denied.json()["errors"][0]["extensions"]["code"] == "AUTHENTICATION_ERROR"


def test_rate_limited_is_a_400_with_a_millisecond_reset() -> None:
    with serve(_world(), limits=RateLimits(linear=RateLimit(requests=1, per_seconds=60))) as emu:
        url = f"{emu.base_url('linear')}/graphql"
        ok = httpx.post(url, json={"query": "{ viewer { id } }"}, headers={"Authorization": KEY})
        limited = httpx.post(url, json={"query": "{ viewer { id } }"}, headers={"Authorization": KEY})
    assert ok.status_code == 200 and ok.headers["X-RateLimit-Requests-Remaining"] == "0"
    error = limited.json()["errors"][0]
    assert limited.status_code == 400 and error["extensions"]["code"] == "RATELIMITED"
    assert error["extensions"]["statusCode"] == 429
    reset_ms = int(limited.headers["X-RateLimit-Requests-Reset"])
    assert time.time() * 1000 < reset_ms <= (time.time() + 61) * 1000
