"""Zendesk end to end: the real connector syncs from the emulator over 127.0.0.1 sockets, faults on."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from caseline.config import Settings, parse_settings
from caseline.connectors import budget
from caseline.connectors.retry import set_testing
from caseline.connectors.sync import run_sync
from caseline.connectors.zendesk import Zendesk
from caseline.emulator import Emulator, Faults, RateLimit, RateLimits, World, make_world, serve
from caseline.emulator.generate import DEFAULT_CREDENTIALS
from caseline.evidence import Account, Evidence
from caseline.store import Store, open_store
from tests.cli_helpers import run_cli

CREDENTIALS = DEFAULT_CREDENTIALS["zendesk"]


@pytest.fixture(autouse=True)
def _compressed_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Retry waits run at 1/4 speed (a 429's Retry-After: 1 still outlasts the emulator's 0.2 s window);
    proactive throttling is off, since the emulator's limits are what this test is about."""
    set_testing(True, scale=0.25)
    monkeypatch.setattr(budget, "_enabled", False)
    yield
    set_testing(False)


def _settings(emu: Emulator, store_url: str, token: str = CREDENTIALS["token"]) -> Settings:
    table = {"base_url": emu.base_url("zendesk"), "email": CREDENTIALS["email"], "token": token}
    return parse_settings({"store": {"url": store_url}, "sources": {"zendesk": table}})


class Recording(Zendesk):
    """The real connector, noting which tickets each sync handed to `map`."""

    seen: list[int] = []

    def map(self, raw: Mapping[str, Any]) -> Evidence | Account | None:
        if "ticket" in raw:
            type(self).seen.append(int(raw["ticket"]["id"]))
        return super().map(raw)


def _world_tickets(world: World) -> dict[str, dict[str, Any]]:
    return {f"zendesk:ticket:{t['id']}": t for t in world.all("zendesk", "tickets")}


def _comment_ids(ticket: Mapping[str, Any]) -> list[str]:
    """The comments that become activities: all but a first one that repeats the description."""
    comments = ticket["comments"]
    first_is_description = bool(comments) and comments[0]["body"].split() == (ticket.get("description") or "").split()
    return [str(c["id"]) for c in comments[1 if first_is_description else 0 :]]


def _stored(store: Store) -> dict[str, Evidence]:
    return {e.id: e for e in store.query_evidence(sources=["zendesk"], include_deleted=True, with_activities=True)}


@pytest.mark.slow
async def test_sync_with_faults_is_exact_then_incremental(tmp_path: Path) -> None:
    Recording.seen = []
    world = make_world(seed=7, zendesk_tickets=40, intercom_conversations=0, hubspot_tickets=0, hubspot_notes=0)
    faults = Faults(seed=11, error_rate=0.08, reset_rate=0.06, vendors=["zendesk"])
    limits = RateLimits(zendesk=RateLimit(requests=12, per_seconds=0.2))
    store = open_store(f"sqlite:///{tmp_path / 'e2e.db'}")
    with serve(world, faults=faults, limits=limits) as emu:
        settings = _settings(emu, str(store.engine.url))
        (first,) = await run_sync(settings, store, connectors={"zendesk": Recording})
        assert first.error is None and first.failed == 0
        # the faults really happened: 429s, 5xx, connections reset before or in the middle of a body
        assert emu.stats.rate_limited["zendesk"] > 0 and emu.stats.faults["error"] > 0
        assert emu.stats.faults["reset"] + emu.stats.faults["reset_mid_body"] > 0
        assert not emu.stats.crashes

        expected = _world_tickets(world)
        stored = _stored(store)
        assert sorted(stored) == sorted(expected)  # every ticket, exactly once
        for evidence_id, ticket in expected.items():
            item = stored[evidence_id]
            assert item.status == ticket["status"] and item.title == ticket["subject"]
            assert [a.native_id for a in item.activities if a.type in {"comment", "note"}] == _comment_ids(ticket)
            changes = [e for a in ticket["audits"] for e in a["events"] if e["type"] == "Change"]
            assert len([a for a in item.activities if a.type == "status_change"]) == len(
                [e for e in changes if e["field_name"] == "status"]
            )
        orgs = {o["domain_names"][0] for o in world.all("zendesk", "organizations")}
        assert {a.key for a in store.accounts()} <= orgs and store.accounts()

        # edits: a status change, a new comment, a deletion; nothing else changes
        ids = sorted(int(t["id"]) for t in expected.values())
        world.edit("zendesk", "tickets", ids[0], status="solved", subject="Checkout fixed")
        world.add_comment("zendesk", "tickets", ids[1], "We rolled back the deploy.", public=True)
        world.delete("zendesk", "tickets", ids[2])
        Recording.seen = []
        (second,) = await run_sync(settings, store, connectors={"zendesk": Recording})
        assert second.error is None and second.failed == 0

    assert sorted(set(Recording.seen)) == ids[:3]  # only what changed was fetched
    assert second.stored == 3
    after = _stored(store)
    assert sorted(after) == sorted(expected)  # still exactly once
    edited = after[f"zendesk:ticket:{ids[0]}"]
    assert edited.status == "solved" and edited.title == "Checkout fixed"
    assert [(a.from_status, a.to_status) for a in edited.activities if a.type == "status_change"][-1][1] == "solved"
    commented = after[f"zendesk:ticket:{ids[1]}"]
    assert commented.activities[-1].text == "We rolled back the deploy."
    assert after[f"zendesk:ticket:{ids[2]}"].deleted
    assert all(after[f"zendesk:ticket:{i}"] == stored[f"zendesk:ticket:{i}"] for i in ids[3:])


def test_cli_sync_json_against_the_emulator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    world = make_world(seed=3, zendesk_tickets=8, intercom_conversations=0, hubspot_tickets=0, hubspot_notes=0)
    with serve(world) as emu:
        config = tmp_path / "caseline.toml"
        config.write_text(
            f'[store]\nurl = "sqlite:///{tmp_path / "cli.db"}"\n\n[sources.zendesk]\n'
            f'base_url = "{emu.base_url("zendesk")}"\nemail = "{CREDENTIALS["email"]}"\ntoken = "${{ZD_TOKEN}}"\n'
        )
        with pytest.MonkeyPatch.context() as env:
            env.setenv("ZD_TOKEN", CREDENTIALS["token"])
            ok = run_cli(capsys, "sync", "--json", "--config", str(config))
            env.setenv("ZD_TOKEN", "wrong-token")
            rejected = run_cli(capsys, "sync", "--json", "--config", str(config))
    assert ok.code == 0, ok.err
    assert json.loads(ok.out) == [{"source": "zendesk", "fetched": json.loads(ok.out)[0]["fetched"], "stored": 8,
                                   "failed": 0, "error": None}]  # fmt: skip
    assert json.loads(ok.out)[0]["fetched"] >= 8  # tickets plus their organizations
    store = open_store(f"sqlite:///{tmp_path / 'cli.db'}")
    reports = [e for e in store.query_evidence(sources=["zendesk"]) if e.account_ref]
    assert reports and all(e.account for e in reports)  # account resolution ran after the sync
    # the only source rejects its credentials: exit 2, the key is named, the token never shown
    assert rejected.code == 2
    assert (
        "caseline: error: zendesk: 401 Unauthorized on GET /zendesk/api/v2/incremental/tickets/cursor.json"
        in rejected.err
    )
    assert "check sources.zendesk.token" in rejected.err and "wrong-token" not in rejected.err + rejected.out
