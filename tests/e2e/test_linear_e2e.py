"""Linear end to end: the real connector against the emulated GraphQL API (graphql-core) over 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from caseline.connectors.linear import QUERY
from caseline.emulator import Faults, RateLimit, RateLimits, World, make_world, serve
from caseline.emulator.generate import DEFAULT_CREDENTIALS
from caseline.store import open_store
from caseline.timeparse import to_utc
from tests.e2e._emulated import compressed_time, settings_for, stored, sync

__all__ = ["compressed_time"]

pytestmark = pytest.mark.usefixtures("compressed_time")


def _world(issues: int = 70) -> World:
    return make_world(seed=13, zendesk_tickets=0, intercom_conversations=0, hubspot_tickets=0, hubspot_notes=0,
                      linear_issues=issues)  # fmt: skip


@pytest.mark.slow
async def test_faults_then_moves_comments_and_trash(tmp_path: Path) -> None:
    world = _world()
    # seeded so a 5xx and a reset mid-body hit the first page; page 2 meets the rate limit
    faults = Faults(seed=1567, error_rate=0.3, reset_rate=0.3, vendors=["linear"])
    limits = RateLimits(linear=RateLimit(requests=1, per_seconds=0.5))  # page 2 comes sooner
    store = open_store(f"sqlite:///{tmp_path / 'linear.db'}")
    with serve(world, faults=faults, limits=limits) as emu:
        settings = settings_for(emu, store, {"linear": {}})
        (first,) = await sync(settings, store)
        assert first.error is None and first.failed == 0
        assert emu.stats.rate_limited["linear"] > 0  # RATELIMITED in a 400 body, retried
        assert emu.stats.faults["error"] > 0 and emu.stats.faults["reset_mid_body"] > 0
        assert not emu.stats.crashes

        issues = {f"linear:issue:{i['identifier']}": i for i in world.all("linear", "issues")}
        got = stored(store, "linear")
        assert sorted(got) == sorted(issues)  # 70 issues over two pages of 50, each once
        for evidence_id, issue in issues.items():
            item = got[evidence_id]
            assert item.vendor_id == issue["id"] and item.url == issue["url"] and item.status == issue["state"]["name"]
            assert item.updated_at == to_utc(issue["updatedAt"])
            assert [a.native_id for a in item.activities if a.type == "comment"] == [c["id"] for c in issue["comments"]]
            sources = {a["sourceType"]: a["url"].rsplit("/", 1)[1] for a in issue["attachments"]}
            if "intercom" in sources:
                assert f"intercom:conversation:{sources['intercom']}" in item.links

        ordered = sorted(issues.values(), key=lambda i: int(i["identifier"].split("-")[1]))
        moved, commented, trashed = ordered[0], ordered[1], ordered[2]
        world.edit("linear", "issues", moved["id"], identifier="OPS-1")  # moved to team OPS
        world.add_comment("linear", "issues", commented["id"], "Fixed by reverting ENG-2's deploy")
        world.delete("linear", "issues", trashed["id"])
        (second,) = await sync(settings, store)
        assert second.error is None and second.failed == 0

    after = stored(store, "linear")
    first_id = f"linear:issue:{moved['identifier']}"
    assert sorted(after) == sorted(got)  # the moved issue keeps the id it was first seen with
    assert store.resolve_id("linear:issue:OPS-1") == first_id and "linear:issue:OPS-1" in after[first_id].aliases
    assert "/issue/OPS-1" in str(after[first_id].url)
    assert after[f"linear:issue:{commented['identifier']}"].activities[-1].text == "Fixed by reverting ENG-2's deploy"
    assert after[f"linear:issue:{trashed['identifier']}"].deleted
    assert second.stored == 3


async def test_malformed_nodes_are_quarantined_with_a_reason(tmp_path: Path) -> None:
    world = _world(20)
    store = open_store(f"sqlite:///{tmp_path / 'bad.db'}")
    with serve(world, faults=Faults(seed=1, malformed_rate=1.0, vendors=["linear"])) as emu:
        (report,) = await sync(settings_for(emu, store, {"linear": {}}), store)
    assert report.error is None and report.failed == 1 and report.fetched == 20
    (bad,) = store.quarantined("linear")
    assert bad["reason"].startswith("linear: issue ENG-")
    assert len(stored(store, "linear")) == 19


def test_emulated_schema_answers_the_connectors_query_within_linears_complexity_cap() -> None:
    with serve(_world(3)) as emu:
        token = DEFAULT_CREDENTIALS["linear"]["token"]
        url = f"{emu.base_url('linear')}/graphql"
        body = {"query": QUERY, "variables": {"since": "-P400D", "after": None}}
        ok = httpx.post(url, json=body, headers={"Authorization": token})
        bearer = httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
        greedy = "{ issues(first: 250) { nodes { comments(first: 250) { nodes { id body user { name email } } } } } }"
        wild = httpx.post(url, json={"query": greedy}, headers={"Authorization": token})
    assert ok.status_code == 200 and len(ok.json()["data"]["issues"]["nodes"]) == 3
    assert int(ok.headers["X-Complexity"]) < 10_000
    assert bearer.status_code == 400 and bearer.json()["errors"][0]["extensions"]["code"] == "AUTHENTICATION_ERROR"
    assert wild.status_code == 400 and wild.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
