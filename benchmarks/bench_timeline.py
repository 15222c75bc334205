"""Timeline assembly of a large incident: 5,000 items (evidence creations + activities) across six tools.

    .venv/bin/python benchmarks/bench_timeline.py [--items 5000] [--hours 8] [--repeat 5]

Prints the time of the pure assembly (typing, deduplication with rapidfuzz, milestones, metrics, gaps,
impact; target < 0.5 s), then the same incident loaded from a SQLite store (load + assembly) and the
full export (`build_export`). One in ten public agent replies is mirrored into Slack and each Slack
thread reply is synced into Linear, so deduplication has real work to do.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from caseline.config.models import Settings
from caseline.evidence import Account, Activity, Evidence, Person
from caseline.incident import Incident, Member, Reason
from caseline.store import open_store
from caseline.store.incidents import IncidentStore
from caseline.timeline.assemble import assemble, assemble_items
from caseline.timeline.export import build_export

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
WORDS = [
    "checkout", "payment", "card", "gateway", "error", "timeout", "declined", "page", "order", "cart",
    "login", "export", "invoice", "sync", "slow", "broken", "failing", "customers", "since", "morning",
    "deploy", "release", "rollback", "service", "database", "queue", "latency", "spike", "retry", "webhook",
    "api", "integration", "billing", "refund", "subscription", "plan", "upgrade", "mobile", "browser",
    "region",
]


def sentence(rng: random.Random, n: int = 14) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def make_incident(items: int, hours: float, seed: int = 7) -> tuple[Incident, list[Evidence], list[Account]]:
    """About `items` timeline entries: tickets with comments/notes/status, conversations, Slack threads,
    Jira/Linear issues with comments and changelogs, HubSpot notes."""
    rng = random.Random(seed)
    span = hours * 3600
    evidence: list[Evidence] = []
    count = 0

    def when() -> datetime:
        return T0 + timedelta(seconds=rng.uniform(0, span))

    accounts = [Account(key=f"customer{i}.com", name=f"Customer {i}", domains=[f"customer{i}.com"],
                        plan=rng.choice(["starter", "growth", "enterprise"]), arr=float(rng.randint(5, 200) * 1000))
                for i in range(200)]
    n = 0
    while count < items:
        n += 1
        start = when()
        kind = n % 10
        if kind < 5:  # Zendesk ticket: a customer report with replies, a note and status changes
            acts = [
                Activity(at=start + timedelta(minutes=20), type="comment", actor_role="agent", public=True,
                         actor=Person(name="Agent", email="agent@support.example"), text=sentence(rng)),
                Activity(at=start + timedelta(minutes=25), type="note", actor_role="agent", public=False,
                         text=sentence(rng)),
                Activity(at=start + timedelta(minutes=5), type="status_change", from_status="new", to_status="open"),
            ]
            account = rng.choice(accounts).key
            evidence.append(Evidence(
                id=f"zendesk:ticket:{n}", url=f"https://acme.zendesk.com/agent/tickets/{n}", title=sentence(rng, 6),
                body=sentence(rng, 30), author=Person(email=f"user{n}@{account}"), author_role="customer",
                account=account, created_at=start, activities=acts,
            ))
            if n % 20 == 0:  # one in ten replies mirrored into Slack by the integration
                evidence.append(Evidence(
                    id=f"slack:message:C1:{n}.000100", url=f"https://acme.slack.com/archives/C1/p{n}000100",
                    body=f"[Zendesk #{n}] {acts[0].text}", created_at=acts[0].at + timedelta(seconds=30), bot=True,
                ))
                count += 1
            count += 1 + len(acts)
        elif kind < 7:  # Intercom conversation
            account = rng.choice(accounts).key
            acts = [Activity(at=start + timedelta(minutes=m), type=t, actor_role=r, text=sentence(rng))
                    for m, t, r in ((2, "message", "customer"), (15, "comment", "agent"), (40, "message", "customer"))]
            evidence.append(Evidence(
                id=f"intercom:conversation:{n}", url=f"https://app.intercom.com/a/inbox/x/inbox/conversation/{n}",
                body=sentence(rng, 25), author=Person(email=f"user{n}@{account}"), account=account,
                created_at=start, activities=acts,
            ))
            count += 1 + len(acts)
        elif kind < 9:  # Slack thread, its replies synced into a Linear issue
            replies = [Activity(at=start + timedelta(minutes=3 * k), type="reply", actor_role="agent",
                                text=sentence(rng)) for k in range(1, 5)]
            evidence.append(Evidence(
                id=f"slack:message:C2:{n}.000200", url=f"https://acme.slack.com/archives/C2/p{n}000200",
                body=sentence(rng), created_at=start, activities=replies,
            ))
            evidence.append(Evidence(
                id=f"linear:issue:ENG-{n}", url=f"https://linear.app/acme/issue/ENG-{n}", title=sentence(rng, 5),
                created_at=start + timedelta(minutes=1), updated_at=start + timedelta(hours=2),
                activities=[
                    *[Activity(at=r.at + timedelta(seconds=40), type="comment", text=r.text) for r in replies],
                    Activity(at=start + timedelta(hours=2), type="status_change", from_status="In Progress",
                             to_status="Done"),
                ],
            ))
            count += 1 + len(replies) + 1 + len(replies) + 1
        else:  # Jira issue with a changelog and comments, or a HubSpot note
            if n % 20 == 9:
                acts = [Activity(at=start + timedelta(minutes=10 * k), type="comment", text=sentence(rng))
                        for k in range(1, 4)]
                acts.append(Activity(at=start + timedelta(minutes=50), type="status_change", from_status="To Do",
                                     to_status="In Progress"))
                evidence.append(Evidence(
                    id=f"jira:issue:OPS-{n}", url=f"https://acme.atlassian.net/browse/OPS-{n}",
                    title=sentence(rng, 6), body=sentence(rng, 20), created_at=start, activities=acts,
                ))
                count += 1 + len(acts)
            else:
                evidence.append(Evidence(
                    id=f"hubspot:note:{n}", url=f"https://app.hubspot.com/contacts/1/record/0-46/{n}",
                    body=sentence(rng, 20), account=rng.choice(accounts).key, created_at=start,
                ))
                count += 1
    members = [Member(evidence_id=e.id, reasons=[Reason(kind="text", with_=evidence[0].id, score=80.0)],
                      added_at=T0) for e in evidence]
    incident = Incident(id="inc-bench1", status="confirmed", title="Large incident", created_at=T0,
                        updated_at=T0, members=members)
    return incident, evidence, accounts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--hours", type=float, default=8.0, help="span of the incident")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    incident, evidence, accounts = make_incident(args.items, args.hours)
    settings = Settings()
    by_key = {a.key: a for a in accounts}
    entries = sum(1 + len(e.activities) for e in evidence)
    print(f"incident: {len(evidence)} evidence items, {entries} timeline items over {args.hours:g} h")

    best = float("inf")
    result = None
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = assemble_items(incident, evidence, accounts=by_key, timeline=settings.timeline,
                                alerts=settings.alerts, now=T0 + timedelta(hours=args.hours + 1))
        best = min(best, time.perf_counter() - start)
    assert result is not None
    print(f"assembly (pure, best of {args.repeat}): {best:.3f} s -> {len(result.entries)} entries after dedup "
          f"({entries - len(result.entries)} collapsed), {len(result.gaps)} gaps   target < 0.5 s: "
          f"{'ok' if best < 0.5 else 'MISSED'}")

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.upsert_evidence(evidence)
        store.upsert_accounts(accounts)
        IncidentStore(store).save([incident])
        start = time.perf_counter()
        assemble(store, incident.id, settings)
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        export = build_export(store, incident.id, settings)
        exported = time.perf_counter() - start
        store.engine.dispose()
    print(f"from SQLite (load + assembly): {loaded:.3f} s; build_export: {exported:.3f} s "
          f"({len(export.timeline)} timeline entries)")


if __name__ == "__main__":
    main()
