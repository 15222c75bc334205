"""Intercom endpoints over real sockets: search paging, retrieve with parts, contacts/companies, auth, 429."""

from __future__ import annotations

from typing import Any

import httpx

from caseline.emulator import Emulator, RateLimit, RateLimits, World, serve
from tests.emulator.conftest import INTERCOM_HEADERS

ALL = {"field": "updated_at", "operator": ">", "value": 0}


def search_all(client: httpx.Client, query: dict[str, Any], per_page: int = 4) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    pagination: dict[str, Any] = {"per_page": per_page}
    for _ in range(100):
        body = client.post("/conversations/search", json={"query": query, "pagination": pagination}).json()
        found += body["conversations"]
        if "next" not in body["pages"]:
            return found
        pagination = {"per_page": per_page, "starting_after": body["pages"]["next"]["starting_after"]}
    raise AssertionError("search never ended")


def test_search_pages_every_conversation_once_in_no_particular_order(intercom: httpx.Client) -> None:
    first = intercom.post("/conversations/search", json={"query": ALL, "pagination": {"per_page": 4}}).json()
    assert first["type"] == "conversation.list" and first["total_count"] == 17
    assert first["pages"]["total_pages"] == 5 and first["pages"]["next"]["page"] == 2
    found = search_all(intercom, ALL)
    assert sorted(int(c["id"]) for c in found) == list(range(1000, 1017))
    updated = [c["updated_at"] for c in found]
    assert updated != sorted(updated) and updated != sorted(updated, reverse=True)
    assert all("conversation_parts" not in c for c in found)  # search results carry no parts


def test_greater_than_is_inclusive_and_groups_combine(intercom: httpx.Client, world: World) -> None:
    times = sorted(c["updated_at"] for c in world.all("intercom", "conversations"))
    pivot = times[8]
    found = search_all(intercom, {"field": "updated_at", "operator": ">", "value": pivot})
    assert {c["updated_at"] for c in found} == {t for t in times if t >= pivot}  # documented "greater (or equal)"
    window = {
        "operator": "AND",
        "value": [
            {"field": "updated_at", "operator": ">", "value": times[3]},
            {"field": "updated_at", "operator": "<", "value": times[6]},
        ],
    }
    assert sorted(c["updated_at"] for c in search_all(intercom, window)) == times[3:7]
    by_state = search_all(
        intercom,
        {
            "operator": "OR",
            "value": [
                {"field": "state", "operator": "=", "value": "closed"},
                {"field": "source.author.email", "operator": "~", "value": "@gmail.com"},
            ],
        },
    )
    assert all(c["state"] == "closed" or c["source"]["author"]["email"].endswith("@gmail.com") for c in by_state)


def test_invalid_searches_get_error_lists(intercom: httpx.Client) -> None:
    deep = {"operator": "AND", "value": [{"operator": "OR", "value": [{"operator": "AND", "value": [ALL]}]}]}
    for body in [
        {"query": ALL, "pagination": {"per_page": 151}},
        {"query": {"field": "updated_at", "operator": ">=", "value": 0}},
        {"query": deep},
        {"pagination": {"per_page": 5}},
        {"query": ALL, "pagination": {"starting_after": "garbage!"}},
    ]:
        response = intercom.post("/conversations/search", json=body)
        assert response.status_code == 400, body
        assert response.json()["type"] == "error.list" and response.json()["errors"][0]["code"].startswith("parameter")


def test_retrieve_returns_the_most_recent_parts(intercom: httpx.Client, world: World) -> None:
    conversation = max(world.all("intercom", "conversations"), key=lambda c: c["conversation_parts"]["total_count"])
    parts = conversation["conversation_parts"]["conversation_parts"]
    full = intercom.get(f"/conversations/{conversation['id']}").json()
    assert full["conversation_parts"]["conversation_parts"] == parts
    world.settings["intercom"]["max_parts"] = 2
    capped = intercom.get(f"/conversations/{conversation['id']}").json()["conversation_parts"]
    assert capped["conversation_parts"] == parts[-2:] and capped["total_count"] == len(parts)
    plain = intercom.get(f"/conversations/{conversation['id']}", params={"display_as": "plaintext"}).json()
    assert "<p>" not in plain["source"]["body"] and "<p>" in full["source"]["body"]


def test_next_pass_sees_new_parts_and_loses_deleted_conversations(intercom: httpx.Client, world: World) -> None:
    watermark = max(c["updated_at"] for c in search_all(intercom, ALL))
    world.add_comment("intercom", "conversations", "1004", "Any news?")
    world.delete("intercom", "conversations", "1005")
    changed = search_all(intercom, {"field": "updated_at", "operator": ">", "value": watermark + 1})
    assert [c["id"] for c in changed] == ["1004"]
    parts = intercom.get("/conversations/1004").json()["conversation_parts"]["conversation_parts"]
    assert parts[-1]["body"] == "<p>Any news?</p>"
    gone = intercom.get("/conversations/1005")
    assert gone.status_code == 404 and gone.json()["errors"][0]["code"] == "not_found"
    assert "1005" not in {c["id"] for c in search_all(intercom, ALL)}


def test_contacts_and_companies(intercom: httpx.Client, world: World) -> None:
    contact = world.all("intercom", "contacts")[0]
    assert intercom.get(f"/contacts/{contact['id']}").json()["email"] == contact["email"]
    company = world.all("intercom", "companies")[0]
    assert intercom.get(f"/companies/{company['id']}").json()["website"] == company["website"]
    assert intercom.get("/contacts/nope").status_code == 404
    seen: list[str] = []
    page = intercom.get("/companies", params={"per_page": 3}).json()
    seen += [c["id"] for c in page["data"]]
    assert page["total_count"] == 4 and page["pages"]["total_pages"] == 2
    page = intercom.get(page["pages"]["next"]).json()
    seen += [c["id"] for c in page["data"]]
    assert page["pages"]["next"] is None
    assert sorted(seen) == sorted(c["id"] for c in world.all("intercom", "companies"))


def test_wrong_token_gets_401_and_versions_are_counted(emu: Emulator) -> None:
    url = f"{emu.base_url('intercom')}/conversations/1000"
    denied = httpx.get(url, headers={"Authorization": "Bearer nope"})
    assert denied.status_code == 401
    assert denied.json()["type"] == "error.list" and denied.json()["errors"][0]["code"] == "unauthorized"
    assert httpx.get(url, headers={"Authorization": "Bearer ic-emulator-token"}).status_code == 200
    assert httpx.get(url, headers=INTERCOM_HEADERS).status_code == 200
    assert emu.stats.notes["intercom Intercom-Version=missing"] == 2
    assert emu.stats.notes["intercom Intercom-Version=2.11"] == 1


def test_429_has_reset_headers_and_no_retry_after(world: World) -> None:
    with (
        serve(world, limits=RateLimits(intercom=RateLimit(2, per_seconds=30))) as emu,
        httpx.Client(base_url=emu.base_url("intercom"), headers=INTERCOM_HEADERS) as client,
    ):
        answers = [client.get("/conversations/1000") for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 429]
        assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["1", "0", "0"]
        limited = answers[2]
        assert limited.headers["X-RateLimit-Limit"] == "2"
        assert "Retry-After" not in limited.headers
        assert int(limited.headers["X-RateLimit-Reset"]) >= int(answers[0].headers["X-RateLimit-Reset"])
        assert limited.json()["errors"][0]["code"] == "rate_limit_exceeded"
        assert emu.stats.rate_limited["intercom"] == 1
