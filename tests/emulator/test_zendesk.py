"""Zendesk endpoints over real sockets: export paging, comments/audits paging, auth, 429."""

from __future__ import annotations

from typing import Any

import httpx

from caseline.emulator import Emulator, RateLimit, RateLimits, World, serve
from tests.emulator.conftest import ZENDESK_AUTH

EXPORT = "/api/v2/incremental/tickets/cursor.json"


def export_all(client: httpx.Client, **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Follow after_cursor until end_of_stream; returns the tickets and the last page."""
    tickets: list[dict[str, Any]] = []
    page = client.get(EXPORT, params=params).json()
    tickets += page["tickets"]
    for _ in range(100):
        if page["end_of_stream"]:
            return tickets, page
        page = client.get(
            EXPORT, params={"cursor": page["after_cursor"], **{k: v for k, v in params.items() if k == "per_page"}}
        ).json()
        tickets += page["tickets"]
    raise AssertionError("export never reached end_of_stream")


def test_export_returns_every_ticket_once_in_change_order(zendesk: httpx.Client, world: World) -> None:
    first = zendesk.get(EXPORT, params={"start_time": 0, "per_page": 5}).json()
    assert len(first["tickets"]) == 5 and first["end_of_stream"] is False
    assert "comments" not in first["tickets"][0] and "audits" not in first["tickets"][0]
    tickets, last = export_all(zendesk, start_time=0, per_page=5)
    assert sorted(t["id"] for t in tickets) == list(range(1, 24))
    keys = [(t["generated_timestamp"], t["id"]) for t in tickets]
    assert keys == sorted(keys)
    assert last["end_of_stream"] is True and last["after_cursor"]
    # after_url is a usable absolute URL on the emulator
    via_url = zendesk.get(first["after_url"]).json()
    assert [t["id"] for t in via_url["tickets"]] == [t["id"] for t in tickets[5:10]]


def test_start_time_filters_on_generated_timestamp(zendesk: httpx.Client, world: World) -> None:
    everything = world.all("zendesk", "tickets")
    middle = sorted(t["generated_timestamp"] for t in everything)[10]
    tickets, _ = export_all(zendesk, start_time=middle)
    assert {t["id"] for t in tickets} == {t["id"] for t in everything if t["generated_timestamp"] >= middle}


def test_next_pass_sees_edits_and_deletion_tombstones(zendesk: httpx.Client, world: World) -> None:
    _, last = export_all(zendesk, start_time=0, per_page=50)
    cursor = last["after_cursor"]
    nothing = zendesk.get(EXPORT, params={"cursor": cursor}).json()
    assert nothing["tickets"] == [] and nothing["end_of_stream"] is True and nothing["after_cursor"] == cursor

    world.edit("zendesk", "tickets", 4, priority="urgent")
    world.delete("zendesk", "tickets", 9)
    again = zendesk.get(EXPORT, params={"cursor": cursor}).json()
    assert [(t["id"], t["priority"] if t["id"] == 4 else t["status"]) for t in again["tickets"]] == [
        (4, "urgent"),
        (9, "deleted"),
    ]
    live = zendesk.get(EXPORT, params={"cursor": cursor, "exclude_deleted": "true"}).json()
    assert [t["id"] for t in live["tickets"]] == [4]


def test_include_sideloads_the_pages_users_and_organizations(zendesk: httpx.Client) -> None:
    page = zendesk.get(EXPORT, params={"start_time": 0, "per_page": 4, "include": "users,organizations"}).json()
    user_ids = {u["id"] for u in page["users"]}
    assert {t["requester_id"] for t in page["tickets"]} <= user_ids
    org_ids = {t["organization_id"] for t in page["tickets"]} - {None}
    assert org_ids <= {o["id"] for o in page["organizations"]}
    assert all(o["domain_names"] for o in page["organizations"])
    plain = zendesk.get(EXPORT, params={"start_time": 0, "per_page": 4}).json()
    assert "users" not in plain and "organizations" not in plain


def test_last_minute_quirk_when_enabled(zendesk: httpx.Client, world: World) -> None:
    world.settings["zendesk"]["exclude_recent_seconds"] = 60
    world.upsert("zendesk", "tickets", {"id": 99, "subject": "Just arrived", "updated_at": "2026-03-01T11:59:30Z"})
    first, last = export_all(zendesk, start_time=0, per_page=50)
    assert 99 not in {t["id"] for t in first} and len(first) == 23
    world.edit("zendesk", "tickets", 2, subject="Changed just now")
    held_back = zendesk.get(EXPORT, params={"cursor": last["after_cursor"]}).json()
    assert held_back["tickets"] == [] and held_back["end_of_stream"] is True
    world.advance("61s")
    later = zendesk.get(EXPORT, params={"cursor": held_back["after_cursor"]}).json()
    assert [t["subject"] for t in later["tickets"]] == ["Just arrived", "Changed just now"]


def test_comments_cursor_pagination_returns_every_comment_once(zendesk: httpx.Client, world: World) -> None:
    ticket = max(world.all("zendesk", "tickets"), key=lambda t: len(t["comments"]))
    expected = [c["id"] for c in ticket["comments"]]
    assert len(expected) >= 3
    seen: list[int] = []
    url: str | None = f"/api/v2/tickets/{ticket['id']}/comments.json?page[size]=2"
    while url:
        body = zendesk.get(url).json()
        seen += [c["id"] for c in body["comments"]]
        assert body["meta"]["has_more"] is (body["links"]["next"] is not None)
        url = body["links"]["next"]
    assert seen == expected
    publics = {c["public"] for t in world.all("zendesk", "tickets") for c in t["comments"]}
    assert publics == {True, False}  # internal notes are comments with public: false

    too_big = zendesk.get(f"/api/v2/tickets/{ticket['id']}/comments.json", params={"page[size]": 101})
    assert too_big.status_code == 400 and too_big.json()["error"] == "InvalidPaginationParameter"
    offset = zendesk.get(f"/api/v2/tickets/{ticket['id']}/comments.json", params={"include": "users"}).json()
    assert offset["count"] == len(expected) and offset["next_page"] is None
    assert {u["id"] for u in offset["users"]} == {c["author_id"] for c in ticket["comments"]}


def test_audits_page_like_comments_and_record_status_changes(zendesk: httpx.Client, world: World) -> None:
    world.edit("zendesk", "tickets", 5, status="solved")
    audits: list[dict[str, Any]] = []
    params: dict[str, Any] = {"page[size]": 1}
    while True:
        body = zendesk.get("/api/v2/tickets/5/audits.json", params=params).json()
        audits += body["audits"]
        if not body["meta"]["has_more"]:
            break
        params = {"page[size]": 1, "page[after]": body["meta"]["after_cursor"]}
    stored = world.get("zendesk", "tickets", 5)
    assert stored is not None and [a["id"] for a in audits] == [a["id"] for a in stored["audits"]]
    last = audits[-1]["events"][0]
    assert (last["type"], last["field_name"], last["value"]) == ("Change", "status", "solved")


def test_deleted_and_unknown_tickets_have_no_comments(zendesk: httpx.Client, world: World) -> None:
    world.delete("zendesk", "tickets", 7)
    for ticket_id in (7, 4242):
        response = zendesk.get(f"/api/v2/tickets/{ticket_id}/comments.json")
        assert response.status_code == 404 and response.json()["error"] == "RecordNotFound"


def test_organizations_and_users_exports(zendesk: httpx.Client, world: World) -> None:
    listed = zendesk.get("/api/v2/organizations.json", params={"page[size]": 3}).json()
    assert len(listed["organizations"]) == 3 and listed["meta"]["has_more"] is True
    rest = zendesk.get(listed["links"]["next"]).json()
    assert len(rest["organizations"]) == 1 and rest["meta"]["has_more"] is False

    exported = zendesk.get("/api/v2/incremental/organizations.json", params={"start_time": 0}).json()
    assert exported["count"] == 4 and exported["end_of_stream"] is True
    assert all(o["domain_names"] for o in exported["organizations"])
    first_id, last_id = exported["organizations"][0]["id"], exported["organizations"][-1]["id"]
    world.edit("zendesk", "organizations", first_id, notes="VIP")
    since = zendesk.get(exported["next_page"]).json()
    # time-based export: next_page restarts at end_time, so the boundary item comes again
    assert [o["id"] for o in since["organizations"]] == [last_id, first_id]
    assert since["organizations"][-1]["notes"] == "VIP"

    users = zendesk.get("/api/v2/incremental/users/cursor.json", params={"start_time": 0, "per_page": 1000}).json()
    assert len(users["users"]) == len(world.all("zendesk", "users")) and users["end_of_stream"] is True


def test_bad_requests_get_zendesk_errors(zendesk: httpx.Client) -> None:
    missing = zendesk.get(EXPORT)
    assert missing.status_code == 400 and "start_time" in missing.json()["description"]
    bogus = zendesk.get(EXPORT, params={"cursor": "not-a-cursor"})
    assert bogus.status_code == 400 and bogus.json()["error"] == "InvalidPaginationParameter"


def test_wrong_or_missing_credentials_get_401(emu: Emulator) -> None:
    url = f"{emu.base_url('zendesk')}{EXPORT}?start_time=0"
    for auth in [None, ("agent@example.com/token", "wrong"), ("agent@example.com", "zd-emulator-token")]:
        response = httpx.get(url, auth=auth)
        assert response.status_code == 401
        assert response.json() == {"error": "Couldn't authenticate you"}
    assert emu.stats.unauthorized["zendesk"] == 3
    assert emu.stats.requests["zendesk"] == 3


def test_429_carries_retry_after_and_limit_headers(world: World) -> None:
    with (
        serve(world, limits=RateLimits(zendesk=RateLimit(3, per_seconds=60))) as emu,
        httpx.Client(base_url=emu.base_url("zendesk"), auth=ZENDESK_AUTH) as client,
    ):
        answers = [client.get(EXPORT, params={"start_time": 0, "per_page": 1}) for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert [r.headers["X-Rate-Limit-Remaining"] for r in answers[:3]] == ["2", "1", "0"]
        assert answers[0].headers["X-Rate-Limit"] == "3"
        retry_after = int(answers[3].headers["Retry-After"])
        assert 1 <= retry_after <= 60
        assert answers[3].json()["error"] == "APIRateLimitExceeded"
        assert emu.stats.rate_limited["zendesk"] == 1
        # other vendors are not limited by Zendesk's budget
        assert (
            httpx.get(
                f"{emu.base_url('hubspot')}/crm/v3/objects/tickets",
                headers={"Authorization": "Bearer hs-emulator-token"},
            ).status_code
            == 200
        )
