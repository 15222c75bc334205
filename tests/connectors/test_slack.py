"""Slack connector: mapping of the recorded Web API payloads, the ok:false check hook, paging and cursors."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from caseline.connectors.base import Page
from caseline.connectors.slack import Slack, SlackError, SlackSettings, check
from caseline.connectors.slack_map import map_slack, permalink
from caseline.errors import CredentialsError, MalformedItem, VendorError
from caseline.text.refs import url_to_evidence_id
from caseline.timeparse import to_utc

BASE = "https://slack.test"
TEAM = "https://acme.slack.com/"
Sample = Callable[[str, str], Any]


def _connector(**extra: Any) -> Slack:
    return Slack(SlackSettings(base_url=BASE, token="xoxb-secret-token", **extra))


async def _pages(connector: Slack, cursor: dict[str, Any] | None = None) -> list[Page]:
    async with connector.client() as api:
        return [page async for page in connector.fetch(api, cursor or {})]


def _ok(**body: Any) -> httpx.Response:
    return httpx.Response(200, json={"ok": True, **body})


def _auth_test(router: respx.MockRouter) -> None:
    router.get("/api/auth.test").mock(return_value=_ok(url=TEAM, team="Acme", user_id="UBOT"))


# --- map ----------------------------------------------------------------------------------------------


def test_recorded_history_messages_map_with_string_ts(vendor_sample: Sample) -> None:
    messages = vendor_sample("slack", "conversations.history_ok.json")["messages"]
    users = {"U012AB3CDE": {"name": "Egon Spengler", "email": "egon@ghostbusters.example"}}
    items = [map_slack({"channel": "C024BE91L", "team_url": TEAM, "message": m, "users": users}) for m in messages]
    assert [e.id for e in items if e] == [f"slack:message:C024BE91L:{m['ts']}" for m in messages]
    first = items[0]
    assert first is not None
    assert first.created_at == to_utc("1512085950.000216") and first.created_at.microsecond == 216
    assert first.title == messages[0]["text"] and first.author is not None and first.author.name == "Egon Spengler"
    assert first.url == "https://acme.slack.com/archives/C024BE91L/p1512085950000216"
    assert first.kind == "message" and not first.deleted and not first.bot and first.author_role == "agent"


def test_recorded_thread_becomes_reply_activities(vendor_sample: Sample) -> None:
    parent, *replies = vendor_sample("slack", "conversations.replies_ok.json")["messages"]
    evidence = map_slack({"channel": "C0THREAD1", "team_url": TEAM, "message": parent, "replies": replies[::-1]})
    assert evidence is not None
    assert [a.type for a in evidence.activities] == ["reply"] * 3
    assert [a.native_id for a in evidence.activities] == [r["ts"] for r in replies]  # sorted by ts, kept as strings
    assert [a.text for a in evidence.activities] == ["one island", "two island", "three for the land"]
    assert evidence.updated_at == to_utc(replies[-1]["ts"])  # a new reply makes the thread newer
    assert evidence.activities[0].url == (
        f"https://acme.slack.com/archives/C0THREAD1/p{replies[0]['ts'].replace('.', '')}"
        f"?thread_ts={parent['ts']}&cid=C0THREAD1"
    )


def test_permalink_has_the_recorded_shape_and_reads_back(vendor_sample: Sample) -> None:
    sample = vendor_sample("slack", "chat.getPermalink_ok.json")
    # the docs' example drops a digit of its ts; the shape is what matters: /archives/{channel}/p{digits}
    prefix = sample["permalink"].split("/p")[0] + "/p"
    url = permalink("https://ghostbusters.slack.com/", sample["channel"], "1358546515.000008")
    assert url == f"{prefix}1358546515000008"
    assert url_to_evidence_id(url) == f"slack:message:{sample['channel']}:1358546515.000008"


def test_links_edits_bots_and_tombstones() -> None:
    message = {
        "ts": "1700000000.000100", "user": "U1", "bot_id": "B9", "username": "deploy-bot",
        "text": "Checkout down, <https://acme.zendesk.com/agent/tickets/12|ticket 12> see OPS-7 <@U2>",
        "edited": {"user": "U1", "ts": "1700000300.000000"},
        "attachments": [{"from_url": "https://linear.app/acme/issue/ENG-3/x", "fallback": "ENG-3"}],
    }  # fmt: skip
    users = {"U2": {"name": "Jonas"}}
    evidence = map_slack({"channel": "C0INCIDNT", "channel_name": "incidents", "team_url": TEAM, "message": message,
                          "replies": [{"ts": "1700000100.000000", "user": "U2", "text": "also intercom "
                                       "https://app.intercom.com/a/inbox/x1/inbox/conversation/77"}],
                          "users": users})  # fmt: skip
    assert evidence is not None and evidence.bot and evidence.author_role == "bot"
    assert evidence.links == ["zendesk:ticket:12", "jira:issue:OPS-7", "linear:issue:ENG-3", "intercom:conversation:77"]
    assert evidence.body == "Checkout down, ticket 12 (https://acme.zendesk.com/agent/tickets/12) see OPS-7 @Jonas"
    assert evidence.updated_at == to_utc("1700000300.000000")  # the edit, later than the reply
    assert evidence.tags == ["#incidents"]

    dead = {"ts": "1700000000.000100", "subtype": "tombstone", "text": "This message was deleted.", "user": "USLACKBOT"}
    tombstone = map_slack({"channel": "C0INCIDNT", "team_url": TEAM, "message": dead})
    gone = map_slack({"channel": "C0INCIDNT", "team_url": TEAM,
                      "gone": {"ts": "1700000000.000200", "noticed_at": "2026-03-01T00:00:00Z"}})  # fmt: skip
    assert tombstone is not None and tombstone.deleted
    assert gone is not None and gone.deleted and gone.id == "slack:message:C0INCIDNT:1700000000.000200"
    assert map_slack({"channel": "C1", "message": {"ts": "1.000001", "subtype": "channel_join"}}) is None
    with pytest.raises(MalformedItem, match="bad ts"):
        map_slack({"channel": "C1", "message": {"ts": 1700000000.0001, "text": "float ts"}})


# --- check hook ---------------------------------------------------------------------------------------


@respx.mock(base_url=BASE)
async def test_recorded_ok_false_error_names_method_and_code(
    respx_mock: respx.MockRouter, vendor_sample: Sample
) -> None:
    _auth_test(respx_mock)
    respx_mock.get("/api/conversations.history").mock(
        return_value=httpx.Response(200, json=vendor_sample("slack", "conversations.history_error.json"))
    )
    with pytest.raises(SlackError, match=r"slack: conversations\.history answered ok=false: channel_not_found") as info:
        await _pages(_connector(channels=["C024BE91L"]))
    assert info.value.code == "channel_not_found"


@respx.mock(base_url=BASE)
async def test_ratelimited_in_200_and_429_are_retried(respx_mock: respx.MockRouter, vendor_sample: Sample) -> None:
    _auth_test(respx_mock)
    page = copy.deepcopy(vendor_sample("slack", "conversations.history_ok.json"))
    page["has_more"], page["response_metadata"] = False, {"next_cursor": ""}
    history = respx_mock.get("/api/conversations.history").mock(
        side_effect=[
            httpx.Response(200, json={"ok": False, "error": "ratelimited"}),
            httpx.Response(429, json={"ok": False, "error": "ratelimited"}, headers={"Retry-After": "3"}),
            httpx.Response(200, json=page),
        ]
    )
    respx_mock.get("/api/users.info").mock(return_value=_ok(user={"id": "U0", "real_name": "Someone"}))
    pages = await _pages(_connector(channels=["C024BE91L"]))
    assert history.call_count == 3
    assert [len(p.items) for p in pages] == [2, 0]


@pytest.mark.parametrize("code", ["invalid_auth", "not_authed", "token_revoked", "account_inactive"])
@respx.mock(base_url=BASE)
async def test_auth_errors_name_the_config_key(respx_mock: respx.MockRouter, code: str) -> None:
    respx_mock.get("/api/auth.test").mock(return_value=httpx.Response(200, json={"ok": False, "error": code}))
    with pytest.raises(CredentialsError) as info:
        await _pages(_connector())
    assert "check sources.slack.token" in str(info.value) and code in str(info.value)
    assert "xoxb-secret-token" not in str(info.value)


def test_check_ignores_ok_and_non_json_bodies() -> None:
    request = httpx.Request("GET", f"{BASE}/api/auth.test")
    check(httpx.Response(200, json={"ok": True}, request=request))
    check(httpx.Response(200, text="<html>", request=request))


# --- fetch: channels, paging, cursors -----------------------------------------------------------------


@respx.mock(base_url=BASE)
async def test_history_pages_then_one_cursor_after_the_channel(
    respx_mock: respx.MockRouter, vendor_sample: Sample
) -> None:
    _auth_test(respx_mock)
    first = vendor_sample("slack", "conversations.history_ok.json")
    thread = vendor_sample("slack", "conversations.replies_ok.json")
    parent = {k: v for k, v in thread["messages"][0].items() if k not in ("last_read", "unread_count", "subscribed")}
    second = {"ok": True, "messages": [parent], "has_more": False, "response_metadata": {"next_cursor": ""}}
    history = respx_mock.get("/api/conversations.history").mock(
        side_effect=[httpx.Response(200, json=first), httpx.Response(200, json=second)]
    )
    replies_last = {**thread, "has_more": False, "response_metadata": {"next_cursor": ""}}
    replies = respx_mock.get("/api/conversations.replies").mock(return_value=httpx.Response(200, json=replies_last))
    users = respx_mock.get("/api/users.info").mock(return_value=_ok(user={"id": "U", "profile": {"real_name": "Ray"}}))

    pages = await _pages(_connector(channels=["C024BE91L"]))

    assert [p.stream for p in pages] == ["messages:C024BE91L"] * 3
    assert [p.cursor for p in pages[:2]] == [None, None] and pages[-1].final
    cursor = pages[-1].cursor
    assert cursor is not None and cursor["ts"] == "1512104434.000490"  # the newest ts, as the exact string
    assert history.calls[1].request.url.params["cursor"] == first["response_metadata"]["next_cursor"]
    assert history.calls[0].request.url.params["limit"] == "200"
    assert replies.call_count == 1 and replies.calls[0].request.url.params["ts"] == parent["ts"]
    assert users.call_count == 2  # U012AB3CDE and U061F7AUR, each once
    thread_item = pages[1].items[0]
    assert [r["ts"] for r in thread_item["replies"]] == [m["ts"] for m in thread["messages"][1:]]
    assert thread_item["team_url"] == TEAM
    assert history.calls[0].request.headers["Authorization"] == "Bearer xoxb-secret-token"


@respx.mock(base_url=BASE)
async def test_rescan_emits_only_changes_and_tombstones_the_vanished(respx_mock: respx.MockRouter) -> None:
    _auth_test(respx_mock)
    kept = {"type": "message", "ts": "1900000000.000100", "user": "U1", "text": "same"}
    edited = {"type": "message", "ts": "1900000001.000100", "user": "U1", "text": "after",
              "edited": {"user": "U1", "ts": "1900000009.000000"}}  # fmt: skip
    body = {"ok": True, "messages": [edited, kept], "has_more": False, "response_metadata": {"next_cursor": ""}}
    respx_mock.get("/api/conversations.history").mock(return_value=httpx.Response(200, json=body))
    respx_mock.get("/api/users.info").mock(return_value=_ok(user={"id": "U1", "name": "u1"}))
    connector = _connector(channels=["C0CHANNEL"])
    first = await _pages(connector)
    state = first[-1].cursor
    assert state is not None and sorted(state["recent"]) == [kept["ts"], edited["ts"]]
    # the same two, then: `edited` changed, a third vanished from the window
    state["recent"][edited["ts"]] = "stale-fingerprint"
    state["recent"]["1900000000.000050"] = "deleted-one"
    again = await _pages(connector, {"messages:C0CHANNEL": state})
    assert [i["message"]["ts"] for p in again for i in p.items if "message" in i] == [edited["ts"]]
    assert [i["gone"]["ts"] for p in again for i in p.items if "gone" in i] == ["1900000000.000050"]
    assert again[-1].cursor is not None and "1900000000.000050" not in again[-1].cursor["recent"]


@respx.mock(base_url=BASE)
async def test_channels_by_name_and_membership(respx_mock: respx.MockRouter) -> None:
    _auth_test(respx_mock)
    channels = [
        {"id": "C0AAAAAAA", "name": "incidents", "is_member": True},
        {"id": "C0BBBBBBB", "name": "random", "is_member": False},
    ]
    listing = respx_mock.get("/api/conversations.list").mock(
        side_effect=[
            _ok(channels=channels[:1], response_metadata={"next_cursor": "page2"}),
            _ok(channels=channels[1:], response_metadata={"next_cursor": ""}),
        ]
        * 3
    )
    empty = {"ok": True, "messages": [], "has_more": False, "response_metadata": {"next_cursor": ""}}
    history = respx_mock.get("/api/conversations.history").mock(return_value=httpx.Response(200, json=empty))

    pages = await _pages(_connector(channels=["#random", "C0ZZZZZZZ"]))
    assert list(dict.fromkeys(p.stream for p in pages)) == ["messages:C0ZZZZZZZ", "messages:C0BBBBBBB"]
    assert listing.calls[0].request.url.params["types"] == "public_channel,private_channel"
    assert listing.calls[1].request.url.params["cursor"] == "page2"

    pages = await _pages(_connector())  # none configured: the channels the app is a member of
    assert {p.stream for p in pages} == {"messages:C0AAAAAAA"}
    with pytest.raises(VendorError, match=r"'nope' in sources\.slack\.channels not found"):
        await _pages(_connector(channels=["nope"]))
    assert history.call_count == 3


def test_settings_defaults_and_lookback() -> None:
    settings = SlackSettings(token="x", thread_lookback="3d")
    assert str(settings.base_url) == "https://slack.com/" and settings.thread_lookback.days == 3
    assert settings.channels == []
    with pytest.raises(ValueError):
        SlackSettings(token="x", thread_lookback="soon")


def test_tier3_methods_are_paced_each_on_its_own_and_the_pace_is_configurable() -> None:
    budget = _connector().client().budget  # Slack sends no remaining count: the client paces itself
    assert budget._intervals("/api/conversations.history") == [("*/api/conversations.history", 1.3)]
    assert budget._intervals("/api/conversations.replies") == [("*/api/conversations.replies", 1.3)]
    assert budget._intervals("/slack/api/conversations.replies") == [("*/api/conversations.replies", 1.3)]
    assert budget._intervals("/api/users.info") == [] and budget._intervals("/api/auth.test") == []
    assert _connector(tier3_interval_s=0).client().budget._intervals("/api/conversations.history") == []
    with pytest.raises(ValidationError):
        SlackSettings(token="x", tier3_interval_s=-1)
