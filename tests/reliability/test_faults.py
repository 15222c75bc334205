"""Heavy faults over real sockets, every vendor at once: after the run and an operator's reruns, nothing is lost.

The emulator injects 429 storms (each vendor's own signal: Retry-After, reset headers, HubSpot's interval
header, Linear's RATELIMITED body), 5xx bursts (500 JSON, 502/503 HTML), connections reset before or in the
middle of a body, answers slower than a short client timeout, and malformed items; the world changes
between syncs (edits, new replies, deletions). Reruns follow a failed run the way an operator would (run
`caseline sync` again). The oracle is the world itself (ids) and a fault-free sync of the same history.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from caseline.connectors.http import VendorClient
from caseline.connectors.retry import RetryPolicy
from caseline.connectors.sync import SourceReport, run_sync
from caseline.emulator import Emulator, Faults, RateLimit, RateLimits, World, serve
from caseline.store import Store, open_store
from tests.reliability._harness import VENDORS, diff, expected_ids, sample_world, settings_for, snapshot

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("fast_retries", "short_timeout")]

STORM = RateLimits(**{v: RateLimit(requests=5, per_seconds=0.1) for v in VENDORS})  # a 429 every few requests
ODD = "Zero\u200bwidth \u202eRTL\u202c text, a NUL\x00 and a lone \ud800 surrogate"
STORED_ODD = "Zero\u200bwidth \u202eRTL\u202c text, a NUL and a lone \ufffd surrogate"  # what a database can hold


@pytest.fixture
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every vendor client times out after 0.2 s, so the emulator's 0.6 s slow answers are timeouts."""
    defaults = VendorClient.__init__.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "timeout", httpx.Timeout(0.2))
    yield


@pytest.fixture
def few_attempts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Three attempts per request instead of six: bursts now outlast the retries, so sources fail mid-run
    (after some of their pages landed) and the operator's rerun has real work to finish."""
    defaults = VendorClient.__init__.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "retry", RetryPolicy(attempts=3))
    yield


def _sync_until_clean(settings: Any, store: Store, *, limit: int = 8) -> list[list[SourceReport]]:
    """`caseline sync`, and again after a run where a source failed (what an operator does), at most `limit`."""
    runs = []
    for _ in range(limit):
        reports = asyncio.run(run_sync(settings, store))
        runs.append(reports)
        if not any(r.error for r in reports):
            return runs
    raise AssertionError(f"still failing after {limit} runs: {[r.error for r in runs[-1] if r.error]}")


def _quiet(emu: Emulator) -> tuple[Faults | None, Any]:
    """Turn faults and limits off (for the reference sync); returns what to restore."""
    held = (emu.faults, emu.limiter)
    emu.faults = None
    emu.limiter = type(emu.limiter)(None)
    return held


def _change(world: World) -> set[str]:
    """Edits, replies and deletions between syncs; returns the Slack messages deleted (tombstones)."""
    tickets = sorted(t["id"] for t in world.all("zendesk", "tickets"))
    world.edit("zendesk", "tickets", tickets[0], subject="Checkout fixed", status="solved")
    world.add_comment("zendesk", "tickets", tickets[1], "We rolled back the deploy.")
    world.delete("zendesk", "tickets", tickets[2])
    conversation = world.all("intercom", "conversations")[0]["id"]
    world.edit("intercom", "conversations", conversation, state="closed", title="Intercom edit")
    world.add_comment("intercom", "conversations", world.all("intercom", "conversations")[1]["id"], "Fixed now.")
    hubspot = world.all("hubspot", "tickets")
    world.edit("hubspot", "tickets", hubspot[0]["id"], properties={"subject": "HubSpot edit"})
    world.delete("hubspot", "tickets", hubspot[1]["id"])
    issues = world.all("jira", "issues")
    world.edit("jira", "issues", issues[0]["id"], fields={"summary": "Jira edit"})
    world.add_comment("jira", "issues", issues[1]["id"], "Deployed the fix.")
    linear = world.all("linear", "issues")
    world.edit("linear", "issues", linear[0]["id"], title="Linear edit")
    world.delete("linear", "issues", linear[1]["id"])
    members = {c["id"] for c in world.all("slack", "channels") if c.get("is_member")}
    parents = [m for m in world.all("slack", "messages") if m["channel"] in members and "thread_ts" not in m]
    world.edit("slack", "messages", f"{parents[0]['channel']}:{parents[0]['ts']}", text="Edited: all clear")
    world.delete("slack", "messages", f"{parents[1]['channel']}:{parents[1]['ts']}")  # no replies: gone
    return {f"slack:message:{parents[1]['channel']}:{parents[1]['ts']}"}


def _history(world: World, emu: Emulator, store: Store, reference: Store) -> tuple[set[str], list[Any]]:
    """Sync with faults (and reruns), change the world, sync again; the reference follows without faults."""
    settings = settings_for(emu, str(store.engine.url))
    ref_settings = settings_for(emu, str(reference.engine.url))
    runs = _sync_until_clean(settings, store)
    held = _quiet(emu)
    asyncio.run(run_sync(ref_settings, reference))
    emu.faults, emu.limiter = held
    gone = _change(world)
    runs += _sync_until_clean(settings, store)
    held = _quiet(emu)
    asyncio.run(run_sync(ref_settings, reference))
    emu.faults, emu.limiter = held
    return gone, runs


def _ids(store: Store) -> set[str]:
    return {e.id for e in store.query_evidence(include_deleted=True)}


@pytest.mark.usefixtures("few_attempts")
def test_transport_faults_and_429_storms_then_reruns_store_the_latest_content_exactly(tmp_path: Path) -> None:
    world = sample_world(seed=5, size=8)
    faults = Faults(seed=5, error_rate=0.15, reset_rate=0.12, slow_rate=0.04, slow_seconds=0.6)
    store = open_store(f"sqlite:///{tmp_path / 'faulty.db'}")
    reference = open_store(f"sqlite:///{tmp_path / 'reference.db'}")
    with serve(world, faults=faults, limits=STORM) as emu:
        gone, runs = _history(world, emu, store, reference)
        stats = emu.stats
    # the faults really happened, of every kind, and the emulator itself never failed
    assert stats.faults["error"] > 10 and stats.faults["reset"] > 3 and stats.faults["reset_mid_body"] > 3
    assert stats.faults["slow"] > 2 and sum(stats.rate_limited.values()) > 10 and not stats.crashes
    assert len({v for v in VENDORS if stats.rate_limited[v]}) >= 3  # storms at several vendors, not just one

    assert _ids(store) == expected_ids(world) | gone  # every item exactly once (ids are primary keys)
    tombstones = {e.id for e in store.query_evidence(include_deleted=True) if e.deleted}
    assert gone <= tombstones and len(tombstones) >= 4  # zendesk, hubspot, linear and slack deletions seen
    # the latest content of everything else, exactly as a fault-free sync of the same history stores it
    assert snapshot(store, skip=gone) == snapshot(reference, skip=gone), diff(
        snapshot(store, skip=gone), snapshot(reference, skip=gone)
    )
    assert store.get_evidence(f"zendesk:ticket:{min(t['id'] for t in world.all('zendesk', 'tickets'))}").title == (  # type: ignore[union-attr]
        "Checkout fixed"
    )
    assert store.quarantined() == [] and all(r.failed == 0 for run in runs for r in run)
    assert sum(1 for run in runs if any(r.error for r in run)) >= 1  # some runs failed and were rerun


def test_malformed_items_are_quarantined_counted_and_read_again_never_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = sample_world(seed=6)
    faults = Faults(seed=6, error_rate=0.08, reset_rate=0.05, malformed_rate=0.2)
    store = open_store(f"sqlite:///{tmp_path / 'faulty.db'}")
    reference = open_store(f"sqlite:///{tmp_path / 'reference.db'}")
    caplog.set_level(logging.INFO, logger="caseline.connectors")
    with serve(world, faults=faults, limits=STORM) as emu:
        gone, runs = _history(world, emu, store, reference)
        malformed = emu.stats.faults["malformed"]
        emu.faults = None  # the vendors send well-formed items again: one more ordinary sync
        runs.append(asyncio.run(run_sync(settings_for(emu, str(store.engine.url)), store)))
        assert not emu.stats.crashes

    failed = sum(r.failed for run in runs for r in run)
    quarantined = store.quarantined()
    assert malformed > 10 and failed > 0
    assert len(quarantined) == failed  # every quarantined item counted, none silently dropped
    logged = [r.getMessage() for r in caplog.records if "item quarantined" in r.getMessage()]
    assert len(logged) == failed
    assert all(q["reason"] and "\n" not in q["reason"] for q in quarantined)
    assert {q["reason"] for q in quarantined} == {m.split("item quarantined: ", 1)[1] for m in logged}
    # nothing lost, nothing twice: a quarantined item's stream kept its cursor and the next sync read it
    assert _ids(store) == expected_ids(world) | gone
    # what each item is (title, state, times, deletion) is its latest version
    want = {e.id: e for e in reference.query_evidence(include_deleted=True)}
    got = {e.id: e for e in store.query_evidence(include_deleted=True) if e.id not in gone}
    fields = ("title", "status", "deleted", "created_at", "updated_at", "body")
    mismatched = [(i, f) for i, e in got.items() for f in fields if getattr(e, f) != getattr(want[i], f)]
    assert mismatched == []


def _odd_world() -> tuple[World, dict[str, str]]:
    """Odd text in every vendor, optional fields missing or null, and items with no id at all."""
    world = sample_world(seed=7, size=4)
    first: dict[str, str] = {}
    with world.lock:

        def pick(vendor: str, collection: str, n: int = 0) -> dict[str, Any]:
            return world.table(vendor, collection)[sorted(world.table(vendor, collection))[n]]

        z = pick("zendesk", "tickets")
        z.update(subject=ODD, description=None, requester_id=None, submitter_id=None, organization_id=None,
                 tags=None, priority=None, via=None, raw_subject=None)  # fmt: skip
        first["zendesk"] = f"zendesk:ticket:{z['id']}"
        c = pick("intercom", "conversations")
        c.update(title=ODD, tags=None, priority=None, company=None, contacts=None)
        c["source"] = {"type": "conversation", "id": "1", "body": None, "author": None, "subject": None}
        first["intercom"] = f"intercom:conversation:{c['id']}"
        pick("intercom", "conversations", 1)["id"] = None  # cannot be identified at all
        h = pick("hubspot", "tickets")
        h["properties"].update(subject=ODD, content=None, hs_pipeline_stage=None, hs_ticket_priority=None)
        first["hubspot"] = f"hubspot:ticket:{h['id']}"
        j = pick("jira", "issues")
        j["fields"].update(summary=ODD, description=None, reporter=None, creator=None, status=None, priority=None,
                           labels=None, issuelinks=None)  # fmt: skip
        first["jira"] = f"jira:issue:{j['key']}"
        pick("jira", "issues", 1)["key"] = None  # cannot be identified at all
        linear = pick("linear", "issues")
        linear.update(title=ODD, description=None, creator=None, assignee=None)
        first["linear"] = f"linear:issue:{linear['identifier']}"
        members = {ch["id"] for ch in world.table("slack", "channels").values() if ch.get("is_member")}
        table = world.table("slack", "messages")
        key = next(k for k in sorted(table) if table[k]["channel"] in members and "thread_ts" not in table[k])
        table[key].update(text=ODD, user=None)
        first["slack"] = f"slack:message:{key}"
    return world, first


def test_odd_and_incomplete_items_are_stored_with_what_they_have(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    world, odd = _odd_world()
    caplog.set_level(logging.INFO, logger="caseline.connectors")
    with serve(world) as emu:
        settings = settings_for(emu, "sqlite://")
        first = asyncio.run(run_sync(settings, store))
        again = asyncio.run(run_sync(settings, store))
        assert not emu.stats.crashes
    assert [(r.source, r.error) for r in first + again if r.error] == []  # nothing malformed fails a sync
    stored = {e.id: e for e in store.query_evidence(include_deleted=True)}
    for vendor, evidence_id in odd.items():
        assert evidence_id in stored, vendor
        if vendor != "slack":  # Slack text goes through the mrkdwn normalizer, which may tidy it further
            assert stored[evidence_id].title == STORED_ODD, vendor
        else:
            assert "\u200b" in stored[evidence_id].title and "\ufffd" in stored[evidence_id].title
    unidentified = ({f"intercom:conversation:{c['id']}" for c in world.all("intercom", "conversations")} |
                    {f"jira:issue:{i['key']}" for i in world.all("jira", "issues")})  # fmt: skip
    assert expected_ids(world) - stored.keys() <= unidentified  # only the two items with no id are missing
    assert set(stored) - expected_ids(world) == set()
    # those two: quarantined with a one-line reason, logged and counted, on each run (their cursor is held)
    by_source = {r.source: r.failed for r in first}
    assert by_source == {"zendesk": 0, "intercom": 1, "hubspot": 0, "slack": 0, "jira": 1, "linear": 0}
    reasons = [q["reason"] for q in store.quarantined()]
    assert len(reasons) == 4 and sum(r.failed for r in again) == 2
    assert any(r.startswith("intercom: conversation None: missing id") for r in reasons)
    assert any(r.startswith("jira: issue") and "missing key" in r for r in reasons)
    assert sum("item quarantined" in r.getMessage() for r in caplog.records) == 4
