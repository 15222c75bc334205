"""Cross-tool links are first-class: a Slack thread, a Jira issue and three Zendesk tickets that name each
other end up as stored links between evidence ids, whichever source syncs first (targets may arrive later)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from caseline.emulator import World, serve
from caseline.emulator.generate import DEFAULT_CREDENTIALS
from caseline.store import open_store
from tests.e2e._emulated import compressed_time, settings_for, sync

__all__ = ["compressed_time"]

pytestmark = pytest.mark.usefixtures("compressed_time")

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TS = "1772355600.000100"  # 2026-03-01T09:00:00Z
SLACK_URL = f"https://example.slack.com/archives/C0INCIDNT/p{TS.replace('.', '')}"
SLACK = f"slack:message:C0INCIDNT:{TS}"
ZD = "https://example.zendesk.com/agent/tickets"


def _ticket(ticket_id: int, created: str, text: str, *comments: str) -> dict[str, object]:
    bodies = [text, *comments]
    return {"id": ticket_id, "subject": text.split(".")[0], "status": "open", "requester_id": 9, "created_at": created,
            "updated_at": created, "comments": [{"id": ticket_id * 10 + n, "author_id": 9, "body": body,
                                                 "created_at": created} for n, body in enumerate(bodies)]}  # fmt: skip


def _world() -> World:
    return World.from_dict({
        "now": "2026-03-02T12:00:00Z",
        "credentials": {name: DEFAULT_CREDENTIALS[name] for name in ("zendesk", "slack", "jira")},
        "vendors": {
            "zendesk": {
                "users": [{"id": 9, "name": "Rosa Lopez", "email": "rosa@acme.com", "role": "end-user"}],
                "tickets": [
                    _ticket(101, "2026-03-01T08:50:00Z", "Checkout returns 502. Support says it is tracked in OPS-77."),
                    _ticket(102, "2026-03-01T08:55:00Z", f"Payment page down. Discussed in {SLACK_URL}"),
                    _ticket(103, "2026-03-01T09:10:00Z", "Cannot pay.",
                            f"Duplicate of {ZD}/101 — engineering: https://acme.atlassian.net/browse/OPS-77"),
                ],
            },
            "slack": {
                "channels": [{"id": "C0INCIDNT", "name": "incidents", "is_member": True}],
                "users": [{"id": "U1", "name": "kemi", "profile": {"real_name": "Kemi Okafor"}}],
                "messages": [
                    {"channel": "C0INCIDNT", "ts": TS, "user": "U1",
                     "text": f"Checkout 502s: <{ZD}/101|#101> and <{ZD}/102>"},
                    {"channel": "C0INCIDNT", "ts": "1772355900.000200", "thread_ts": TS, "user": "U1",
                     "text": "Opened OPS-77 for this"},
                ],
            },
            "jira": {
                "issues": [{
                    "id": "10077", "key": "OPS-77", "remotelinks": [{"object": {"url": f"{ZD}/103", "title": "#103"}}],
                    "fields": {"summary": "Checkout 502 after deploy", "created": "2026-03-01T09:05:00Z",
                               "description": f"From the incident channel: {SLACK_URL}",
                               "project": {"key": "OPS"}},
                }],
            },
        },
    }, now=NOW)  # fmt: skip


EXPECTED = {
    ("zendesk:ticket:101", "jira:issue:OPS-77"),
    ("zendesk:ticket:102", SLACK),
    ("zendesk:ticket:103", "zendesk:ticket:101"),
    ("zendesk:ticket:103", "jira:issue:OPS-77"),
    (SLACK, "zendesk:ticket:101"),
    (SLACK, "zendesk:ticket:102"),
    (SLACK, "jira:issue:OPS-77"),
    ("jira:issue:OPS-77", SLACK),
    ("jira:issue:OPS-77", "zendesk:ticket:103"),
}


@pytest.mark.parametrize("order", [("zendesk", "slack", "jira"), ("jira", "slack", "zendesk")])
async def test_links_between_tools_are_stored_in_any_sync_order(order: tuple[str, ...], tmp_path: Path) -> None:
    world = _world()
    store = open_store(f"sqlite:///{tmp_path / 'links.db'}")
    with serve(world) as emu:
        tables = {name: {"start_date": "2026-01-01"} for name in order}
        tables["jira"] = {"start_date": "2026-01-01", "jql": "project in (OPS, SUP)"}
        settings = settings_for(emu, store, tables)
        for source in order:
            (report,) = await sync(settings, store, source)
            assert report.error is None and report.failed == 0
            # links are stored with their source even while the target has not arrived yet
            assert {link for link in store.all_links() if link[0].startswith(source)} == {
                link for link in EXPECTED if link[0].startswith(source)
            }
        assert set(store.all_links()) == EXPECTED
        assert sorted(store.links([SLACK])[SLACK]) == ["jira:issue:OPS-77", "zendesk:ticket:101", "zendesk:ticket:102"]

        # the Jira issue moves to SUP; a ticket naming the new key still links to the same evidence
        world.edit("jira", "issues", "10077", key="SUP-77")
        world.add_comment("zendesk", "tickets", 102, "Now tracked as SUP-77", author=9)
        for source in ("jira", "zendesk"):
            (report,) = await sync(settings, store, source)
            assert report.error is None
    assert ("zendesk:ticket:102", "jira:issue:OPS-77") in set(store.all_links())
    assert store.get_evidence("jira:issue:SUP-77") is not None
