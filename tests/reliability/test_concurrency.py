"""Two `caseline sync` processes on one store, at the same time: nothing lost, nothing twice (SQLite, PostgreSQL).

What used to break, and is pinned here:
- two processes opening a fresh store raced inside `create_all` (PostgreSQL: UniqueViolation on pg_type,
  SQLite: "table … already exists"), so one of two concurrent syncs died on an empty database;
- `_upsert_evidence` read the stored version before taking the write lock, so between processes an older
  copy could overwrite a newer one (a lost update) and a moved issue could be inserted under two keys.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from caseline.connectors.sync import run_sync
from caseline.emulator import serve
from caseline.evidence import Activity, Evidence
from caseline.store import Store, open_store
from tests.reliability._harness import (
    clean_env,
    diff,
    expected_ids,
    sample_world,
    settings_for,
    snapshot,
    start_caseline,
    write_config,
)

pytestmark = pytest.mark.slow


def _both(config: Path, cwd: Path) -> list[list[dict[str, object]]]:
    """Start two `caseline sync --json` processes at once; both must succeed."""
    procs = [start_caseline("sync", "--json", "--config", str(config), cwd=cwd, env=clean_env()) for _ in range(2)]
    outputs = [p.communicate(timeout=180) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    return [json.loads(out) for out, _ in outputs]


def _vendor_ids_unique(store: Store) -> None:
    """One row per vendor id (a moved Jira/Linear issue stored twice would show up here)."""
    counts = Counter((e.source, e.vendor_id) for e in store.query_evidence(include_deleted=True) if e.vendor_id)
    assert [key for key, n in counts.items() if n > 1] == []


def _activities_unique(store: Store) -> None:
    for item in store.query_evidence(include_deleted=True, with_activities=True):
        keys = [(a.type, a.native_id, a.at) for a in item.activities]
        assert len(keys) == len(set(keys)), item.id


def test_two_sync_processes_on_one_store_never_lose_or_duplicate(empty_store_url: str, tmp_path: Path) -> None:
    world = sample_world(seed=3)
    reference = open_store(f"sqlite:///{tmp_path / 'reference.db'}")
    with serve(world) as emu:
        config = write_config(tmp_path / "caseline.toml", emu, empty_store_url)
        first = _both(config, tmp_path)
        assert all(r["error"] is None for run in first for r in run)
        settings = settings_for(emu, str(reference.engine.url))
        asyncio.run(run_sync(settings, reference))  # the same history, one process at a time

        # changes between the rounds, including the ones that move an issue to a new key
        zendesk = sorted(t["id"] for t in world.all("zendesk", "tickets"))
        world.edit("zendesk", "tickets", zendesk[0], subject="Checkout fixed", status="solved")
        world.add_comment("intercom", "conversations", world.all("intercom", "conversations")[0]["id"], "Rolled back.")
        jira = world.all("jira", "issues")[0]
        world.edit("jira", "issues", jira["id"], key=f"SUP-{900 + int(jira['id']) % 100}")
        world.edit("linear", "issues", world.all("linear", "issues")[0]["id"], identifier="OPS-901")
        message = world.all("slack", "messages")[0]
        world.edit("slack", "messages", f"{message['channel']}:{message['ts']}", text="Edited: all clear")
        ticket = world.all("hubspot", "tickets")[0]
        world.edit("hubspot", "tickets", ticket["id"], properties={"subject": "HubSpot edit"})

        second = _both(config, tmp_path)
        assert all(r["error"] is None for run in second for r in run)
        asyncio.run(run_sync(settings, reference))
        assert not emu.stats.crashes

    store = open_store(empty_store_url, create=False)
    try:
        ids = {e.id for e in store.query_evidence(include_deleted=True)}
        assert ids == expected_ids(world)  # every item, from the world's own records
        assert snapshot(store) == snapshot(reference), diff(snapshot(store), snapshot(reference))
        assert store.get_evidence(f"zendesk:ticket:{zendesk[0]}").title == "Checkout fixed"  # type: ignore[union-attr]
        _vendor_ids_unique(store)
        _activities_unique(store)
        assert store.quarantined() == []
    finally:
        store.engine.dispose()


def test_many_openers_of_a_fresh_store_at_once_all_succeed(empty_store_url: str) -> None:
    """`create_all` is serialized: six openers (separate engines, as separate processes have) on an empty
    database at the same instant; before the fix most of them died on the DDL race."""
    errors: list[str] = []
    start = threading.Barrier(6)

    def opener() -> None:
        try:
            start.wait()
            open_store(empty_store_url).engine.dispose()
        except Exception as exc:  # surfaced below
            errors.append(f"{type(exc).__name__}: {exc}".splitlines()[0])

    threads = [threading.Thread(target=opener) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    store = open_store(empty_store_url, create=False)
    assert store.count_evidence() == 0  # the schema is complete and usable
    store.engine.dispose()


# ---- the store itself, with writers that do not share a lock (separate engines = separate processes) ----
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _version(n: int, v: int) -> Evidence:
    return Evidence(
        id=f"zendesk:ticket:{n}", source="zendesk", kind="ticket", native_id=str(n), title=f"version {v}",
        created_at=T0, updated_at=T0 + timedelta(minutes=v),
        activities=[Activity(at=T0 + timedelta(minutes=k), type="comment", text=f"reply {k}") for k in range(v % 4)],
    )  # fmt: skip


def _plan(seed: int, items: int = 30, pages: int = 25) -> list[list[tuple[int, int]]]:
    rng = random.Random(seed)
    return [[(n, rng.randrange(1, 200)) for n in rng.sample(range(items), 8)] for _ in range(pages)]


def test_concurrent_writers_never_overwrite_a_newer_copy(empty_store_url: str) -> None:
    """Four writers, each with its own engine, save overlapping pages of different versions at once.

    Whatever the interleaving, each item ends at its newest version with that version's activities, and
    the change sequence counts exactly the transactions that changed something (none lost, none shared).
    """
    open_store(empty_store_url).engine.dispose()
    plans = {seed: _plan(seed) for seed in range(4)}
    changed: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(plans))

    def writer(seed: int) -> None:
        store = open_store(empty_store_url, create=False)
        try:
            start.wait()
            for page in plans[seed]:
                result = store.save_page(source="zendesk", stream="tickets", items=[_version(*p) for p in page],
                                         cursor={"writer": seed})  # fmt: skip
                if result:
                    changed.append(int(result))
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            store.engine.dispose()

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []

    newest: dict[int, int] = {}
    for plan in plans.values():
        for page in plan:
            for n, v in page:
                newest[n] = max(newest.get(n, 0), v)
    store = open_store(empty_store_url, create=False)
    try:
        got = {e.native_id: e for e in store.query_evidence(with_activities=True)}
        assert {n: got[str(n)].title for n in newest} == {n: f"version {v}" for n, v in newest.items()}
        assert {n: len(got[str(n)].activities) for n in newest} == {n: v % 4 for n, v in newest.items()}
        assert store.get_meta("evidence_seq") == len(changed)  # one bump per changing transaction
    finally:
        store.engine.dispose()
