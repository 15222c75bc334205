"""A sync killed mid-way and then run again ends exactly where an uninterrupted sync ends (Slack, Jira, Linear)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from caseline.connectors import CONNECTORS
from caseline.emulator import make_world, serve
from caseline.store import Store, open_store
from tests.e2e._emulated import compressed_time, interrupted, settings_for, sync

__all__ = ["compressed_time"]

pytestmark = pytest.mark.usefixtures("compressed_time")

CASES: dict[str, tuple[dict[str, Any], int]] = {
    # vendor: (world counts, pages handed over before the kill)
    "slack": ({"slack_messages": 30}, 1),  # inside the first channel's pass: its cursor is not written yet
    "jira": ({"jira_issues": 17}, 2),  # after two committed pages of five
    "linear": ({"linear_issues": 60}, 1),  # the first page of a pass whose watermark comes last
}


def _state(store: Store, vendor: str) -> tuple[list[Any], dict[str, Any]]:
    evidence = store.query_evidence(sources=[vendor], include_deleted=True, with_activities=True)
    return [e.model_dump() for e in evidence], store.cursors(vendor)


@pytest.mark.parametrize("vendor", sorted(CASES))
async def test_interrupted_then_rerun_equals_uninterrupted(vendor: str, tmp_path: Path) -> None:
    counts, kill_after = CASES[vendor]
    world = make_world(seed=21, zendesk_tickets=0, intercom_conversations=0, hubspot_tickets=0, hubspot_notes=0,
                       **counts)  # fmt: skip
    world.settings["jira"]["max_results"] = 5
    whole = open_store(f"sqlite:///{tmp_path / 'whole.db'}")
    broken = open_store(f"sqlite:///{tmp_path / 'broken.db'}")
    with serve(world) as emu:
        (report,) = await sync(settings_for(emu, whole, {vendor: {}}), whole)
        assert report.error is None and report.stored > 0
        settings = settings_for(emu, broken, {vendor: {}})
        (killed,) = await sync(settings, broken, connectors={vendor: interrupted(CONNECTORS[vendor], kill_after)})
        assert killed.error is not None and "killed mid-sync" in killed.error
        partial = _state(broken, vendor)
        assert 0 < len(partial[0]) < len(_state(whole, vendor)[0])  # it really stopped half-way
        (rerun,) = await sync(settings, broken)
        assert rerun.error is None
    assert _state(broken, vendor) == _state(whole, vendor)
