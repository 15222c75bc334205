"""Fixtures for the emulator tests: a small seeded world, a running emulator and one client per vendor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from caseline.emulator import Emulator, World, make_world, serve

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ZENDESK_AUTH = ("agent@example.com/token", "zd-emulator-token")
INTERCOM_HEADERS = {"Authorization": "Bearer ic-emulator-token", "Intercom-Version": "2.11"}
HUBSPOT_HEADERS = {"Authorization": "Bearer hs-emulator-token"}


@pytest.fixture
def world() -> World:
    return make_world(
        3, zendesk_tickets=23, intercom_conversations=17, hubspot_tickets=25, hubspot_notes=12, companies=4, now=NOW
    )


@pytest.fixture
def emu(world: World) -> Iterator[Emulator]:
    with serve(world) as running:
        yield running
    assert running.stats.crashes == []


@pytest.fixture
def zendesk(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url("zendesk"), auth=ZENDESK_AUTH, timeout=5) as client:
        yield client


@pytest.fixture
def intercom(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url("intercom"), headers=INTERCOM_HEADERS, timeout=5) as client:
        yield client


@pytest.fixture
def hubspot(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url("hubspot"), headers=HUBSPOT_HEADERS, timeout=5) as client:
        yield client
