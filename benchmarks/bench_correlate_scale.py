"""Correlation at scale: a store of 1,000,000 evidence items over 30 days, correlated from scratch, then
1,000 new items correlated incrementally; with the naive all-pairs cost beside it.

    .venv/bin/python benchmarks/bench_correlate_scale.py [--items 1000000] [--db PATH] [--keep]

Setup (not measured): synthetic traffic from the scenario's pools (one-off questions with a long-tail
vocabulary, routine questions, incidents of 50-600 reports across Zendesk/Intercom/HubSpot, Slack
chatter, Jira/Linear issues linking tickets, CSM notes) is bulk-loaded into a SQLite store.

Measured, each in a fresh process (so peak RSS is the correlation's own, via resource.getrusage):
1. the first `caseline correlate` over the whole store (load, normalize, block, score, cluster, judge
   bursts, store incidents and match texts); targets ≤ 60 s and ≤ 2 GB;
2. 1,000 new items (the next minutes of traffic, through the normal store upsert), then an incremental
   run; target ≤ 2 s;
3. the naive alternative: rapidfuzz `cdist` over all pairs of a 20,000-report sample, extrapolated to
   every pair of the store's reports, and its ratio to (1).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenario import CHATTER, CSM_NOTES, DETAILS, ENG_NOISE, FEATURES, FILLER, PROBLEMS, ROUTINE, THEMES

START = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 30


def _vocab(rng: random.Random, n: int) -> list[str]:
    """A long-tail vocabulary (project names, product terms): real text is not five hundred words."""
    syll = ["ka", "lo", "mi", "ran", "tor", "vel", "zen", "qua", "bri", "sto", "fen", "dax", "pol", "wyn", "gri"]
    return ["".join(rng.choice(syll) for _ in range(rng.randint(2, 4))) for _ in range(n)]


class Traffic:
    """Rows for the evidence table (and links), generated quickly without model validation."""

    def __init__(self, seed: int, items: int) -> None:
        self.rng = random.Random(seed)
        self.items = items
        self.vocab = _vocab(self.rng, 30_000)
        self.cum = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(self.vocab))))
        self.accounts = [f"{w}{k}.com" for k, w in enumerate(self.vocab[:3000])]
        self.seq = 0
        self.counter = 0

    def _zipf_word(self) -> str:
        return self.rng.choices(self.vocab, cum_weights=self.cum)[0]

    def _at(self, day_offset: float) -> datetime:
        return START + timedelta(days=day_offset)

    def _business(self) -> float:
        day = self.rng.randrange(DAYS)
        hour = self.rng.choices(range(24), [1, 1, 1, 1, 1, 2, 3, 5, 8, 9, 9, 9, 8, 9, 9, 9, 8, 6, 4, 3, 2, 2, 1, 1])[0]
        return day + (hour + self.rng.random()) / 24

    def row(self, *, at: datetime, source: str, kind: str, title: str, body: str, account: str | None,
            links: list[str] | None = None, seq: int = 1) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.counter += 1
        n = self.counter
        native = f"C0SUP:{at.timestamp():.6f}{n % 1000:03d}" if source == "slack" else (
            f"OPS-{n}" if source == "jira" else f"ENG-{n}" if source == "linear" else str(n))
        evidence_id = f"{source}:{kind}:{native}"
        email = f"user{n % 7}@{account}" if account else "staff@vendor.example"
        iso = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        doc = {
            "id": evidence_id, "source": source, "kind": kind, "native_id": native, "vendor_id": None,
            "aliases": [], "url": None, "title": title, "body": body,
            "author": {"name": f"User {n % 97}", "email": email}, "author_role": None, "account": account,
            "account_ref": None, "created_at": iso, "updated_at": iso, "status": "open", "priority": None,
            "tags": [], "links": links or [], "deleted": False, "bot": False, "raw": {},
        }
        is_report = source in ("zendesk", "intercom") or (source == "hubspot" and kind == "ticket")
        text = body if title and body.startswith(title) else f"{title}\n{body}".strip()
        row = {
            "id": evidence_id, "source": source, "kind": kind, "native_id": native, "vendor_id": None,
            "account": account, "account_ref": None, "author_email": email, "is_report": int(is_report),
            "deleted": 0, "created_at": at.strftime("%Y-%m-%d %H:%M:%S.%f"),
            "updated_at": at.strftime("%Y-%m-%d %H:%M:%S.%f"), "title": title, "search_text": text.lower(),
            "match_text": None, "content_hash": str(n), "doc": json.dumps(doc), "seq": seq,
        }
        return row, [(evidence_id, target) for target in (links or [])]

    def report_source(self) -> tuple[str, str]:
        return self.rng.choices([("zendesk", "ticket"), ("intercom", "conversation"), ("hubspot", "ticket")],
                                [6, 3, 1.5])[0]

    def one_off(self, at: datetime, seq: int = 1) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        rng = self.rng
        feature, problem = rng.choice(FEATURES), rng.choice(PROBLEMS)
        extra = " ".join(self._zipf_word() for _ in range(rng.randint(2, 5)))
        source, kind = self.report_source()
        body = f"Hi,\n\nThe {feature} {problem} in {extra}. {rng.choice(DETAILS)} {rng.choice(FILLER)}\n\nThanks,\nSam"
        return self.row(at=at, source=source, kind=kind, title=f"{feature.capitalize()} {problem}", body=body,
                        account=rng.choice(self.accounts), seq=seq)

    def generate(self) -> Any:
        """Yield (row, links) in no particular order: background, routine, incidents, context."""
        rng = self.rng
        n = self.items
        incidents = max(3, n // 40_000)
        incident_reports = int(n * 0.02)
        plan = {"oneoff": int(n * 0.38), "routine": int(n * 0.14), "slack": int(n * 0.36),
                "notes": int(n * 0.05), "eng": int(n * 0.03)}
        plan["oneoff"] += n - sum(plan.values()) - incident_reports - incidents * 4
        for _ in range(plan["oneoff"]):
            yield self.one_off(self._at(self._business()))
        names = sorted(ROUTINE)
        for _ in range(plan["routine"]):
            pool = ROUTINE[rng.choice(names)]
            source, kind = self.report_source()
            yield self.row(at=self._at(self._business()), source=source, kind=kind, title=rng.choice(pool["titles"]),
                           body=f"Hello,\n{rng.choice(pool['lines'])} {rng.choice(FILLER)}",
                           account=rng.choice(self.accounts))
        for _ in range(plan["slack"]):
            text = f"{rng.choice(CHATTER)} {self._zipf_word()} {self._zipf_word()}"
            yield self.row(at=self._at(self._business()), source="slack", kind="message", title="", body=text,
                           account=None)
        for _ in range(plan["notes"]):
            yield self.row(at=self._at(self._business()), source="hubspot", kind="note", title="",
                           body=f"{rng.choice(CSM_NOTES)} {self._zipf_word()}", account=rng.choice(self.accounts))
        for _ in range(plan["eng"]):
            title = f"{rng.choice(ENG_NOISE)} {self._zipf_word()}"
            yield self.row(at=self._at(self._business()), source=rng.choice(["jira", "linear"]), kind="issue",
                           title=title, body=title, account=None)
        themes = sorted(THEMES)
        for k in range(incidents):
            pool = THEMES[themes[k % len(themes)]]
            start = self._business()
            hours = rng.uniform(1, 6)
            size = max(10, incident_reports // incidents)
            ids = []
            for _ in range(size):
                at = self._at(start + rng.random() * hours / 24)
                source, kind = self.report_source()
                body = f"Hi team,\n{' '.join(rng.sample(pool['lines'], 2))} {rng.choice(FILLER)}\n\nRegards,\nAlex"
                row, links = self.row(at=at, source=source, kind=kind, title=rng.choice(pool["titles"]), body=body,
                                      account=rng.choice(self.accounts))
                ids.append(row["id"])
                yield row, links
            for _ in range(3):
                yield self.row(at=self._at(start + rng.random() * hours / 24), source="slack", kind="message",
                               title="", body=f"heads up, customers report {rng.choice(pool['lines']).lower()}",
                               account=None)
            yield self.row(at=self._at(start + 0.02), source="jira", kind="issue", title=rng.choice(pool["eng"]),
                           body="Customers affected, see linked tickets.", account=None, links=rng.sample(ids, 5))


_EVIDENCE_COLUMNS = ("id", "source", "kind", "native_id", "vendor_id", "account", "account_ref", "author_email",
                     "is_report", "deleted", "created_at", "updated_at", "title", "search_text", "match_text",
                     "content_hash", "doc", "seq")


def bulk_load(path: Path, items: int, seed: int) -> None:
    from caseline.store import open_store

    store = open_store(f"sqlite:///{path}")  # creates the schema
    store.engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    traffic = Traffic(seed, items)
    sql = f"INSERT INTO evidence ({', '.join(_EVIDENCE_COLUMNS)}) VALUES ({', '.join('?' * len(_EVIDENCE_COLUMNS))})"
    batch: list[tuple[Any, ...]] = []
    links: list[tuple[str, str]] = []
    for row, row_links in traffic.generate():
        batch.append(tuple(row[c] for c in _EVIDENCE_COLUMNS))
        links.extend(row_links)
        if len(batch) >= 50_000:
            conn.executemany(sql, batch)
            batch.clear()
    conn.executemany(sql, batch)
    conn.executemany("INSERT OR IGNORE INTO evidence_link (src_id, target) VALUES (?, ?)", links)
    conn.execute("INSERT INTO store_meta (key, value) VALUES ('evidence_seq', 1)")
    conn.commit()
    conn.close()


def reset(path: Path) -> None:
    """Forget every correlation (and the new items of an earlier run) so the store is as after setup."""
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM evidence WHERE seq > 1")
    conn.execute("UPDATE evidence SET match_text = NULL")
    for table in ("incident", "incident_member", "decision"):
        conn.execute(f"DELETE FROM {table}")
    conn.execute("DELETE FROM store_meta WHERE key != 'evidence_seq'")
    conn.execute("UPDATE store_meta SET value = 1 WHERE key = 'evidence_seq'")
    conn.commit()
    conn.close()


def add_new_items(path: Path, count: int, seed: int) -> None:
    """The next minutes of traffic after the store's last item, through the normal upsert path."""
    from caseline.evidence import Evidence
    from caseline.store import open_store

    store = open_store(f"sqlite:///{path}")
    traffic = Traffic(seed + 1, count)
    traffic.counter = 50_000_000
    last = START + timedelta(days=DAYS)
    new: list[Evidence] = []
    pool = THEMES["export"]
    for k in range(count):
        at = last + timedelta(seconds=3 * k)
        if k % 10 == 0:  # a fresh incident among ordinary traffic
            row, _ = traffic.row(at=at, source="zendesk", kind="ticket", title=traffic.rng.choice(pool["titles"]),
                                 body=" ".join(traffic.rng.sample(pool["lines"], 2)),
                                 account=traffic.rng.choice(traffic.accounts))
        else:
            row, _ = traffic.one_off(at)
        new.append(Evidence.model_validate(json.loads(row["doc"])))
    store.upsert_evidence(new)
    store.engine.dispose()


def measure(path: Path) -> None:
    """Run in a child process: one correlation run, timed, with this process's peak RSS."""
    import logging
    import resource

    from caseline.config.models import Settings
    from caseline.correlate import correlate
    from caseline.store import open_store

    logging.basicConfig(level=logging.WARNING, format="  %(message)s", stream=sys.stderr)
    logging.getLogger("caseline.correlate.engine").setLevel(logging.DEBUG)  # phase timings
    store = open_store(f"sqlite:///{path}")
    start = time.perf_counter()
    result = correlate(store, Settings())
    elapsed = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"seconds": elapsed, "cpu": own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime,
                      "peak_mb": own.ru_maxrss / 1024, "workers_peak_mb": workers.ru_maxrss / 1024,
                      **result.as_json()}))


def _child(path: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--measure", str(path)], check=True, capture_output=True, text=True)
    sys.stdout.write(out.stderr)  # the run's phase timings
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def naive(path: Path, sample: int = 20_000) -> tuple[float, int]:
    """Seconds for all pairs of `sample` reports with the same scorer, and how many reports the store holds."""
    from caseline.correlate.scoring import text_scores

    conn = sqlite3.connect(path)
    texts = [r[0] for r in conn.execute("SELECT match_text FROM evidence WHERE is_report AND match_text IS NOT NULL "
                                        f"ORDER BY id LIMIT {sample}")]
    reports = conn.execute("SELECT count(*) FROM evidence WHERE is_report").fetchone()[0]
    conn.close()
    start = time.perf_counter()
    for lo in range(0, len(texts), 2000):
        text_scores(texts[lo : lo + 2000], texts, "token_sort", cutoff=55)
    return time.perf_counter() - start, int(reports)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", type=Path, default=None, help="where to build the store (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the store afterwards")
    parser.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--reuse", action="store_true", help="correlate an existing --db again from scratch")
    args = parser.parse_args()
    if args.measure:
        measure(args.measure)
        return
    tmp = tempfile.mkdtemp(prefix="caseline-scale-")
    path = args.db or Path(tmp) / "scale.db"
    if args.reuse and args.db and path.exists():
        reset(path)
        print(f"setup: reusing {path} ({path.stat().st_size / 2**20:,.0f} MB), correlation state cleared", flush=True)
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        start = time.perf_counter()
        bulk_load(path, args.items, args.seed)
        print(f"setup: {args.items:,} items over {DAYS} days bulk-loaded in {time.perf_counter() - start:.0f} s "
              f"({path.stat().st_size / 2**20:,.0f} MB)", flush=True)
    first = _child(path)
    print(f"first run: {first['seconds']:.1f} s (cpu {first['cpu']:.1f} s), peak RSS {first['peak_mb']:,.0f} MB "
          f"(normalizing workers {first['workers_peak_mb']:,.0f} MB each), scored {first['scored']:,}, "
          f"{first['incidents_created']} incidents", flush=True)
    add_new_items(path, args.new, args.seed)
    second = _child(path)
    print(f"incremental run ({args.new:,} new items): {second['seconds']:.2f} s (cpu {second['cpu']:.2f} s), "
          f"peak RSS {second['peak_mb']:,.0f} MB, "
          f"scored {second['scored']:,}, created {second['incidents_created']}, updated {second['incidents_updated']}",
          flush=True)
    seconds, reports = naive(path)
    sample = 20_000
    all_pairs = seconds * (reports / sample) ** 2
    print(f"naive all-pairs: {seconds:.1f} s for {sample:,}² report pairs → ~{all_pairs:,.0f} s for all {reports:,} "
          f"reports ({all_pairs / first['seconds']:,.0f}× the first run)")
    if not args.keep:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        os.rmdir(tmp) if not args.db else None


if __name__ == "__main__":
    main()
