"""HubSpot end to end: the real connector syncs from the emulator over 127.0.0.1 sockets, faults on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from caseline.config import Settings, parse_settings
from caseline.connectors import budget
from caseline.connectors.hubspot import LOOKBACK_MS, HubSpot
from caseline.connectors.hubspot_map import millis
from caseline.connectors.retry import set_testing
from caseline.connectors.sync import run_sync
from caseline.emulator import Emulator, Faults, RateLimit, RateLimits, World, make_world, serve
from caseline.emulator.generate import DEFAULT_CREDENTIALS
from caseline.evidence import Account, Evidence
from caseline.store import Store, open_store
from tests.e2e._emulated import FailingStore

TOKEN = DEFAULT_CREDENTIALS["hubspot"]["token"]


@pytest.fixture(autouse=True)
def _compressed_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Back-off waits at 1/4 speed (HubSpot's 429 names no wait: 1 s back-off still outlasts the 0.2 s
    window); proactive throttling (the search interval) is off: the emulator's limits are the test."""
    set_testing(True, scale=0.25)
    monkeypatch.setattr(budget, "_enabled", False)
    yield
    set_testing(False)


def _table(emu: Emulator) -> dict[str, Any]:
    return {"base_url": emu.base_url("hubspot"), "token": TOKEN, "plan_property": "plan_tier", "portal_id": "4242"}


def _settings(emu: Emulator, **more: Any) -> Settings:
    return parse_settings({"sources": {"hubspot": _table(emu), **more}})


class Recording(HubSpot):
    """The real connector with small pages and a small result cap (so windows move), noting what it mapped."""

    page_size, search_cap = 4, 10
    seen: list[str] = []  # reset per test

    def map(self, raw: Mapping[str, Any]) -> Evidence | Account | None:
        for kind in ("ticket", "note"):
            if isinstance(raw.get(kind), Mapping) and raw[kind].get("id"):
                type(self).seen.append(f"{kind}:{raw[kind]['id']}")
        return super().map(raw)


def _world(seed: int, tickets: int, notes: int, cap: int = 10) -> World:
    world = make_world(seed=seed, zendesk_tickets=0, intercom_conversations=0, hubspot_tickets=tickets,
                       hubspot_notes=notes)  # fmt: skip
    world.settings["hubspot"]["search_cap"] = cap  # the emulator answers 400 past it, like the 10,000 cap
    return world


def _stored(store: Store) -> dict[str, Evidence]:
    return {e.id: e for e in store.query_evidence(sources=["hubspot"], include_deleted=True)}


def _check_against_world(world: World, store: Store) -> None:
    """Every ticket and note once, with its fields, links, account and the account's plan and ARR."""
    stored = _stored(store)
    tickets = {f"hubspot:ticket:{t['id']}": t for t in world.all("hubspot", "tickets")}
    notes = {f"hubspot:note:{n['id']}": n for n in world.all("hubspot", "notes")}
    assert sorted(stored) == sorted([*tickets, *notes])
    companies = {c["id"]: c["properties"] for c in world.all("hubspot", "companies")}
    contacts = {c["id"]: c["properties"] for c in world.all("hubspot", "contacts")}
    links: dict[tuple[str, str, str], list[str]] = {}
    for a in world.all("hubspot", "associations"):
        links.setdefault((a["fromObjectType"], a["fromObjectId"], a["toObjectType"]), []).append(a["toObjectId"])
        links.setdefault((a["toObjectType"], a["toObjectId"], a["fromObjectType"]), []).append(a["fromObjectId"])
    for evidence_id, ticket in tickets.items():
        item = stored[evidence_id]
        assert item.title == ticket["properties"]["subject"] and item.deleted == ticket["archived"]
        assert item.url == f"https://app.hubspot.com/contacts/4242/record/0-5/{ticket['id']}"
        if ticket["archived"]:
            continue
        (contact,) = links[("tickets", ticket["id"], "contacts")]
        assert item.author is not None and item.author.email == contacts[contact]["email"]
        company = links.get(("tickets", ticket["id"], "companies"))
        assert item.account == (companies[company[0]]["domain"] if company else None)
    owners = {o["id"]: o for o in world.all("hubspot", "owners")}
    stages = {"1": "New", "2": "Waiting on contact", "3": "Waiting on us", "4": "Closed"}  # the default pipeline
    for evidence_id, ticket in tickets.items():
        if not ticket["archived"]:
            assert stored[evidence_id].status == stages[ticket["properties"]["hs_pipeline_stage"]]
    for evidence_id, note in notes.items():
        item = stored[evidence_id]
        assert item.deleted == note["archived"] and not item.is_report
        if not note["archived"] and (owner := owners.get(note["properties"].get("hubspot_owner_id") or "")):
            assert item.author is not None and item.author.email == owner["email"]  # the note's owner
        if not note["archived"]:
            parents = links.get(("notes", note["id"], "tickets"), [])
            assert [link for link in item.links if link.startswith("hubspot:ticket:")] == [
                f"hubspot:ticket:{t}" for t in parents
            ]
    for account in store.accounts():  # plan and ARR from the configured company properties
        (company,) = [c for c in companies.values() if c["domain"] == account.key]
        assert account.plan == company["plan_tier"] and account.arr == float(company["annualrevenue"])


@pytest.mark.slow
async def test_sync_with_faults_is_exact_then_incremental(tmp_path: Path) -> None:
    Recording.seen = []
    world = _world(seed=9, tickets=14, notes=18)
    faults = Faults(seed=17, error_rate=0.05, reset_rate=0.05, vendors=["hubspot"])
    limits = RateLimits(hubspot=RateLimit(requests=10, per_seconds=0.2))  # TEN_SECONDLY_ROLLING 429s
    store = open_store(f"sqlite:///{tmp_path / 'e2e.db'}")
    with serve(world, faults=faults, limits=limits) as emu:
        settings = _settings(emu)
        (first,) = await run_sync(settings, store, connectors={"hubspot": Recording})
        assert first.error is None and first.failed == 0
        assert emu.stats.rate_limited["hubspot"] > 0 and emu.stats.faults["error"] > 0
        assert emu.stats.faults["reset"] + emu.stats.faults["reset_mid_body"] > 0
        assert not emu.stats.crashes
        _check_against_world(world, store)
        before = _stored(store)
        assert {a.key for a in store.accounts()} == {
            c["properties"]["domain"] for c in world.all("hubspot", "companies")
        }

        # lookback: what sat within a minute of each cursor is read again, and nothing else unchanged
        cursors = store.cursors("hubspot")
        rereads = {f"{kind[:-1]}:{r['id']}" for kind in ("tickets", "notes") for r in world.all("hubspot", kind)
                   if millis(r["properties"]["hs_lastmodifieddate"]) >= millis(cursors[kind]["modified"]) - LOOKBACK_MS}  # type: ignore[operator]  # fmt: skip
        tickets = sorted(i.split(":")[2] for i in before if i.startswith("hubspot:ticket:"))
        notes = sorted(i.split(":")[2] for i in before if i.startswith("hubspot:note:"))
        world.edit("hubspot", "tickets", tickets[0], properties={"subject": "Checkout fixed", "hs_pipeline_stage": "4"})
        new_note = world.add_comment("hubspot", "tickets", tickets[1], "Call: customer confirms the fix.")
        world.delete("hubspot", "tickets", tickets[2])
        world.delete("hubspot", "notes", notes[0])
        Recording.seen = []
        (second,) = await run_sync(settings, store, connectors={"hubspot": Recording})
        assert second.error is None and second.failed == 0

    changed = {f"ticket:{t}" for t in tickets[:3]} | {f"note:{new_note['id']}", f"note:{notes[0]}"}
    assert set(Recording.seen) == changed | rereads  # only what changed (and the lookback) was fetched
    assert second.stored == 5
    _check_against_world(world, store)
    after = _stored(store)
    edited = after[f"hubspot:ticket:{tickets[0]}"]
    assert edited.title == "Checkout fixed" and edited.status == "Closed"  # the stage's label, not its id
    assert after[f"hubspot:note:{new_note['id']}"].links == [f"hubspot:ticket:{tickets[1]}"]
    assert after[f"hubspot:note:{new_note['id']}"].account == after[f"hubspot:ticket:{tickets[1]}"].account
    assert after[f"hubspot:ticket:{tickets[2]}"].deleted and after[f"hubspot:note:{notes[0]}"].deleted
    untouched = set(before) - {f"hubspot:{c}" for c in changed}
    assert all(after[i] == before[i] for i in untouched)


def _snapshot(store: Store) -> tuple[dict[str, Any], list[Account]]:
    return {e.id: e.model_dump(mode="json") for e in store.query_evidence(include_deleted=True)}, store.accounts()


@pytest.mark.slow
@pytest.mark.parametrize("fail_after", [1, 6])  # after the first page; in the middle of the tickets
async def test_interrupted_sync_then_rerun_equals_an_uninterrupted_one(tmp_path: Path, fail_after: int) -> None:
    world = _world(seed=12, tickets=14, notes=10)
    clean = open_store(f"sqlite:///{tmp_path / 'clean.db'}")
    crashed = open_store(f"sqlite:///{tmp_path / 'crashed.db'}")
    with serve(world) as emu:
        (whole,) = await run_sync(_settings(emu), clean, connectors={"hubspot": Recording})
        assert whole.error is None
        failing = FailingStore(crashed, fail_after)
        (broken,) = await run_sync(_settings(emu), failing, connectors={"hubspot": Recording})
        assert broken.error is not None and "injected crash" in broken.error
        # sorted search: each stored page committed its cursor with it, so the rerun resumes after it
        held, stored = crashed.cursors("hubspot"), crashed.count_evidence()
        assert list(held) == (["companies"] if fail_after == 1 else ["companies", "contacts", "tickets"])
        assert stored == 0 if fail_after == 1 else 0 < stored < clean.count_evidence()
        (rerun,) = await run_sync(_settings(emu), crashed, connectors={"hubspot": Recording})
        assert rerun.error is None and not emu.stats.crashes
    assert _snapshot(crashed) == _snapshot(clean)
    resumed, straight = crashed.cursors("hubspot"), clean.cursors("hubspot")
    assert resumed.keys() == straight.keys()
    # (with nothing archived, an archived list's watermark is its start: 90 days before that run)
    assert {k: v for k, v in resumed.items() if "archived" not in k} == {
        k: v for k, v in straight.items() if "archived" not in k
    }


async def test_daily_limit_stops_hubspot_only(tmp_path: Path) -> None:
    world = make_world(seed=3, zendesk_tickets=0, intercom_conversations=5, hubspot_tickets=5, hubspot_notes=5)
    store = open_store(f"sqlite:///{tmp_path / 'daily.db'}")
    limits = RateLimits(hubspot=RateLimit(requests=2, per_seconds=3600, daily=True))
    with serve(world, limits=limits) as emu:
        intercom = {"base_url": emu.base_url("intercom"), "token": DEFAULT_CREDENTIALS["intercom"]["token"]}
        hubspot, other = await run_sync(_settings(emu, intercom=intercom), store)
        assert emu.stats.rate_limited["hubspot"] == 1  # the DAILY answer is not retried
    assert hubspot.error is not None and "quota exhausted" in hubspot.error
    assert other.error is None and other.stored == 5  # the other source is unaffected


@pytest.mark.slow
async def test_malformed_items_are_quarantined_and_read_again_next_time(tmp_path: Path) -> None:
    world = _world(seed=21, tickets=14, notes=14, cap=10_000)
    store = open_store(f"sqlite:///{tmp_path / 'malformed.db'}")
    with serve(world, faults=Faults(seed=6, malformed_rate=0.2, vendors=["hubspot"])) as emu:
        (first,) = await run_sync(_settings(emu), store, connectors={"hubspot": Recording})
        assert first.error is None and emu.stats.faults["malformed"] > 0 and not emu.stats.crashes
        assert first.failed > 0 and len(store.quarantined("hubspot")) == first.failed
        emu.faults = None  # the vendor behaves again: cursors stopped before each unreadable record
        (second,) = await run_sync(_settings(emu), store, connectors={"hubspot": Recording})
        assert second.error is None and second.failed == 0
    wanted = {f"hubspot:{k[:-1]}:{r['id']}" for k in ("tickets", "notes") for r in world.all("hubspot", k)}
    assert set(_stored(store)) == wanted
