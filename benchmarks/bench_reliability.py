"""Reliability figures: a heavy-fault sync of all six vendors, then `caseline sync` killed with SIGKILL and rerun.

    .venv/bin/python benchmarks/bench_reliability.py [--items 25] [--seeds 5] [--kills 12] [--pg URL]

Part 1 syncs the emulator's six vendors through 429 storms, 5xx bursts, connection resets (before and in the
middle of bodies), answers slower than a 0.2 s client timeout and malformed items, with edits, replies and
deletions between syncs, rerunning after each failed run as an operator would; then the vendors behave and
one ordinary sync runs. It prints the faults injected (emulator counters), items expected (from the world's
own records), stored, lost and duplicated, and how the stored content compares with a fault-free sync of
the same history. Part 2 runs the real CLI (`python -m caseline sync`) as a process, SIGKILLs it at seeded
random request counts, reruns it, and compares the final store with an uninterrupted run's.
The same code paths are asserted in tests/reliability/ (test_faults.py, test_crash.py).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.reliability holds the shared harness

import httpx
from tests.reliability._harness import (
    VENDORS,
    expected_ids,
    sample_world,
    settings_for,
    snapshot,
    write_config,
)
from tests.reliability.test_crash import kill_and_rerun, kill_points
from tests.reliability.test_faults import _change, _quiet, _sync_until_clean

from caseline.connectors import budget
from caseline.connectors.http import VendorClient
from caseline.connectors.retry import set_testing
from caseline.connectors.sync import run_sync
from caseline.emulator import Faults, RateLimit, RateLimits, serve
from caseline.store import Store, open_store

OWN_FIELDS = ("title", "body", "status", "deleted", "created_at", "updated_at")


def _duplicates(store: Store, expected: set[str]) -> int:
    """Items stored twice: an id the world does not have, or one vendor id under two evidence ids."""
    items = store.query_evidence(include_deleted=True)
    by_vendor_id = Counter((e.source, e.vendor_id) for e in items if e.vendor_id)
    return len({e.id for e in items} - expected) + sum(n - 1 for n in by_vendor_id.values() if n > 1)


def heavy_faults(items: int, tmp: Path, *, malformed: float) -> dict[str, Any]:
    set_testing(True, scale=0.1)
    budget.set_throttling(False)
    defaults = VendorClient.__init__.__kwdefaults__ or {}
    defaults["timeout"] = httpx.Timeout(0.2)
    world = sample_world(seed=21, size=items)
    faults = Faults(seed=21, error_rate=0.15, reset_rate=0.12, slow_rate=0.04, slow_seconds=0.6,
                    malformed_rate=malformed)  # fmt: skip
    limits = RateLimits(**{v: RateLimit(requests=5, per_seconds=0.1) for v in VENDORS})
    store = open_store(f"sqlite:///{tmp / f'faulty-{malformed}.db'}")
    reference = open_store(f"sqlite:///{tmp / f'reference-{malformed}.db'}")
    started = time.perf_counter()
    with serve(world, faults=faults, limits=limits) as emu:
        settings, ref = settings_for(emu, str(store.engine.url)), settings_for(emu, str(reference.engine.url))
        runs = _sync_until_clean(settings, store, limit=20)
        held = _quiet(emu)
        asyncio.run(run_sync(ref, reference))
        emu.faults, emu.limiter = held
        gone = _change(world)
        runs += _sync_until_clean(settings, store, limit=20)
        held = _quiet(emu)
        asyncio.run(run_sync(ref, reference))
        runs.append(asyncio.run(run_sync(settings, store)))  # the vendors behave again: one ordinary sync
        stats = emu.stats
    expected = expected_ids(world) | gone
    stored = {e.id: e for e in store.query_evidence(include_deleted=True)}
    want = {e.id: e for e in reference.query_evidence(include_deleted=True)}
    own = sum(
        any(getattr(e, f) != getattr(want[i], f) for f in OWN_FIELDS) for i, e in stored.items() if i in want
    )
    ours, theirs = snapshot(store, skip=gone), snapshot(reference, skip=gone)
    whole = sum(1 for i, doc in ours["evidence"].items() if theirs["evidence"].get(i) != doc)
    set_testing(False)
    return {
        "seconds": time.perf_counter() - started,
        "faults": dict(stats.faults),
        "rate_limited": sum(stats.rate_limited.values()),
        "requests": sum(stats.requests.values()),
        "runs": len(runs),
        "failed_runs": sum(1 for run in runs if any(r.error for r in run)),
        "quarantined": len(store.quarantined()),
        "expected": len(expected),
        "lost": len(expected - stored.keys()),
        "duplicates": _duplicates(store, expected),
        "own_fields_differ": own,
        "documents_differ": whole,
        "emulator_crashes": len(stats.crashes),
    }


def kill_loop(seeds: int, kills: int, items: int, tmp: Path, store_url: str | None) -> dict[str, Any]:
    delivered, equal, runs = 0, 0, 0
    for seed in range(1, seeds + 1):
        world = sample_world(seed=seed + 10, size=items)
        reference = open_store(f"sqlite:///{tmp / f'uninterrupted-{seed}.db'}")
        url = store_url or f"sqlite:///{tmp / f'killed-{seed}.db'}"
        with serve(world) as emu:
            asyncio.run(run_sync(settings_for(emu, str(reference.engine.url)), reference))
            uninterrupted = sum(emu.stats.requests.values())
            config = write_config(tmp / f"caseline-{seed}.toml", emu, url)
            got, finished = kill_and_rerun(emu, config, tmp, kill_points(random.Random(seed), uninterrupted, kills))
        delivered += got
        runs += got + len(finished)
        killed = open_store(url, create=False)
        same = snapshot(killed) == snapshot(reference) and {e.id for e in killed.query_evidence(include_deleted=True)}
        equal += bool(same) and same == expected_ids(world)
        if store_url:  # one PostgreSQL schema: start the next seed empty
            from sqlmodel import SQLModel

            SQLModel.metadata.drop_all(killed.engine)
        killed.engine.dispose()
    return {"seeds": seeds, "sigkills": delivered, "processes": runs, "equal": equal}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=25, help="top-level items per vendor (part 1)")
    parser.add_argument("--seeds", type=int, default=5, help="kill/rerun sequences (part 2)")
    parser.add_argument("--kills", type=int, default=12, help="SIGKILLs per sequence")
    parser.add_argument("--pg", help="run part 2 against this (empty) PostgreSQL database instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        transport = heavy_faults(args.items, Path(tmp), malformed=0.0)
        malformed = heavy_faults(args.items, Path(tmp), malformed=0.1)
        crashes = kill_loop(args.seeds, args.kills, 8, Path(tmp), args.pg)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    for name, part in (("transport faults + 429 storms", transport), ("… plus malformed items", malformed)):
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(part["faults"].items()))
        print(f"\n{name}: {part['requests']} requests, {part['rate_limited']} 429s, {kinds}")
        print(f"  runs {part['runs']} ({part['failed_runs']} ended with a failed source and were rerun), "
              f"{part['seconds']:.1f} s")  # fmt: skip
        print(f"  items expected {part['expected']}, lost {part['lost']}, duplicates {part['duplicates']}, "
              f"quarantined (then read again) {part['quarantined']}")  # fmt: skip
        print(f"  vs a fault-free sync: own fields differ {part['own_fields_differ']}, "
              f"whole documents differ {part['documents_differ']}; emulator crashes {part['emulator_crashes']}")
    print(f"\nSIGKILL + rerun: {crashes['sigkills']} kills over {crashes['seeds']} seeds "
          f"({crashes['processes']} processes); final store equal to the uninterrupted run's: "
          f"{crashes['equal']} of {crashes['seeds']}")  # fmt: skip


if __name__ == "__main__":
    main()
