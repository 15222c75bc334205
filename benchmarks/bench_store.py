"""Store write throughput: batched upserts vs one item per transaction (the baseline), same run.

    .venv/bin/python benchmarks/bench_store.py [--items 20000] [--pg URL]

Prints evidence rows/second (each item carries 3 activities and a link) for a first load, for a
re-delivery of the same items (idempotent: nothing changes), and for the unbatched baseline.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta

from caseline.evidence import Activity, Evidence, Person
from caseline.store import Store, open_store

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def make_items(n: int, offset: int = 0) -> list[Evidence]:
    return [
        Evidence(
            id=f"zendesk:ticket:{offset + i}",
            title=f"Checkout fails with error {i % 97}",
            body="Customers cannot pay; the page shows a 500 after submitting the card. " * 3,
            author=Person(name=f"User {i}", email=f"user{i}@customer{i % 500}.com"),
            created_at=T0 + timedelta(seconds=i),
            links=[f"jira:issue:OPS-{i % 50}"],
            activities=[Activity(at=T0 + timedelta(seconds=i, minutes=k), type="comment", text=f"reply {k}")
                        for k in range(3)],
        )
        for i in range(n)
    ]


def timed(label: str, n: int, fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    elapsed = time.perf_counter() - start
    print(f"  {label:<38} {n:>7} items  {elapsed:7.2f} s  {n / elapsed:>9,.0f} rows/s")
    return n / elapsed


def run(store: Store, n: int, baseline_n: int) -> None:
    items = make_items(n)
    batched = timed("batched upsert (500/txn), first load", n, lambda: [
        store.upsert_evidence(items[i : i + 500]) for i in range(0, n, 500)])
    timed("batched re-delivery (unchanged)", n, lambda: [
        store.upsert_evidence(items[i : i + 500]) for i in range(0, n, 500)])
    single_items = make_items(baseline_n, offset=10_000_000)
    single = timed("baseline: one item per transaction", baseline_n, lambda: [
        store.upsert_evidence([item]) for item in single_items])
    print(f"  batching speed-up: {batched / single:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--baseline-items", type=int, default=2_000)
    parser.add_argument("--pg", default=os.environ.get("CASELINE_TEST_PG_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"SQLite ({args.items} items):")
        run(open_store(f"sqlite:///{tmp}/bench.db"), args.items, args.baseline_items)
    if args.pg:
        from sqlalchemy import text

        store = open_store(args.pg, create=False)
        with store.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS bench_store CASCADE; CREATE SCHEMA bench_store"))
        sep = "&" if "?" in args.pg else "?"
        print(f"PostgreSQL ({args.items} items):")
        run(open_store(f"{args.pg}{sep}options=-csearch_path%3Dbench_store"), args.items, args.baseline_items)
        with store.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA bench_store CASCADE"))


if __name__ == "__main__":
    main()
