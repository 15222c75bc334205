"""Jira end to end: the real connector against the emulated REST v3 API over 127.0.0.1, with faults on."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from caseline.emulator import Faults, RateLimit, RateLimits, World, make_world, serve
from caseline.emulator.generate import DEFAULT_CREDENTIALS
from caseline.store import open_store
from caseline.timeparse import to_utc
from tests.e2e._emulated import compressed_time, settings_for, stored, sync

__all__ = ["compressed_time"]

pytestmark = pytest.mark.usefixtures("compressed_time")


def _world(issues: int = 24) -> World:
    world = make_world(seed=9, zendesk_tickets=0, intercom_conversations=0, hubspot_tickets=0, hubspot_notes=0,
                       jira_issues=issues)  # fmt: skip
    # the API user lives in Los Angeles: JQL dates are read there, times come as -0700/-0800
    world.settings["jira"].update(timeZone="America/Los_Angeles", max_results=5, embedded_comments=1,
                                  embedded_changelog=1)  # fmt: skip
    return world


@pytest.mark.slow
async def test_faults_then_transitions_comments_and_a_moved_issue(tmp_path: Path) -> None:
    world = _world(11)
    faults = Faults(seed=2, error_rate=0.05, reset_rate=0.05, vendors=["jira"])
    limits = RateLimits(jira=RateLimit(requests=4, per_seconds=0.25))  # the children fan-out trips it
    store = open_store(f"sqlite:///{tmp_path / 'jira.db'}")
    with serve(world, faults=faults, limits=limits) as emu:
        settings = settings_for(emu, store, {"jira": {}})
        (first,) = await sync(settings, store)
        assert first.error is None and first.failed == 0
        assert emu.stats.rate_limited["jira"] > 0 and emu.stats.faults["error"] > 0
        assert emu.stats.endpoints["jira GET /rest/api/3/search"] == 0  # the removed endpoint is never called
        assert not emu.stats.crashes

        issues = {f"jira:issue:{i['key']}": i for i in world.all("jira", "issues")}
        got = stored(store, "jira")
        assert sorted(got) == sorted(issues)  # every issue, exactly once, over pages of 5
        for evidence_id, issue in issues.items():
            item = got[evidence_id]
            assert item.vendor_id == issue["id"] and item.title == issue["fields"]["summary"]
            assert item.updated_at == to_utc(issue["fields"]["updated"])  # "-0800"-style offsets read right
            assert [a.native_id for a in item.activities if a.type == "comment"] == [c["id"] for c in issue["comments"]]
            transitions = [h for h in issue["changelog"] if any(x["field"] == "status" for x in h["items"])]
            assert [a.native_id for a in item.activities if a.type == "status_change"] == [h["id"] for h in transitions]
            remote = [link["object"]["url"].rsplit("/", 1)[1] for link in issue["remotelinks"]]
            assert [x for x in item.links if x.startswith("zendesk:")] == [f"zendesk:ticket:{n}" for n in remote]

        ordered = sorted(issues.values(), key=lambda i: int(i["id"]))
        moved, commented, resolved = ordered[0], ordered[1], ordered[2]
        world.edit("jira", "issues", moved["id"], key="SUP-1")  # moved to another project: a new key
        world.add_comment(
            "jira", "issues", commented["id"], "Rolled back; see https://acme.zendesk.com/agent/tickets/7"
        )
        done = {"name": "Done", "id": "10001", "statusCategory": {"key": "done"}}
        world.edit("jira", "issues", resolved["id"], fields={"status": done})
        (second,) = await sync(settings, store)
        assert second.error is None and second.failed == 0

    after = stored(store, "jira")
    old_id = f"jira:issue:{moved['key']}"
    assert sorted(after) == sorted(got)  # the moved issue kept the id it was first seen with
    assert after[old_id].aliases == ["jira:issue:SUP-1"] and store.resolve_id("jira:issue:SUP-1") == old_id
    assert store.get_evidence("jira:issue:SUP-1") == after[old_id]
    last = after[f"jira:issue:{commented['key']}"].activities[-1]
    assert last.type == "comment" and last.text.startswith("Rolled back") and last.actor is not None
    assert "zendesk:ticket:7" in after[f"jira:issue:{commented['key']}"].links
    fixed = after[f"jira:issue:{resolved['key']}"]
    assert fixed.status == "Done" and fixed.activities[-1].to_status == "Done"
    assert second.stored == 3


async def test_malformed_items_are_stored_once_by_key(tmp_path: Path) -> None:
    world = _world(12)
    faults = Faults(seed=8, malformed_rate=0.5, vendors=["jira"])
    store = open_store(f"sqlite:///{tmp_path / 'malformed.db'}")
    with serve(world, faults=faults) as emu:
        (report,) = await sync(settings_for(emu, store, {"jira": {}}), store)
        assert report.error is None and emu.stats.faults["malformed"] > 0
    issues = {f"jira:issue:{i['key']}": i for i in world.all("jira", "issues")}
    got = stored(store, "jira")
    # the emulator drops or nulls an item's `id`: keyed by `key`, the issue is still stored, once
    assert sorted(got) == sorted(issues) and report.failed == 0 and store.quarantined("jira") == []
    assert any(e.vendor_id is None for e in got.values())
    assert all(e.vendor_id in (None, issues[k]["id"]) for k, e in got.items())


def test_legacy_search_answers_the_recorded_410(vendor_sample: object) -> None:
    recorded = vendor_sample("jira", "search_legacy_410_gone.json")  # type: ignore[operator]
    world = _world(2)
    with serve(world) as emu:
        credentials = DEFAULT_CREDENTIALS["jira"]
        auth = (credentials["email"], credentials["token"])
        response = httpx.get(f"{emu.base_url('jira')}/rest/api/3/search", params={"jql": "project = OPS"}, auth=auth)
    assert response.status_code == 410 and response.json() == recorded
