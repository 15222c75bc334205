"""Responder decisions take effect now and survive every later correlation run."""

from __future__ import annotations

import pytest

from caseline.correlate import correlate
from caseline.correlate.decisions import confirm, dismiss, exclude, merge, split
from caseline.errors import NotFound
from caseline.incident import Incident
from caseline.store import Store
from caseline.store.incidents import IncidentStore

from .helpers import EXPORT, LOGIN, burst, settings, ticket

ACCOUNTS = [f"c{k}.com" for k in range(40)]


def _one(store: Store) -> Incident:
    store.upsert_evidence(burst(EXPORT, 0, ACCOUNTS[:5], first_id=100))
    correlate(store, settings())
    [incident] = IncidentStore(store).list()
    return incident


def _get(store: Store, incident_id: str) -> Incident:
    found = IncidentStore(store).get(incident_id)
    assert found is not None
    return found


def test_confirm_and_dismiss_stay_through_later_runs(store: Store) -> None:
    incident = _one(store)
    assert confirm(store, incident.id).status == "confirmed"
    store.upsert_evidence([ticket(150, EXPORT[0], 30, "late.com")])
    correlate(store, settings())
    again = _get(store, incident.id)
    assert again.status == "confirmed" and "zendesk:ticket:150" in again.evidence_ids
    assert dismiss(store, incident.id).status == "dismissed"
    store.upsert_evidence([ticket(151, EXPORT[1], 40, "later.com")])
    correlate(store, settings())
    again = _get(store, incident.id)
    assert again.status == "dismissed" and "zendesk:ticket:151" in again.evidence_ids  # absorbed, still dismissed
    assert [d["action"] for d in IncidentStore(store).decisions(incident.id)] == ["confirm", "dismiss"]


def test_a_dismissed_incident_does_not_merge_with_a_new_one(store: Store) -> None:
    incident = _one(store)
    dismiss(store, incident.id)
    store.upsert_evidence(burst(EXPORT, 200, ACCOUNTS[5:10], first_id=200))
    correlate(store, settings())
    store.upsert_evidence(burst(EXPORT, 60, ACCOUNTS[10:20], first_id=300, step=14))  # would bridge the two
    correlate(store, settings())
    assert _get(store, incident.id).status == "dismissed"
    assert len(IncidentStore(store).list(statuses=["candidate"])) == 1


def test_merge_folds_the_others_in_and_stays_merged(store: Store) -> None:
    export = _one(store)
    store.upsert_evidence(burst(LOGIN, 10, ACCOUNTS[10:15], first_id=500))
    correlate(store, settings())
    login = next(i for i in IncidentStore(store).list() if i.id != export.id)
    merged = merge(store, settings(), login.id, [export.id])
    assert merged.id == login.id and len(merged.evidence_ids) == 10
    assert IncidentStore(store).get(export.id, follow_merges=False).merged_into == login.id  # type: ignore[union-attr]
    moved = next(m for m in merged.members if m.evidence_id == "zendesk:ticket:100")
    assert moved.reasons[-1].kind == "decision"
    store.upsert_evidence([ticket(160, EXPORT[2], 25, "late.com")])
    correlate(store, settings())
    [only] = IncidentStore(store).list()
    assert only.id == login.id and "zendesk:ticket:160" in only.evidence_ids
    assert _get(store, export.id).id == login.id


def test_split_moves_evidence_out_and_the_parts_never_merge_again(store: Store) -> None:
    incident = _one(store)
    kept, fresh = split(store, settings(), incident.id, ["zendesk:ticket:103", "zendesk:ticket:104"])
    assert set(fresh.evidence_ids) == {"zendesk:ticket:103", "zendesk:ticket:104"} and fresh.id != incident.id
    assert len(kept.evidence_ids) == 3 and kept.id == incident.id
    assert all(m.reasons[-1].kind == "decision" for m in fresh.members)
    store.upsert_evidence(burst(EXPORT, 20, ACCOUNTS[20:26], first_id=700, step=3))  # reads like both parts
    correlate(store, settings())
    assert {i.id for i in IncidentStore(store).list()} == {incident.id, fresh.id}


def test_exclude_takes_evidence_out_for_good(store: Store) -> None:
    incident = _one(store)
    kept = exclude(store, settings(), incident.id, ["zendesk:ticket:102"])
    assert "zendesk:ticket:102" not in kept.evidence_ids and kept.report_count == 4
    edited = ticket(102, EXPORT[2] + " (edited)", 14, ACCOUNTS[2])  # a change makes it scored again
    store.upsert_evidence([edited.model_copy(update={"updated_at": edited.updated_at.replace(year=2027)})])
    store.upsert_evidence([ticket(170, EXPORT[3], 16, "late.com")])
    correlate(store, settings())
    again = _get(store, incident.id)
    assert "zendesk:ticket:102" not in again.evidence_ids and "zendesk:ticket:170" in again.evidence_ids


def test_unknown_ids_are_not_found(store: Store) -> None:
    incident = _one(store)
    with pytest.raises(NotFound, match="unknown incident 'inc-nope'"):
        confirm(store, "inc-nope")
    with pytest.raises(NotFound):
        merge(store, settings(), incident.id, ["inc-nope"])
    with pytest.raises(NotFound, match="not in incident"):
        exclude(store, settings(), incident.id, ["zendesk:ticket:999"])
