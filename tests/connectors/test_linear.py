"""Linear connector, on fixtures written from Linear's schema and docs (no recorded payloads exist)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from caseline.connectors.base import Page
from caseline.connectors.linear import QUERY, Linear, LinearSettings
from caseline.connectors.linear_map import map_linear
from caseline.errors import CredentialsError, MalformedItem, VendorError
from caseline.timeparse import to_utc

BASE = "https://linear.test"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linear"


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _connector(token: str = "lin_api_secretkey") -> Linear:
    return Linear(LinearSettings(base_url=BASE, token=token))


async def _pages(connector: Linear, cursor: dict[str, Any] | None = None) -> list[Page]:
    async with connector.client() as api:
        return [page async for page in connector.fetch(api, cursor or {})]


# --- map -----------------------------------------------------------------------------------------------


def test_issue_node_maps_ids_aliases_links_and_activities() -> None:
    node = _fixture("issues_page_from_schema_docs.json")["data"]["issues"]["nodes"][0]
    evidence = map_linear(node)
    assert evidence.id == "linear:issue:ENG-42" and evidence.vendor_id == node["id"]
    assert evidence.aliases == ["linear:issue:SUP-7"]  # moved from team SUP
    assert evidence.url == node["url"] and evidence.title == node["title"]
    assert evidence.body.startswith("Customers see 502 Bad Gateway at checkout")  # Markdown → text
    assert evidence.status == "Done" and evidence.priority == "Urgent" and evidence.tags == ["incident", "checkout"]
    assert evidence.author is not None and evidence.author.email == "priya@acme.com"
    assert evidence.created_at == to_utc("2026-03-01T09:12:44.511Z") and not evidence.deleted
    assert evidence.links == [
        "intercom:conversation:215468976543",  # attachments: integrations' links → evidence ids
        "zendesk:ticket:4712",
        "https://github.com/acme/shop/pull/981",  # not an evidence source: the URL itself
        "zendesk:ticket:4711",  # description
        "jira:issue:OPS-12",  # a bare key of another team is a Jira issue
        "linear:issue:ENG-40",  # a bare key of its own team is a Linear issue
    ]
    kinds = [(a.type, a.from_status, a.to_status) for a in evidence.activities]
    assert kinds == [
        ("status_change", "Todo", "In Progress"), ("comment", None, None), ("status_change", "In Progress", "Done")
    ]  # fmt: skip
    comment = evidence.activities[1]
    assert comment.actor is not None and comment.actor.name == "Jonas Eriksen" and comment.native_id


def test_triage_issue_without_creator_and_a_trashed_one() -> None:
    second = _fixture("issues_page_from_schema_docs.json")["data"]["issues"]["nodes"][1]
    evidence = map_linear(second)
    assert evidence.author is None and evidence.priority is None and evidence.body == ""
    assert evidence.links == ["slack:message:C024BE91L:1709283600.000200"]
    trashed = map_linear(_fixture("issues_last_page_from_schema_docs.json")["data"]["issues"]["nodes"][0])
    assert trashed.deleted and trashed.status == "Canceled"
    assert [(a.type, a.text) for a in trashed.activities] == [("status_change", "canceled (Canceled)")]


def test_malformed_nodes() -> None:
    node = _fixture("issues_page_from_schema_docs.json")["data"]["issues"]["nodes"][0]
    with pytest.raises(MalformedItem, match="missing id"):
        map_linear({**node, "id": None})
    with pytest.raises(MalformedItem, match="ENG-42"):
        map_linear({**node, "createdAt": "not-a-time"})


# --- fetch -----------------------------------------------------------------------------------------------


@respx.mock(base_url=BASE)
async def test_pages_follow_page_info_and_commit_the_watermark_last(respx_mock: respx.MockRouter) -> None:
    graphql = respx_mock.post("/graphql").mock(side_effect=[
        httpx.Response(200, json=_fixture("issues_page_from_schema_docs.json")),
        httpx.Response(200, json=_fixture("issues_last_page_from_schema_docs.json")),
    ])  # fmt: skip
    pages = await _pages(_connector(), {"issues": {"updated_at": "2026-02-26T00:00:00Z"}})
    first, second = (json.loads(call.request.content) for call in graphql.calls)
    assert first["query"] == QUERY and first["variables"] == {"since": "2026-02-25T23:58:00Z", "after": None}
    assert second["variables"]["after"] == "b2a4c0de-1f37-4f1e-9d0c-6f1f3c2b9a10"
    assert [len(p.items) for p in pages] == [2, 1]
    # newest first: the watermark (the newest updatedAt seen) is written only with the last page
    assert [p.cursor for p in pages] == [None, {"updated_at": "2026-03-01T11:40:02.093Z"}]
    assert pages[-1].final
    assert graphql.calls[0].request.headers["Authorization"] == "lin_api_secretkey"  # API keys go without Bearer


@respx.mock(base_url=BASE)
async def test_oauth_tokens_are_sent_as_bearer(respx_mock: respx.MockRouter) -> None:
    graphql = respx_mock.post("/graphql").mock(
        return_value=httpx.Response(200, json=_fixture("issues_last_page_from_schema_docs.json"))
    )
    await _pages(_connector(token="oauth-access-token"))
    assert graphql.calls[0].request.headers["Authorization"] == "Bearer oauth-access-token"


@respx.mock(base_url=BASE)
async def test_ratelimited_in_a_400_is_retried_after_the_reset(
    respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    reset_ms = str(int((time.time() + 30) * 1000))
    graphql = respx_mock.post("/graphql").mock(side_effect=[
        httpx.Response(400, json=_fixture("error_ratelimited_from_docs.json"),
                       headers={"X-RateLimit-Requests-Reset": reset_ms, "X-RateLimit-Requests-Remaining": "0"}),
        httpx.Response(200, json=_fixture("issues_last_page_from_schema_docs.json")),
    ])  # fmt: skip
    with caplog.at_level("INFO", logger="caseline.connectors"):
        pages = await _pages(_connector())
    assert graphql.call_count == 2 and len(pages[0].items) == 1
    waits = [r.getMessage() for r in caplog.records if "retry 2 of" in r.getMessage()]
    assert waits and "RATELIMITED" in waits[0]
    seconds = float(waits[0].rsplit(" in ", 1)[1].rstrip("s"))
    assert 20 <= seconds <= 31  # the reset header (epoch ms), not an exponential guess


@respx.mock(base_url=BASE)
async def test_authentication_error_names_the_token_key(respx_mock: respx.MockRouter) -> None:
    denied = httpx.Response(400, json=_fixture("error_authentication_from_sdk.json"))
    respx_mock.post("/graphql").mock(return_value=denied)
    with pytest.raises(CredentialsError, match=r"check sources\.linear\.token") as info:
        await _pages(_connector())
    assert "lin_api_secretkey" not in str(info.value)


@respx.mock(base_url=BASE)
async def test_partial_data_with_errors_fails_the_page(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/graphql").mock(
        return_value=httpx.Response(200, json=_fixture("partial_data_with_errors_from_schema_docs.json"))
    )
    with pytest.raises(VendorError, match=r"linear: 200 on POST /graphql: Entity not found: User"):
        await _pages(_connector())
