"""Store behaviour on SQLite and, when CASELINE_TEST_PG_URL is set, on a real PostgreSQL server."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from caseline.evidence import Account, Activity, Evidence, Person
from caseline.store import Store, open_store

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def ticket(n: int, *, minutes: int = 0, title: str = "Checkout fails", comments: int = 1, **extra: object) -> Evidence:
    at = T0 + timedelta(minutes=minutes)
    return Evidence(
        id=f"zendesk:ticket:{n}",
        title=title,
        body=f"{title} for customer {n}",
        author=Person(name="Dana", email="dana@acme.com"),
        created_at=T0,
        updated_at=at,
        activities=[
            Activity(at=T0 + timedelta(minutes=i), type="comment", text=f"reply {i}") for i in range(comments)
        ],
        **extra,  # type: ignore[arg-type]
    )


def test_upsert_is_idempotent_by_id(store: Store) -> None:
    items = [ticket(1), ticket(2)]
    assert store.upsert_evidence(items) == 2
    again = store.upsert_evidence(items)
    assert again == 0 and again.unchanged == 2
    assert store.count_evidence() == 2
    assert len(store.get_many(["zendesk:ticket:1"])[0].activities) == 1


def test_an_edit_updates_the_item_and_replaces_its_activities(store: Store) -> None:
    store.upsert_evidence([ticket(1, comments=1)])
    store.upsert_evidence([ticket(1, minutes=5, title="Checkout fails (edited)", comments=3)])
    item = store.get_evidence("zendesk:ticket:1")
    assert item is not None
    assert item.title == "Checkout fails (edited)"
    assert [a.text for a in item.activities] == ["reply 0", "reply 1", "reply 2"]
    assert store.count_evidence() == 1


def test_a_stale_copy_never_overwrites_a_newer_one(store: Store) -> None:
    store.upsert_evidence([ticket(1, minutes=10, title="newer")])
    result = store.upsert_evidence([ticket(1, minutes=1, title="older")])
    assert result == 0 and result.stale == 1
    item = store.get_evidence("zendesk:ticket:1")
    assert item is not None and item.title == "newer"


def test_a_deletion_lands_even_without_a_newer_timestamp(store: Store) -> None:
    store.upsert_evidence([ticket(1, minutes=10)])
    store.upsert_evidence([ticket(1, minutes=10, deleted=True)])
    assert store.query_evidence() == []
    assert [e.id for e in store.query_evidence(include_deleted=True)] == ["zendesk:ticket:1"]


def test_a_page_repeating_an_item_keeps_the_newest_copy(store: Store) -> None:
    store.upsert_evidence([ticket(1, minutes=3, title="b"), ticket(1, minutes=1, title="a")])
    item = store.get_evidence("zendesk:ticket:1")
    assert item is not None and item.title == "b"


def test_page_and_cursor_commit_together_or_not_at_all(store: Store) -> None:
    store.save_page(source="zendesk", stream="tickets", items=[ticket(1)], cursor={"after": "c1"})
    assert store.get_cursor("zendesk", "tickets") == {"after": "c1"}
    with pytest.raises(Exception):  # noqa: B017 - any failure inside the transaction must roll back
        store.save_page(
            source="zendesk", stream="tickets", items=[ticket(2)], cursor={"after": object()}  # not JSON
        )
    assert store.get_cursor("zendesk", "tickets") == {"after": "c1"}
    assert store.get_evidence("zendesk:ticket:2") is None


def test_a_moved_issue_keeps_its_first_id_and_the_new_key_is_an_alias(store: Store) -> None:
    first = Evidence(id="jira:issue:SUP-7", vendor_id="10042", title="Login down", created_at=T0)
    moved = Evidence(id="jira:issue:OPS-3", vendor_id="10042", title="Login down (moved)", created_at=T0,
                     updated_at=T0 + timedelta(hours=1))
    store.upsert_evidence([first])
    store.upsert_evidence([moved])
    assert store.count_evidence() == 1
    item = store.get_evidence("jira:issue:OPS-3")
    assert item is not None and item.id == "jira:issue:SUP-7" and "jira:issue:OPS-3" in item.aliases
    assert item.title == "Login down (moved)"


def test_links_are_stored_and_resolved_through_aliases(store: Store) -> None:
    store.upsert_evidence([
        Evidence(id="slack:message:C1:1.0", body="see OPS-3", links=["jira:issue:OPS-3"], created_at=T0),
        Evidence(id="jira:issue:SUP-7", vendor_id="1", created_at=T0),
    ])
    store.upsert_evidence([Evidence(id="jira:issue:OPS-3", vendor_id="1", created_at=T0,
                                    updated_at=T0 + timedelta(minutes=1))])
    assert store.links(["slack:message:C1:1.0"]) == {"slack:message:C1:1.0": ["jira:issue:SUP-7"]}
    assert ("slack:message:C1:1.0", "jira:issue:SUP-7") in store.all_links()


def test_accounts_merge_across_tools(store: Store) -> None:
    store.upsert_accounts([Account(key="acme.com", name="Acme", domains=["acme.com"],
                                   external_ids=["zendesk:organization:1"])])
    store.save_page(source="hubspot", stream="companies", cursor=None,
                    items=[Account(key="acme.com", plan="enterprise", arr=50000.0, external_ids=["hubspot:company:2"])])
    account = store.account("acme.com")
    assert account is not None
    assert (account.name, account.plan, account.arr) == ("Acme", "enterprise", 50000.0)
    assert account.external_ids == ["hubspot:company:2", "zendesk:organization:1"]


def test_query_filters_by_source_time_and_words(store: Store) -> None:
    store.upsert_evidence([
        ticket(1, title="Checkout fails"),
        Evidence(id="slack:message:C1:1.0", body="Checkout is down for everyone", created_at=T0 + timedelta(days=2)),
        Evidence(id="jira:issue:OPS-1", title="Invoice PDF typo", created_at=T0 + timedelta(days=3)),
    ])
    assert [e.id for e in store.query_evidence(sources=["slack"])] == ["slack:message:C1:1.0"]
    assert {e.id for e in store.query_evidence(query="checkout")} == {"zendesk:ticket:1", "slack:message:C1:1.0"}
    assert [e.id for e in store.query_evidence(since=T0 + timedelta(days=1), query="CHECKOUT down")] == [
        "slack:message:C1:1.0"
    ]
    assert [e.id for e in store.query_evidence(limit=1)] == ["jira:issue:OPS-1"]


def test_every_write_bumps_the_change_sequence(store: Store) -> None:
    store.upsert_evidence([ticket(1)])
    first = store.get_meta("evidence_seq")
    store.upsert_evidence([ticket(1)])  # unchanged: no bump
    assert store.get_meta("evidence_seq") == first
    store.upsert_evidence([ticket(1, minutes=1, title="edited")])
    assert store.get_meta("evidence_seq") == first + 1


def test_sqlite_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "c.db"
    store = open_store(f"sqlite:///{path}")
    store.upsert_evidence([ticket(1)])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for side in (Path(str(path) + "-wal"), Path(str(path) + "-shm")):
        if side.exists():
            assert stat.S_IMODE(os.stat(side).st_mode) & 0o077 == 0
