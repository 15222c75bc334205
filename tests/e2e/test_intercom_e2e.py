"""Intercom end to end: the real connector syncs from the emulator over 127.0.0.1 sockets, faults on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from caseline.accounts import domain_of
from caseline.config import Settings, parse_settings
from caseline.connectors import budget, intercom
from caseline.connectors.http import VendorClient
from caseline.connectors.intercom import LOOKBACK_S, Intercom
from caseline.connectors.retry import set_testing
from caseline.connectors.sync import run_sync
from caseline.emulator import Emulator, Faults, RateLimit, RateLimits, World, make_world, serve
from caseline.emulator.generate import DEFAULT_CREDENTIALS
from caseline.evidence import Account, Evidence
from caseline.store import Store, open_store
from tests.e2e._emulated import FailingStore

CREDENTIALS = DEFAULT_CREDENTIALS["intercom"]


@pytest.fixture(autouse=True)
def _compressed_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Waits run at 1/4 speed (a 429 waits for X-RateLimit-Reset, at least 1 s); proactive throttling is
    off, since the emulator's limits are what these tests are about."""
    set_testing(True, scale=0.25)
    monkeypatch.setattr(budget, "_enabled", False)
    yield
    set_testing(False)


def _settings(emu: Emulator, store_url: str) -> Settings:
    table = {"base_url": emu.base_url("intercom"), "token": CREDENTIALS["token"], "app_id": "emulator-app"}
    return parse_settings({"store": {"url": store_url}, "sources": {"intercom": table}})


class Recording(Intercom):
    """The real connector with small search pages, noting which conversations each sync handed to `map`."""

    page_size = 10
    seen: list[str] = []  # reset per test

    def map(self, raw: Mapping[str, Any]) -> Evidence | Account | None:
        if isinstance(raw.get("conversation"), Mapping) and raw["conversation"].get("id"):
            type(self).seen.append(str(raw["conversation"]["id"]))
        return super().map(raw)


def _world(seed: int, conversations: int) -> World:
    return make_world(seed=seed, zendesk_tickets=0, intercom_conversations=conversations, hubspot_tickets=0,
                      hubspot_notes=0)  # fmt: skip


def _stored(store: Store) -> dict[str, Evidence]:
    found = store.query_evidence(sources=["intercom"], include_deleted=True, with_activities=True)
    return {e.native_id: e for e in found}


def _check_against_world(world: World, stored: Mapping[str, Evidence]) -> None:
    """Every conversation once, with its state, title, reporter, parts and account."""
    conversations = {c["id"]: c for c in world.all("intercom", "conversations")}
    assert sorted(stored) == sorted(conversations)
    contacts = {c["id"]: c for c in world.all("intercom", "contacts")}
    websites = {c["id"]: domain_of(c["website"]) for c in world.all("intercom", "companies")}
    for cid, conversation in conversations.items():
        item = stored[cid]
        assert item.status == conversation["state"] and item.title == conversation["title"]
        assert item.url == f"https://app.intercom.com/a/inbox/emulator-app/inbox/conversation/{cid}"
        parts = conversation["conversation_parts"]["conversation_parts"]
        assert [a.native_id for a in item.activities] == [p["id"] for p in parts]
        contact = contacts[conversation["source"]["author"]["id"]]
        assert item.author is not None and item.author.email == contact["email"]
        employer = [websites[c["id"]] for c in contact["companies"]["data"]]
        assert item.account == (employer[0] if employer else None)  # free-mail reporters: no account


@pytest.mark.slow
async def test_sync_with_faults_is_exact_then_incremental(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Recording.seen = []
    world = _world(seed=5, conversations=30)
    faults = Faults(seed=13, error_rate=0.05, reset_rate=0.05, vendors=["intercom"])
    limits = RateLimits(intercom=RateLimit(requests=10, per_seconds=0.2))
    store = open_store(f"sqlite:///{tmp_path / 'e2e.db'}")
    with serve(world, faults=faults, limits=limits) as emu:
        settings = _settings(emu, str(store.engine.url))
        (first,) = await run_sync(settings, store, connectors={"intercom": Recording})
        assert first.error is None and first.failed == 0
        # the faults really happened: 429s, 5xx, resets; every request pinned the API version
        assert emu.stats.rate_limited["intercom"] > 0 and emu.stats.faults["error"] > 0
        assert emu.stats.faults["reset"] + emu.stats.faults["reset_mid_body"] > 0
        assert not emu.stats.crashes
        assert set(emu.stats.notes) == {"intercom Intercom-Version=2.11"}
        before = _stored(store)
        _check_against_world(world, before)
        companies = {domain_of(c["website"]) for c in world.all("intercom", "companies")}
        assert {a.key for a in store.accounts()} <= companies and store.accounts()

        # edits: a state change and a new title, a new reply, and a conversation deleted between the search
        # and its retrieval (the 404 makes a tombstone)
        watermark = store.cursors("intercom")["conversations"]["updated_at"]
        rereads = {c["id"] for c in world.all("intercom", "conversations") if c["updated_at"] >= watermark - LOOKBACK_S}
        ids = sorted(before, key=int)
        world.edit("intercom", "conversations", ids[0], state="closed", title="Checkout fixed")
        world.add_comment("intercom", "conversations", ids[1], "We rolled back the deploy.", public=True)
        world.edit("intercom", "conversations", ids[2], read=True)  # bumps updated_at: found by the search
        real = intercom._with_parts

        async def deleted_meanwhile(api: VendorClient, summary: Mapping[str, Any]) -> dict[str, Any]:
            if summary.get("id") == ids[2] and world.get("intercom", "conversations", ids[2]):
                world.delete("intercom", "conversations", ids[2])
            return await real(api, summary)

        monkeypatch.setattr(intercom, "_with_parts", deleted_meanwhile)
        Recording.seen = []
        (second,) = await run_sync(settings, store, connectors={"intercom": Recording})
        assert second.error is None and second.failed == 0

    # only what changed (and what sat within the lookback of the watermark) was fetched again
    assert set(Recording.seen) == set(ids[:3]) | rereads
    assert second.stored == 3
    after = _stored(store)
    assert sorted(after) == sorted(before)  # still exactly once
    edited = after[ids[0]]
    assert edited.status == "closed" and edited.title == "Checkout fixed"
    commented = after[ids[1]]
    assert commented.activities[-1].text == "We rolled back the deploy." and commented.activities[-1].type == "comment"
    assert after[ids[2]].deleted and not before[ids[2]].deleted
    assert all(after[i] == before[i] for i in ids[3:])


def _snapshot(store: Store) -> tuple[dict[str, Any], list[Account]]:
    found = store.query_evidence(include_deleted=True, with_activities=True)
    return {e.id: e.model_dump(mode="json") for e in found}, store.accounts()


@pytest.mark.slow
async def test_interrupted_sync_then_rerun_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    world = _world(seed=8, conversations=30)  # 3 search pages of 10
    clean = open_store(f"sqlite:///{tmp_path / 'clean.db'}")
    crashed = open_store(f"sqlite:///{tmp_path / 'crashed.db'}")
    with serve(world) as emu:
        (whole,) = await run_sync(_settings(emu, "sqlite://"), clean, connectors={"intercom": Recording})
        assert whole.error is None
        settings = _settings(emu, "sqlite://")
        (broken,) = await run_sync(settings, FailingStore(crashed, 1), connectors={"intercom": Recording})
        assert broken.error is not None and "injected crash" in broken.error
        assert 0 < crashed.count_evidence() < clean.count_evidence()  # the first page landed
        assert crashed.cursors("intercom") == {}  # ...without a watermark: search order is not by time
        (rerun,) = await run_sync(settings, crashed, connectors={"intercom": Recording})
        assert rerun.error is None and not emu.stats.crashes
    assert _snapshot(crashed) == _snapshot(clean)
    assert crashed.cursors("intercom") == clean.cursors("intercom")


@pytest.mark.slow
async def test_malformed_items_are_quarantined_and_read_again_next_time(tmp_path: Path) -> None:
    world = _world(seed=21, conversations=30)
    store = open_store(f"sqlite:///{tmp_path / 'malformed.db'}")
    with serve(world, faults=Faults(seed=4, malformed_rate=0.2, vendors=["intercom"])) as emu:
        settings = _settings(emu, str(store.engine.url))
        (first,) = await run_sync(settings, store, connectors={"intercom": Recording})
        assert first.error is None and emu.stats.faults["malformed"] > 0 and not emu.stats.crashes
        assert first.failed > 0 and len(store.quarantined("intercom")) == first.failed
        assert set(_stored(store)) < {c["id"] for c in world.all("intercom", "conversations")}
        emu.faults = None  # the vendor behaves again: the window the unreadable items were in is read again
        (second,) = await run_sync(settings, store, connectors={"intercom": Recording})
        assert second.error is None and second.failed == 0
    _check_against_world(world, _stored(store))
