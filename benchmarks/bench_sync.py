"""Sync throughput and request efficiency: every vendor synced from the emulator through the real `run_sync`.

    .venv/bin/python benchmarks/bench_sync.py [--items 10000] [--vendors zendesk,slack] [--pg URL]
        [--no-limited] [--time-scale 30] [--in-process] [--seed 1] [--companies N]

Run 1 (rate limits OFF: no emulator limits, no client throttling) prints, per vendor and in total, items/second,
the requests made and, beside them, the lower bound for the endpoints the connector uses (see `lower_bounds`),
with the ratio, then the same per endpoint. Run 2 (rate limits ON: the emulator enforces the vendors' documented
limits in `REAL_LIMITS` with time running `--time-scale` times faster; the client throttles as in production,
its waits are real) prints the 429s each vendor triggered and its items/second under limits.

Each run syncs into a fresh store (a temp SQLite file, or a fresh schema of `--pg`). The emulator runs in
child processes, one per vendor (this script with `--serve`), so that it does not share the client's
interpreter lock; `--in-process` serves it from a thread instead (the smoke test does)."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from rich.console import Console
from rich.table import Table

from caseline.config import parse_settings
from caseline.connectors import budget
from caseline.connectors.retry import set_testing
from caseline.connectors.sync import SourceReport, SyncProgress, run_sync
from caseline.emulator import RateLimit, RateLimits, World, make_world, serve
from caseline.emulator.generate import DEFAULT_CREDENTIALS
from caseline.store import Store, open_store

VENDORS = ("zendesk", "intercom", "hubspot", "slack", "jira", "linear")
JQL = "project = OPS"


@dataclass(frozen=True)
class RealLimit:
    """A vendor's documented limit: `requests` per `seconds` (one window for the whole vendor)."""

    requests: int
    seconds: float
    note: str


# Run 2 enforces these with time running `--time-scale` times faster (windows shortened, never below 1 s,
# because Retry-After is whole seconds; the count grows instead). Client-side pacing (Zendesk exports at most
# every 6 s, HubSpot search every 0.2 s) keeps real time, as do Retry-After waits.
REAL_LIMITS: dict[str, RealLimit] = {
    "zendesk": RealLimit(700, 60, "700/min (Enterprise); exports 10/min"),
    "intercom": RealLimit(1666, 10, "10,000/min per app, in 10 s windows"),
    "hubspot": RealLimit(190, 10, "190/10 s (Pro); search ~5/s"),
    "slack": RealLimit(50, 60, "Tier 3: 50/min (history, replies)"),
    "jira": RealLimit(100, 1, "no published number; 100/s assumed"),
    "linear": RealLimit(5000, 3600, "5,000/h per API key"),
}
TIME_SCALE = 30.0


def scaled(real: RealLimit, time_scale: float) -> RateLimit:
    """`real` with time running `time_scale` times faster, as one emulator window of at least 1 s."""
    window = max(1.0, real.seconds / time_scale)
    return RateLimit(max(1, round(real.requests * time_scale * window / real.seconds)), window)


def world_counts(vendor: str, items: int) -> dict[str, int]:
    """`make_world` counts giving `items` evidence items of `vendor` (HubSpot: a third tickets, the rest notes)."""
    return {
        "zendesk": {"zendesk_tickets": items},
        "intercom": {"intercom_conversations": items},
        "hubspot": {"hubspot_tickets": items // 3, "hubspot_notes": items - items // 3},
        "slack": {"slack_messages": items},
        "jira": {"jira_issues": items},
        "linear": {"linear_issues": items},
    }[vendor]


def build_world(items: int, vendors: Sequence[str], seed: int, companies: int) -> World:
    counts = {"zendesk_tickets": 0, "intercom_conversations": 0, "hubspot_tickets": 0, "hubspot_notes": 0}
    for vendor in vendors:
        counts |= world_counts(vendor, items)
    return make_world(seed, companies=companies, **counts)  # type: ignore[arg-type]  # counts are ints


# ---- lower bounds ----------------------------------------------------------------------------------------
# Per endpoint (the emulator's `vendor METHOD template` keys): list pages at the vendor's maximum page size,
# plus one child request per item only where the vendor has no bulk endpoint, plus one lookup per distinct
# person/company the connector resolves through a per-id endpoint (it caches them per run).


def _pages(count: int, size: int) -> int:
    """Requests to walk a list of `count` items (an empty list still takes one)."""
    return max(1, math.ceil(count / size))


def _key(vendor: str, method: str, template: str) -> str:
    return f"{vendor} {method} {template}"


def _zendesk_bound(world: World) -> Counter[str]:
    tickets = list(world.table("zendesk", "tickets").values())
    bound: Counter[str] = Counter()
    bound[_key("zendesk", "GET", "/api/v2/incremental/tickets/cursor.json")] = _pages(len(tickets), 1000)
    live = [t for t in tickets if t.get("status") != "deleted"]  # no bulk comments/audits endpoint
    bound[_key("zendesk", "GET", "/api/v2/tickets/{id}/comments.json")] = sum(
        _pages(len(t.get("comments") or []), 100) for t in live
    )
    bound[_key("zendesk", "GET", "/api/v2/tickets/{id}/audits.json")] = sum(
        _pages(len(t.get("audits") or []), 100) for t in live
    )
    return bound


def _intercom_bound(world: World) -> Counter[str]:
    conversations = list(world.table("intercom", "conversations").values())
    contacts = world.table("intercom", "contacts")
    people: set[str] = set()
    for c in conversations:
        people |= {str(p["id"]) for p in (c.get("contacts") or {}).get("contacts") or [] if p.get("id")}
        author = (c.get("source") or {}).get("author") or {}
        if author.get("type") in ("user", "lead", "contact") and author.get("id"):
            people.add(str(author["id"]))
    firms = {str(c["company"]["id"]) for c in conversations if isinstance(c.get("company"), dict)}
    for pid in people:
        held = (contacts.get(pid) or {}).get("companies") or {}
        firms |= {str(x["id"]) for x in held.get("data") or held.get("companies") or [] if x.get("id")}
    return Counter({
        _key("intercom", "POST", "/conversations/search"): _pages(len(conversations), 150),
        _key("intercom", "GET", "/conversations/{id}"): len(conversations),  # search has no parts: one GET each
        _key("intercom", "GET", "/contacts/{id}"): len(people),
        _key("intercom", "GET", "/companies/{id}"): len(firms),
    })  # fmt: skip


def _hubspot_bound(world: World, start_ms: int) -> Counter[str]:
    def modified(record: Mapping[str, Any], prop: str) -> float:
        return -1.0 if record.get("archived") else _ms(record["properties"].get(prop) or record["updatedAt"])

    links: dict[tuple[str, str, str], set[str]] = {}
    for a in world.table("hubspot", "associations").values():
        ends = ((a["fromObjectType"], str(a["fromObjectId"])), (a["toObjectType"], str(a["toObjectId"])))
        for (src, sid), (dst, did) in (ends, ends[::-1]):
            links.setdefault((src, sid, dst), set()).add(did)
    tables = {kind: world.table("hubspot", kind) for kind in ("companies", "contacts", "tickets", "notes")}
    seen_contacts = {i for i, r in tables["contacts"].items() if modified(r, "lastmodifieddate") >= start_ms}
    pages = {
        "companies": _pages(len(tables["companies"]), 200),  # accounts: everything, every time
        "contacts": _pages(len(seen_contacts), 200),
        "tickets": _pages(sum(modified(r, "hs_lastmodifieddate") >= start_ms for r in tables["tickets"].values()), 200),
        "notes": _pages(sum(modified(r, "hs_lastmodifieddate") >= start_ms for r in tables["notes"].values()), 200),
    }
    wanted = {c for kind in ("tickets", "notes") for i in tables[kind] for c in links.get((kind, i, "contacts"), ())}
    orphans = any(not links.get(("notes", i, "companies")) for i in tables["notes"])
    batch = {"tickets": 2, "notes": 3 + int(orphans)}  # one batch read per page and target type (+ ticket→company)
    search = sum(pages.values()) + math.ceil(len(wanted - seen_contacts) / 100)  # older contacts: 100 ids a query
    bound = Counter({
        _key("hubspot", "POST", "/crm/v3/objects/{object_type}/search"): search,
        _key("hubspot", "POST", "/crm/v4/associations/{from_type}/{to_type}/batch/read"):
            sum(pages[kind] * n for kind, n in batch.items() if tables[kind]),
        _key("hubspot", "GET", "/crm/v3/objects/{object_type}"): 2,  # archived tickets and notes: one page each
    })  # fmt: skip
    if tables["tickets"]:  # stage labels: the ticket pipelines, once per run
        bound[_key("hubspot", "GET", "/crm/v3/pipelines/{object_type}")] = 1
    owners = {str(o) for r in tables["notes"].values() if (o := r["properties"].get("hubspot_owner_id"))}
    if owners:  # note authors: once per owner (a deactivated one is only found among the archived: twice)
        active = {str(i) for i, r in world.table("hubspot", "owners").items() if not r.get("archived")}
        bound[_key("hubspot", "GET", "/crm/v3/owners/{owner_id}")] = sum(1 if o in active else 2 for o in owners)
    return bound


def _slack_bound(world: World) -> Counter[str]:
    channels = [c for c in world.table("slack", "channels").values() if c.get("is_member")]
    messages = list(world.table("slack", "messages").values())
    replies: Counter[tuple[str, str]] = Counter()
    users: set[str] = set()
    for m in messages:
        users |= {str(m["user"])} if m.get("user") else set()
        users |= set(re.findall(r"<@([UW][A-Z0-9]+)", str(m.get("text") or "")))
        if m.get("thread_ts") not in (None, m.get("ts")):
            replies[(m["channel"], m["thread_ts"])] += 1
    member = {c["id"] for c in channels}
    parents = Counter(m["channel"] for m in messages if m.get("thread_ts") in (None, m.get("ts")))
    return Counter({
        _key("slack", "GET", "/api/auth.test"): 1,
        _key("slack", "GET", "/api/conversations.list"): _pages(len(world.table("slack", "channels")), 1000),
        _key("slack", "GET", "/api/conversations.history"): sum(_pages(parents[c], 999) for c in member),
        _key("slack", "GET", "/api/conversations.replies"): sum(  # no bulk replies endpoint: one per thread
            _pages(n + 1, 1000) for (channel, _), n in replies.items() if channel in member
        ),
        _key("slack", "GET", "/api/users.info"): len(users & set(world.table("slack", "users"))),
    })  # fmt: skip


def _jira_bound(world: World) -> Counter[str]:
    issues = list(world.table("jira", "issues").values())
    settings = world.settings["jira"]
    comments = sum(1 for i in issues if len(i.get("comments") or []) > int(settings["embedded_comments"]))
    changelog = sum(
        _pages(len(i["changelog"]) - int(settings["embedded_changelog"]), 100)
        for i in issues
        if len(i.get("changelog") or []) > int(settings["embedded_changelog"])
    )
    bound = Counter({
        _key("jira", "GET", "/rest/api/3/myself"): 1,
        _key("jira", "POST", "/rest/api/3/search/jql"): _pages(len(issues), int(settings["max_results"])),
        # No bulk endpoint for remote links: one GET per issue whenever they are wanted.
        _key("jira", "GET", "/rest/api/3/issue/{ref}/remotelink"): len(issues),
    })  # fmt: skip
    if comments:
        bound[_key("jira", "GET", "/rest/api/3/issue/{ref}/comment")] = comments  # up to 5,000 a page
    if changelog:
        bound[_key("jira", "GET", "/rest/api/3/issue/{ref}/changelog")] = changelog
    return bound


def linear_page_size(world: World) -> int:
    """The largest `first` for the connector's query within the emulator's complexity cap (and `max_first`)."""
    from graphql import parse

    from caseline.connectors.linear import QUERY
    from caseline.emulator.vendors.linear import _complexity  # the emulator's own estimate

    settings = world.settings["linear"]
    best = 1
    for first in range(1, int(settings["max_first"]) + 1):
        query = re.sub(r"issues\(first: \d+", f"issues(first: {first}", QUERY)
        operation = parse(query).definitions[0]
        if _complexity(operation.selection_set, {}) > float(settings["max_complexity"]):  # type: ignore[attr-defined]
            break
        best = first
    return best


def _linear_bound(world: World) -> Counter[str]:
    issues = len(world.table("linear", "issues"))
    return Counter({_key("linear", "POST", "/graphql"): _pages(issues, linear_page_size(world))})


def lower_bounds(world: World, vendors: Sequence[str]) -> dict[str, dict[str, int]]:
    """Per vendor, per endpoint: the fewest requests a full sync of `world` needs with these endpoints."""
    start_ms = int((world.now.timestamp() - 90 * 86400) * 1000)  # the connectors' default 90-day start
    makers: dict[str, Callable[[World], Counter[str]]] = {
        "zendesk": _zendesk_bound, "intercom": _intercom_bound, "hubspot": lambda w: _hubspot_bound(w, start_ms),
        "slack": _slack_bound, "jira": _jira_bound, "linear": _linear_bound,
    }  # fmt: skip
    with world.lock:
        return {vendor: dict(makers[vendor](world)) for vendor in vendors}


def _ms(value: Any) -> float:
    from caseline.timeparse import to_utc

    return to_utc(value).timestamp() * 1000


# ---- the emulator, in a child process or a thread ---------------------------------------------------------


@dataclass
class EmulatorSpec:
    items: int
    vendors: list[str]
    seed: int
    companies: int
    limited: bool
    time_scale: float = TIME_SCALE

    def limits(self) -> RateLimits | None:
        if not self.limited:
            return None
        return RateLimits(**{v: scaled(REAL_LIMITS[v], self.time_scale) for v in self.vendors})


@dataclass
class Served:
    """What the emulator side reports: base URLs and bounds at start, then counters and its own CPU time."""

    urls: dict[str, str]
    bounds: dict[str, dict[str, int]]
    build_s: float
    stats: Callable[[], dict[str, Any]]


def _stats_of(emu: Any) -> dict[str, Any]:
    s = emu.stats
    return {"requests": dict(s.requests), "endpoints": dict(s.endpoints), "rate_limited": dict(s.rate_limited),
            "crashes": len(s.crashes), "cpu_s": time.process_time()}  # fmt: skip


def _start(spec: EmulatorSpec) -> tuple[Any, dict[str, Any]]:
    began = time.perf_counter()
    world = build_world(spec.items, spec.vendors, spec.seed, spec.companies)
    bounds = lower_bounds(world, spec.vendors)
    emu = serve(world, limits=spec.limits())
    return emu, {"urls": emu.base_urls(), "bounds": bounds, "build_s": time.perf_counter() - began}


def serve_child(spec: EmulatorSpec) -> None:
    """`--serve`: one JSON line with urls and bounds, then one line of stats per `stats` line on stdin."""
    emu, hello = _start(spec)
    with emu:
        print(json.dumps(hello), flush=True)
        for line in sys.stdin:
            if line.strip() != "stats":
                break
            print(json.dumps(_stats_of(emu)), flush=True)


class _Child:
    """One emulator child process (`--serve`), talking JSON lines over its stdin/stdout."""

    def __init__(self, spec: EmulatorSpec) -> None:
        args = [sys.executable, os.path.abspath(__file__), "--serve", json.dumps(spec.__dict__)]
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout

    def hello(self) -> dict[str, Any]:
        line = self.stdout.readline()
        if not line:
            raise RuntimeError(f"an emulator child exited with {self.process.wait()} before serving")
        return dict(json.loads(line))

    def stats(self) -> dict[str, Any]:
        self.stdin.write("stats\n")
        self.stdin.flush()
        return dict(json.loads(self.stdout.readline()))

    def close(self) -> None:
        self.stdin.close()
        self.process.wait(timeout=30)


def _merged(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"requests": {}, "endpoints": {}, "rate_limited": {}, "crashes": 0, "cpu_s": 0.0}
    for part in parts:
        for name in ("requests", "endpoints", "rate_limited"):
            out[name] = dict(Counter(out[name]) + Counter(part[name]))
        out["crashes"] += part["crashes"]
        out["cpu_s"] += part["cpu_s"]
    return out


@contextmanager
def emulator(spec: EmulatorSpec, *, in_process: bool) -> Iterator[Served]:
    """One child process per vendor (like separate vendor hosts: a slow one does not hold the others up on
    one interpreter lock), or with `in_process` a single emulator thread in this process."""
    if in_process:
        emu, hello = _start(spec)
        with emu:
            yield Served(hello["urls"], hello["bounds"], hello["build_s"], lambda: _stats_of(emu))
        return
    children: list[_Child] = []
    try:
        for vendor in spec.vendors:
            children.append(_Child(replace(spec, vendors=[vendor])))
        hellos = [child.hello() for child in children]
        urls = {v: h["urls"][v] for v, h in zip(spec.vendors, hellos, strict=True)}
        bounds = {v: h["bounds"][v] for v, h in zip(spec.vendors, hellos, strict=True)}
        build_s = max((h["build_s"] for h in hellos), default=0.0)
        yield Served(urls, bounds, build_s, lambda: _merged([child.stats() for child in children]))
    finally:
        for child in children:
            child.close()


# ---- one run ---------------------------------------------------------------------------------------------


@dataclass
class VendorResult:
    vendor: str
    items: int
    stored: int
    seconds: float
    requests: int
    bound: int
    rate_limited: int
    error: str | None
    endpoints: dict[str, int] = field(default_factory=dict)
    bounds: dict[str, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.stored / self.seconds if self.seconds > 0 else 0.0

    @property
    def ratio(self) -> float:
        return self.requests / self.bound if self.bound else math.inf


@dataclass
class RunResult:
    limited: bool
    time_scale: float
    items: int
    wall_s: float
    sync_s: float
    client_cpu_s: float
    emulator_cpu_s: float | None
    world_s: float
    crashes: int
    vendors: list[VendorResult]

    @property
    def stored(self) -> int:
        return sum(v.stored for v in self.vendors)

    @property
    def requests(self) -> int:
        return sum(v.requests for v in self.vendors)

    @property
    def bound(self) -> int:
        return sum(v.bound for v in self.vendors)


@contextmanager
def fresh_store(pg: str | None) -> Iterator[Store]:
    """A temp SQLite file, or a fresh schema of the PostgreSQL database at `pg` (dropped afterwards)."""
    if not pg:
        with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
            store = open_store(f"sqlite:///{tmp}/bench.db")
            try:
                yield store
            finally:
                store.engine.dispose()
        return
    from sqlalchemy import text

    schema = f"bench_sync_{uuid.uuid4().hex[:8]}"
    admin = open_store(pg, create=False)
    with admin.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in pg else "?"
    store = open_store(f"{pg}{sep}options=-csearch_path%3D{schema}")
    try:
        yield store
    finally:
        store.engine.dispose()
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.engine.dispose()


def stored_counts(store: Store) -> Counter[str]:
    from sqlalchemy import func, select

    from caseline.store.rows import EvidenceRow

    table = EvidenceRow.__table__  # type: ignore[attr-defined]
    with store.engine.connect() as conn:
        rows = conn.execute(select(table.c.source, func.count()).group_by(table.c.source))
        return Counter({str(source): int(n) for source, n in rows})


def _sources(urls: Mapping[str, str], vendors: Iterable[str], time_scale: float) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for vendor in vendors:
        out[vendor] = {"base_url": urls[vendor], **DEFAULT_CREDENTIALS[vendor]}
        if vendor == "jira":
            out[vendor]["jql"] = JQL
        if vendor == "slack":  # Slack's own pacing (Tier 3, ~50/min) in the emulator's faster time
            out[vendor]["tier3_interval_s"] = 1.3 / time_scale
    return out


def run_bench(
    items: int,
    vendors: Sequence[str] = VENDORS,
    *,
    limited: bool = False,
    pg: str | None = None,
    seed: int = 1,
    companies: int | None = None,
    in_process: bool = False,
    time_scale: float = TIME_SCALE,
) -> RunResult:
    """Serve a generated world, sync all `vendors` at once into a fresh store, and measure it.

    Unlimited: no emulator limits and client throttling off. Limited: the emulator enforces `REAL_LIMITS`
    with time `time_scale` times faster; the client throttles (budget) and waits for real, as in production.
    """
    companies = companies or min(100, max(6, items // 100))
    spec = EmulatorSpec(items, list(vendors), seed, companies, limited, time_scale)
    began = time.perf_counter()
    with emulator(spec, in_process=in_process) as served, fresh_store(pg) as store:
        sources = _sources(served.urls, vendors, time_scale)
        settings = parse_settings({"store": {"url": "sqlite://"}, "sources": sources})
        done: dict[str, float] = {}
        was = budget.throttling()
        budget.set_throttling(limited)
        set_testing(False)
        cpu0, start = time.process_time(), time.perf_counter()

        def progress(event: SyncProgress) -> None:
            if event.done:
                done[event.source] = time.perf_counter() - start

        try:
            reports = asyncio.run(run_sync(settings, store, full=True, progress=progress))
        finally:
            budget.set_throttling(was)
        sync_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu0
        stats = served.stats()
        counts = stored_counts(store)
    results = [_vendor_result(r, items, counts, done, stats, served.bounds) for r in reports]
    return RunResult(
        limited=limited, time_scale=time_scale, items=items, wall_s=time.perf_counter() - began, sync_s=sync_s,
        client_cpu_s=cpu_s,
        emulator_cpu_s=None if in_process else float(stats["cpu_s"]), world_s=served.build_s,
        crashes=int(stats["crashes"]), vendors=results,
    )  # fmt: skip


def _vendor_result(
    report: SourceReport,
    items: int,
    counts: Mapping[str, int],
    done: Mapping[str, float],
    stats: Mapping[str, Any],
    bounds: Mapping[str, Mapping[str, int]],
) -> VendorResult:
    vendor = report.source
    endpoints = {k: int(n) for k, n in stats["endpoints"].items() if k.split(" ", 1)[0] == vendor}
    bound = dict(bounds[vendor])
    return VendorResult(
        vendor=vendor, items=items, stored=int(counts.get(vendor, 0)), seconds=done.get(vendor, 0.0),
        requests=int(stats["requests"].get(vendor, 0)), bound=sum(bound.values()),
        rate_limited=int(stats["rate_limited"].get(vendor, 0)), error=report.error, endpoints=endpoints, bounds=bound,
    )  # fmt: skip


# ---- output ----------------------------------------------------------------------------------------------


def _ratio(value: float, *, warn: float = 1.5) -> str:
    text = "—" if math.isinf(value) else f"{value:.2f}"
    return f"[bold red]{text}[/]" if value > warn else text


def render(console: Console, run: RunResult, baseline: RunResult | None = None) -> None:
    """The tables of one run (`baseline`: the unlimited run, to compare a limited one with)."""
    if not run.limited:
        table = Table(title=f"Sync, rate limits OFF — {run.items:,} items per vendor", title_justify="left")
        for name in ("vendor", "stored", "seconds", "items/s", "requests", "lower bound", "requests / bound"):
            table.add_column(name, justify="left" if name == "vendor" else "right")
        for v in run.vendors:
            table.add_row(v.vendor + (f" [red]({v.error})[/]" if v.error else ""), f"{v.stored:,}",
                          f"{v.seconds:.1f}", f"{v.per_second:,.0f}", f"{v.requests:,}", f"{v.bound:,}",
                          _ratio(v.ratio))  # fmt: skip
        total = run.requests / run.bound if run.bound else math.inf
        table.add_row("[bold]total[/]", f"{run.stored:,}", f"{run.sync_s:.1f}",
                      f"{run.stored / run.sync_s:,.0f}", f"{run.requests:,}", f"{run.bound:,}", _ratio(total),
                      end_section=True)  # fmt: skip
        console.print(table)
        detail = Table(title="Requests by endpoint (rate limits OFF)", title_justify="left")
        for name in ("endpoint", "requests", "lower bound", "ratio"):
            detail.add_column(name, justify="left" if name == "endpoint" else "right")
        for v in run.vendors:
            for key in sorted(set(v.endpoints) | set(v.bounds)):
                made, bound = v.endpoints.get(key, 0), v.bounds.get(key, 0)
                detail.add_row(key, f"{made:,}", f"{bound:,}", _ratio(made / bound if bound else math.inf))
        console.print(detail)
    else:
        title = f"Sync, rate limits ON (vendor limits, time ×{run.time_scale:g}) — {run.items:,} items per vendor"
        table = Table(title=title, title_justify="left")
        for name in ("vendor", "emulated limit", "real limit", "stored", "seconds", "items/s", "requests", "429s",
                     "items/s ON÷OFF"):  # fmt: skip
            table.add_column(name, justify="left" if name in ("vendor", "emulated limit", "real limit") else "right")
        before = {v.vendor: v for v in baseline.vendors} if baseline else {}
        for v in run.vendors:
            real = REAL_LIMITS[v.vendor]
            limit = scaled(real, run.time_scale)
            off = before[v.vendor].per_second if v.vendor in before else 0.0
            slower = f"{v.per_second / off:.2f}" if off else "—"
            table.add_row(v.vendor + (f" [red]({v.error})[/]" if v.error else ""),
                          f"{limit.requests}/{limit.per_seconds:g} s", real.note, f"{v.stored:,}", f"{v.seconds:.1f}",
                          f"{v.per_second:,.0f}", f"{v.requests:,}", f"{v.rate_limited:,}", slower)  # fmt: skip
        table.add_row("[bold]total[/]", "", "", f"{run.stored:,}", f"{run.sync_s:.1f}",
                      f"{run.stored / run.sync_s:,.0f}", f"{run.requests:,}",
                      f"{sum(v.rate_limited for v in run.vendors):,}", "", end_section=True)  # fmt: skip
        console.print(table)
    per_item = 1000 * run.client_cpu_s / max(run.stored, 1)
    notes = [f"world built in {run.world_s:.1f} s", f"sync wall {run.sync_s:.1f} s",
             f"client CPU {run.client_cpu_s:.1f} s ({per_item:.2f} ms/item)"]  # fmt: skip
    if run.emulator_cpu_s is not None:
        notes.append(f"emulator CPU {run.emulator_cpu_s:.1f} s (child processes)")
    last = max((v.seconds for v in run.vendors), default=0.0)
    notes.append(f"account resolution after the sources {max(0.0, run.sync_s - last):.1f} s")
    if run.crashes:
        notes.append(f"[bold red]emulator handler crashes: {run.crashes}[/]")
    short = [v.vendor for v in run.vendors if v.stored != v.items]
    if short:
        notes.append(f"[bold red]stored ≠ items for {', '.join(short)}[/]")
    console.print("  " + "; ".join(notes))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=10_000, help="evidence items per vendor (default 10000)")
    parser.add_argument("--vendors", default=",".join(VENDORS), help="comma-separated subset of: " + ",".join(VENDORS))
    parser.add_argument("--pg", default=None, help="PostgreSQL URL: sync into a fresh schema there instead of SQLite")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--companies", type=int, default=None, help="companies in the world (default items/100, 6..100)"
    )
    parser.add_argument("--no-limited", action="store_true", help="skip run 2 (rate limits ON)")
    parser.add_argument("--time-scale", type=float, default=TIME_SCALE, help="run 2: how much faster time runs")
    parser.add_argument("--in-process", action="store_true", help="serve the emulator from a thread of this process")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_child(EmulatorSpec(**json.loads(args.serve)))
        return 0
    vendors = [v.strip() for v in args.vendors.split(",") if v.strip()]
    if unknown := [v for v in vendors if v not in VENDORS]:
        parser.error(f"unknown vendor(s) {', '.join(unknown)}; choose from {', '.join(VENDORS)}")
    console = Console() if sys.stdout.isatty() else Console(width=150)  # files and pipes: no 80-column wrap
    common: dict[str, Any] = {"pg": args.pg, "seed": args.seed, "companies": args.companies,
                              "in_process": args.in_process, "time_scale": args.time_scale}  # fmt: skip
    console.print(f"syncing {args.items:,} items per vendor from {', '.join(vendors)} "
                  f"into {'PostgreSQL' if args.pg else 'SQLite'} …")  # fmt: skip
    free = run_bench(args.items, vendors, limited=False, **common)
    render(console, free)
    if not args.no_limited:
        console.print()
        render(console, run_bench(args.items, vendors, limited=True, **common), free)
    return 0


if __name__ == "__main__":
    sys.exit(main())
