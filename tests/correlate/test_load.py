"""Loading the working set: a first run reads the store in storage order and sorts by time itself,
normalizes in worker processes while it reads, and writes match texts only onto the versions read."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from caseline.config.models import Settings
from caseline.correlate import load
from caseline.correlate.load import load_working_set, write_match_texts
from caseline.correlate.normalize import match_text
from caseline.evidence import Evidence
from caseline.store import Store
from caseline.store.rows import EvidenceRow

from .helpers import EXPORT, LOGIN, at, slack, ticket

_EV = EvidenceRow.__table__  # type: ignore[attr-defined]
WINDOW = Settings().correlate.window


def world() -> list[Evidence]:
    """Stored newest first, with ties in time (ids decide among them), reports and context mixed."""
    items = [ticket(100 + k, f"{EXPORT[k % len(EXPORT)]} (number {k})", 90 - 3 * (k // 2), f"a{k % 5}.com")
             for k in range(40)]
    items += [slack(1000.0 + k, f"{LOGIN[k % len(LOGIN)]}, seen again", 60 - k) for k in range(12)]
    return items


def check_loaded(store: Store, stored: list[Evidence]) -> None:
    items = load_working_set(store, watermark=0, window=WINDOW)
    by_id = {e.id: e for e in stored}
    expected = sorted(by_id, key=lambda i: (by_id[i].created_at, i))
    assert items.ids == expected
    assert bool(np.all(np.diff(items.t) >= 0))
    for pos, evidence_id in enumerate(items.ids):
        evidence = by_id[evidence_id]
        assert items.mt[pos] == match_text(evidence.title, evidence.body)
        assert items.account[pos] == evidence.account
        assert items.t[pos] == pytest.approx(evidence.created_at.timestamp(), abs=1e-3)
        assert bool(items.report[pos]) == (evidence.source == "zendesk")
    assert items.fresh == list(range(items.n))
    assert items.max_seq == int(items.seq.max())


def test_a_first_run_loads_in_time_order_whatever_the_storage_order(store: Store) -> None:
    stored = world()
    for evidence in stored:  # one write each, newest first: storage order is the reverse of time order
        store.upsert_evidence([evidence])
    check_loaded(store, stored)


def test_texts_normalized_in_worker_processes_stay_with_their_items(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load, "_PARALLEL_MIN", 4)  # every batch goes to the pool, several in flight at once
    monkeypatch.setattr(load, "_BATCH", 9)
    stored = world()
    store.upsert_evidence(stored)
    check_loaded(store, stored)


def test_a_match_text_is_written_only_onto_the_version_it_was_computed_from(store: Store) -> None:
    first, second = ticket(1, EXPORT[0], 0, "a.com"), ticket(2, EXPORT[1], 1, "b.com")
    store.upsert_evidence([first, second])
    items = load_working_set(store, watermark=0, window=WINDOW)
    newer = first.model_copy(update={"title": "Something else entirely", "body": "Something else entirely",
                                     "updated_at": at(30)})
    store.upsert_evidence([newer])  # changed while the run was computing
    write_match_texts(store, items)
    with store.engine.connect() as conn:
        stored = dict(conn.execute(select(_EV.c.id, _EV.c.match_text)).all())
    assert stored[second.id] == match_text(second.title, second.body)
    assert stored[first.id] is None  # not the old version's text: the next run normalizes the new one
