"""The emulated Slack Web API: ok/error envelopes, history windows and cursors, threads, users, permalinks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from caseline.emulator import RateLimit, RateLimits, World, serve
from caseline.emulator.generate import DEFAULT_CREDENTIALS

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HEADERS = {"Authorization": f"Bearer {DEFAULT_CREDENTIALS['slack']['token']}"}


def _world() -> World:
    messages: list[dict[str, Any]] = [
        {"channel": "C0MAIN000", "ts": f"17723600{n:02d}.000100", "user": "U1", "text": f"message {n}"}
        for n in range(7)
    ]
    messages += [{"channel": "C0MAIN000", "ts": f"17723601{n:02d}.000100", "thread_ts": "1772360001.000100",
                  "user": "U2", "text": f"reply {n}"} for n in range(3)]  # fmt: skip
    return World.from_dict({
        "credentials": {"slack": DEFAULT_CREDENTIALS["slack"]},
        "settings": {"slack": {"workspace": "acme"}},
        "vendors": {"slack": {
            "channels": [{"id": "C0MAIN000", "name": "incidents"},
                         {"id": "C0OTHER00", "name": "ops", "is_private": True},
                         {"id": "C0OUTSIDE", "name": "random", "is_member": False}],
            "users": [{"id": "U1", "name": "kemi",
                       "profile": {"real_name": "Kemi Okafor", "email": "kemi@acme.com"}}],
            "messages": messages,
        }},
    }, now=NOW)  # fmt: skip


@pytest.fixture
def slack() -> Iterator[tuple[World, httpx.Client]]:
    world = _world()
    with serve(world) as emu, httpx.Client(base_url=emu.base_url("slack"), headers=HEADERS, timeout=5) as client:
        yield world, client
        assert emu.stats.crashes == []


def _get(client: httpx.Client, method: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/{method}", params=params)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_auth_test_and_bad_tokens(slack: tuple[World, httpx.Client]) -> None:
    _, client = slack
    assert _get(client, "auth.test")["url"] == "https://acme.slack.com/"
    denied = client.get("/api/auth.test", headers={"Authorization": "Bearer nope"})
    assert denied.status_code == 200 and denied.json() == {"ok": False, "error": "invalid_auth"}
    assert _get(client, "no.such.method") == {"ok": False, "error": "unknown_method"}


def test_history_is_newest_first_windowed_and_paged(slack: tuple[World, httpx.Client]) -> None:
    _, client = slack
    everything = _get(client, "conversations.history", channel="C0MAIN000")
    stamps = [m["ts"] for m in everything["messages"]]
    assert stamps == sorted(stamps, key=Decimal, reverse=True) and len(stamps) == 7  # replies are not history
    parent = next(m for m in everything["messages"] if m["ts"] == "1772360001.000100")
    assert parent["reply_count"] == 3 and parent["latest_reply"] == "1772360102.000100"
    assert parent["thread_ts"] == parent["ts"] and "channel" not in parent
    window = _get(client, "conversations.history", channel="C0MAIN000", oldest="1772360001.000100",
                  latest="1772360005.000100")  # fmt: skip
    assert [m["ts"][8:10] for m in window["messages"]] == ["04", "03", "02"]  # both ends exclusive
    inclusive = _get(client, "conversations.history", channel="C0MAIN000", oldest="1772360001.000100",
                     latest="1772360005.000100", inclusive="true")  # fmt: skip
    assert len(inclusive["messages"]) == 5
    seen, cursor = [], None
    while True:
        more: dict[str, str] = {"cursor": cursor} if cursor else {}
        page = _get(client, "conversations.history", channel="C0MAIN000", limit=3, **more)
        seen += [m["ts"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] == bool(cursor)
        if not cursor:
            break
    assert seen == stamps
    assert _get(client, "conversations.history", channel="C0MAIN000", cursor="garbage")["error"] == "invalid_cursor"
    assert _get(client, "conversations.history", channel="C0OUTSIDE")["error"] == "not_in_channel"
    assert _get(client, "conversations.history", channel="C0NOPE000")["error"] == "channel_not_found"


def test_replies_users_permalinks_and_channel_listing(slack: tuple[World, httpx.Client]) -> None:
    _, client = slack
    thread = _get(client, "conversations.replies", channel="C0MAIN000", ts="1772360001.000100")
    assert [m["text"] for m in thread["messages"]] == ["message 1", "reply 0", "reply 1", "reply 2"]
    assert _get(client, "conversations.replies", channel="C0MAIN000", ts="1.000000")["error"] == "thread_not_found"
    assert _get(client, "users.info", user="U1")["user"]["profile"]["real_name"] == "Kemi Okafor"
    assert _get(client, "users.info", user="U404")["error"] == "user_not_found"
    link = _get(client, "chat.getPermalink", channel="C0MAIN000", message_ts="1772360101.000100")["permalink"]
    assert link == ("https://acme.slack.com/archives/C0MAIN000/p1772360101000100"
                    "?thread_ts=1772360001.000100&cid=C0MAIN000")  # fmt: skip
    public = _get(client, "conversations.list", types="public_channel")["channels"]
    both = _get(client, "conversations.list", types="public_channel,private_channel", limit=2)
    assert [c["id"] for c in public] == ["C0MAIN000", "C0OUTSIDE"]
    assert len(both["channels"]) == 2 and both["response_metadata"]["next_cursor"]


def test_edits_late_replies_and_deletions(slack: tuple[World, httpx.Client]) -> None:
    world, client = slack
    world.edit("slack", "messages", "C0MAIN000:1772360003.000100", text="message 3, edited")
    world.add_comment("slack", "messages", "C0MAIN000:1772360005.000100", "late reply", author="U1")
    world.delete("slack", "messages", "C0MAIN000:1772360001.000100")  # has replies: a tombstone
    world.delete("slack", "messages", "C0MAIN000:1772360006.000100")  # gone
    by_ts = {m["ts"]: m for m in _get(client, "conversations.history", channel="C0MAIN000")["messages"]}
    assert by_ts["1772360003.000100"]["edited"]["ts"] > "1772360003.000100"
    assert by_ts["1772360005.000100"]["reply_count"] == 1
    assert by_ts["1772360001.000100"]["subtype"] == "tombstone" and by_ts["1772360001.000100"]["reply_count"] == 3
    assert "1772360006.000100" not in by_ts


def test_rate_limit_is_a_429_with_retry_after() -> None:
    limits = RateLimits(slack=RateLimit(requests=1, per_seconds=60))
    with serve(_world(), limits=limits) as emu, httpx.Client(base_url=emu.base_url("slack"), headers=HEADERS) as client:
        assert client.get("/api/auth.test").status_code == 200
        limited = client.get("/api/auth.test")
    assert limited.status_code == 429 and limited.json() == {"ok": False, "error": "ratelimited"}
    assert int(limited.headers["Retry-After"]) >= 1
