"""Correlation end to end on a real store (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from datetime import timedelta

from caseline.correlate import correlate
from caseline.evidence import Account
from caseline.incident import Incident
from caseline.store import Store
from caseline.store.incidents import IncidentStore

from .helpers import EXPORT, INVITE, LOGIN, T0, burst, issue, settings, slack, ticket

ACCOUNTS = [f"c{k}.com" for k in range(30)]


def _open(store: Store) -> list[Incident]:
    return IncidentStore(store).list(statuses=["candidate", "confirmed"])


def test_a_burst_of_reports_becomes_one_incident_with_its_context(store: Store) -> None:
    reports = burst(EXPORT, 0, ACCOUNTS[:5], first_id=100)
    context = [
        slack(1.0, "seeing tickets about this: zendesk 100", 12, links=["zendesk:ticket:100"]),
        issue("jira", "OPS-7", "Export worker crashing", 40, links=["zendesk:ticket:101", "zendesk:ticket:102"]),
        issue("linear", "ENG-3", "Follow-up", 600, links=["jira:issue:OPS-7"]),
        slack(2.0, "lunch order going out in ten minutes", 14),
    ]
    store.upsert_evidence([*reports, *context])
    result = correlate(store, settings())
    assert result.as_json() == {"scored": 9, "incidents_created": 1, "incidents_updated": 0}
    [incident] = _open(store)
    assert set(incident.evidence_ids) == {r.id for r in reports} | {
        "slack:message:C1:1.000000", "jira:issue:OPS-7", "linear:issue:ENG-3"}
    assert incident.report_count == 5 and incident.accounts == ACCOUNTS[:5]
    assert incident.sources == {"jira": 1, "linear": 1, "slack": 1, "zendesk": 5}
    assert incident.first_seen == T0 and incident.last_seen == T0 + timedelta(minutes=600)
    assert incident.detected_at == T0 + timedelta(minutes=14)  # the third report from a third account
    assert incident.title in EXPORT
    for member in incident.members:  # every member says why it belongs
        assert member.reasons and all(r.kind in {"link", "text", "time", "account"} for r in member.reasons)
    by_id = {m.evidence_id: m for m in incident.members}
    assert by_id["jira:issue:OPS-7"].reasons[0].kind == "link"
    assert {r.kind for r in by_id["zendesk:ticket:101"].reasons} >= {"text", "time"}


def test_one_account_repeating_itself_and_context_alone_are_not_incidents(store: Store) -> None:
    store.upsert_evidence([
        *[ticket(200 + k, EXPORT[k], 10.0 * k, "solo.com") for k in range(5)],
        slack(3.0, LOGIN[0], 5), slack(4.0, LOGIN[1], 6), slack(5.0, LOGIN[2], 7),
    ])
    correlate(store, settings())
    assert _open(store) == []


def test_routine_repeats_stay_background_and_an_unusual_burst_stands_out(store: Store) -> None:
    day = 24 * 60.0
    history = [ticket(1000 + 10 * d + k, INVITE[(d + k) % len(INVITE)], -day * (14 - d) + 120 * k,
                      ACCOUNTS[(d * 3 + k) % 30]) for d in range(14) for k in range(3)]
    store.upsert_evidence(history)
    assert correlate(store, settings()).incidents_created == 0  # a first run over the history
    afternoon = burst(INVITE, 300, ACCOUNTS[10:15], first_id=5000, step=20)
    store.upsert_evidence(afternoon)
    assert correlate(store, settings()).incidents_created == 0  # five customers one afternoon: routine
    store.upsert_evidence(burst(EXPORT, 320, ACCOUNTS[20:25], first_id=6000, step=10))
    result = correlate(store, settings())
    assert result.incidents_created == 1
    [incident] = _open(store)
    assert incident.report_count == 5 and incident.title in EXPORT


def test_runs_are_incremental_and_ids_stable(store: Store) -> None:
    store.upsert_evidence(burst(EXPORT, 0, ACCOUNTS[:4], first_id=100))
    assert correlate(store, settings()).incidents_created == 1
    [first] = _open(store)
    assert correlate(store, settings()).as_json() == {"scored": 0, "incidents_created": 0, "incidents_updated": 0}
    store.upsert_evidence([ticket(150, EXPORT[4], 45, "late.com")])
    result = correlate(store, settings())
    assert result.as_json() == {"scored": 1, "incidents_created": 0, "incidents_updated": 1}
    [again] = _open(store)
    assert again.id == first.id and "zendesk:ticket:150" in again.evidence_ids
    assert again.report_count == 5 and "late.com" in again.accounts


def test_bridging_reports_merge_two_incidents_into_the_older(store: Store) -> None:
    store.upsert_evidence(burst(EXPORT, 0, ACCOUNTS[:4], first_id=100, step=10))
    correlate(store, settings())
    store.upsert_evidence(burst(EXPORT, 300, ACCOUNTS[4:8], first_id=200, step=10))  # hours later: separate
    correlate(store, settings())
    older, newer = sorted(_open(store), key=lambda i: i.created_at)
    assert older.id != newer.id
    store.upsert_evidence(burst(EXPORT, 100, ACCOUNTS[8:14], first_id=300, step=30))  # fills the gap
    result = correlate(store, settings())
    assert result.incidents_created == 0
    [merged] = _open(store)
    assert merged.id == older.id and len(merged.evidence_ids) == 14
    gone = IncidentStore(store).get(newer.id, follow_merges=False)
    assert gone is not None and gone.merged_into == older.id and gone.evidence_ids == []
    assert IncidentStore(store).get(newer.id) == merged  # the old id still leads to it


def test_changed_and_deleted_evidence_is_handled(store: Store) -> None:
    reports = burst(EXPORT, 0, ACCOUNTS[:4], first_id=100)
    store.upsert_evidence(reports)
    correlate(store, settings())
    store.upsert_accounts([Account(key="c0.com", arr=2_000_000, plan="Enterprise")])
    moved = reports[0].model_copy(update={"account": "renamed.com", "updated_at": reports[0].updated_at + timedelta(1)})
    gone = reports[1].model_copy(update={"deleted": True, "updated_at": reports[1].updated_at + timedelta(1)})
    store.upsert_evidence([moved, gone])
    assert correlate(store, settings()).incidents_updated == 1
    [incident] = _open(store)
    assert reports[1].id not in incident.evidence_ids  # a deleted report leaves its incident
    assert incident.report_count == 3 and "renamed.com" in incident.accounts and "c1.com" not in incident.accounts
    store.upsert_evidence([r.model_copy(update={"deleted": True, "updated_at": r.updated_at + timedelta(2)})
                           for r in (moved, *reports[2:])])
    correlate(store, settings())
    emptied = IncidentStore(store).get(incident.id)
    assert emptied is not None and emptied.members == [] and emptied.report_count == 0
    assert emptied.status == "dismissed"  # a candidate with nothing left is dismissed, and kept (ids never reused)
