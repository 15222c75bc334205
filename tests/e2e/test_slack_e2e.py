"""Slack end to end: the real connector against the emulated Web API over 127.0.0.1, with faults on."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from caseline.connectors.slack import Slack
from caseline.emulator import Faults, RateLimit, RateLimits, World, make_world, serve
from caseline.evidence import Account, Evidence
from caseline.store import open_store
from tests.e2e._emulated import compressed_time, settings_for, stored, sync

__all__ = ["compressed_time"]

pytestmark = pytest.mark.usefixtures("compressed_time")


class Recording(Slack):
    """The real connector, noting which messages each sync handed to `map`."""

    seen: list[str] = []  # reset per test

    def map(self, raw: Mapping[str, Any]) -> Evidence | Account | None:
        what = raw.get("message") or raw.get("gone") or {}
        type(self).seen.append(f"{raw.get('channel')}:{what.get('ts')}")
        return super().map(raw)


def _world() -> World:
    return make_world(seed=5, zendesk_tickets=0, intercom_conversations=0, hubspot_tickets=0, hubspot_notes=0,
                      slack_messages=36)  # fmt: skip


def _expected(world: World) -> dict[str, list[str]]:
    """Evidence id → the ts of its replies, from the world: top-level messages of member channels."""
    members = {c["id"] for c in world.all("slack", "channels") if c["is_member"]}
    messages = [m for m in world.all("slack", "messages") if m["channel"] in members]
    top = [m for m in messages if m.get("thread_ts") in (None, m["ts"])]
    out: dict[str, list[str]] = {f"slack:message:{m['channel']}:{m['ts']}": [] for m in top}
    for m in messages:
        if m.get("thread_ts") not in (None, m["ts"]):
            out[f"slack:message:{m['channel']}:{m['thread_ts']}"].append(m["ts"])
    return {k: sorted(v, key=float) for k, v in out.items()}


@pytest.mark.slow
async def test_faults_then_edits_late_replies_and_deletions(tmp_path: Path) -> None:
    world = _world()
    faults = Faults(seed=4, error_rate=0.1, reset_rate=0.08, vendors=["slack"])
    limits = RateLimits(slack=RateLimit(requests=4, per_seconds=0.25))  # the replies fan-out (8 at once) trips it
    store = open_store(f"sqlite:///{tmp_path / 'slack.db'}")
    with serve(world, faults=faults, limits=limits) as emu:
        settings = settings_for(emu, store, {"slack": {"thread_lookback": "45d"}})
        Recording.seen = []
        (first,) = await sync(settings, store, connectors={"slack": Recording})
        assert first.error is None and first.failed == 0
        assert emu.stats.rate_limited["slack"] > 0 and emu.stats.faults["error"] > 0
        assert emu.stats.faults["reset"] + emu.stats.faults["reset_mid_body"] > 0
        assert not emu.stats.crashes

        expected = _expected(world)
        got = stored(store, "slack")
        assert sorted(got) == sorted(expected)  # every top-level message of the member channels, once
        assert {k: [a.native_id for a in e.activities] for k, e in got.items()} == expected
        assert all(e.url and e.url.startswith("https://example.slack.com/archives/") for e in got.values())
        assert all(a.actor is not None and a.actor.name for e in got.values() for a in e.activities)

        threads = sorted((k for k, v in expected.items() if v), key=lambda k: float(k.rsplit(":", 1)[1]))
        singles = sorted((k for k, v in expected.items() if not v), key=lambda k: float(k.rsplit(":", 1)[1]))
        old_thread, dead_parent, edited, dead = threads[0], threads[1], singles[0], singles[1]
        key = lambda evidence_id: evidence_id.split(":", 2)[2]  # noqa: E731 - world key "C…:ts"
        world.edit("slack", "messages", key(edited), text="Edited: checkout is back")
        late = world.add_comment("slack", "messages", key(old_thread), "Late reply: root cause found in OPS-9")
        world.delete("slack", "messages", key(dead))
        world.delete("slack", "messages", key(dead_parent))  # replies remain: a tombstone
        new_ts = f"{int(world.now.timestamp()) + 5}.000777"
        text = "New: errors again on https://example.zendesk.com/agent/tickets/3"
        world.upsert("slack", "messages", {"channel": "C0INCIDNT", "ts": new_ts, "user": "U0AGENT00", "text": text})

        Recording.seen = []
        (second,) = await sync(settings, store, connectors={"slack": Recording})
        assert second.error is None and second.failed == 0

    changed = {key(old_thread), key(dead_parent), key(edited), key(dead), f"C0INCIDNT:{new_ts}"}
    assert set(Recording.seen) == changed  # unchanged messages were not re-read, let alone re-stored
    after = stored(store, "slack")
    assert sorted(after) == sorted([*expected, f"slack:message:C0INCIDNT:{new_ts}"])  # still exactly once
    assert after[edited].body == "Edited: checkout is back" and after[edited].updated_at > got[edited].updated_at
    assert after[old_thread].activities[-1].native_id == late["ts"] and "jira:issue:OPS-9" in after[old_thread].links
    assert after[dead].deleted and after[dead_parent].deleted
    assert [a.native_id for a in after[dead_parent].activities] == expected[dead_parent]  # replies kept
    assert after[f"slack:message:C0INCIDNT:{new_ts}"].links == ["zendesk:ticket:3"]
    untouched = set(expected) - {old_thread, dead_parent, edited, dead}
    assert all(after[i] == got[i] for i in untouched)
    cursor = store.cursors("slack")["messages:C0INCIDNT"]
    assert cursor["ts"] == new_ts and isinstance(cursor["ts"], str)


async def test_names_resolve_and_membership_is_enforced(tmp_path: Path) -> None:
    world = _world()
    store = open_store(f"sqlite:///{tmp_path / 'names.db'}")
    with serve(world) as emu:
        settings = settings_for(emu, store, {"slack": {"channels": ["#support-escalations"]}})
        (report,) = await sync(settings, store)
        assert report.error is None
        assert {e.id.split(":")[2] for e in stored(store, "slack").values()} == {"C0SUPPORT"}
        assert all(e.tags == ["#support-escalations"] for e in stored(store, "slack").values())
        outsider = settings_for(emu, store, {"slack": {"channels": ["C0RANDOM1"]}})
        (refused,) = await sync(outsider, store)
        assert refused.error == "slack: conversations.history answered ok=false: not_in_channel"
        wrong = settings_for(emu, store, {"slack": {"token": "xoxb-wrong"}})
        (denied,) = await sync(wrong, store)
        assert denied.credentials_rejected and "check sources.slack.token" in (denied.error or "")
