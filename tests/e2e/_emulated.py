"""Helpers for the Slack/Jira/Linear end-to-end tests: settings for an emulator, a sync, what got stored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import pytest

from caseline.config import Settings, parse_settings
from caseline.connectors import CONNECTORS, budget
from caseline.connectors.base import Connector, Cursors, Page
from caseline.connectors.http import VendorClient
from caseline.connectors.retry import set_testing
from caseline.connectors.sync import SourceReport, run_sync
from caseline.emulator import Emulator
from caseline.emulator.generate import DEFAULT_CREDENTIALS
from caseline.evidence import Evidence
from caseline.store import Store


@pytest.fixture
def compressed_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Retry waits at 1/4 speed (a 429's Retry-After: 1 outlasts the emulator's short window); no throttling."""
    set_testing(True, scale=0.25)
    monkeypatch.setattr(budget, "_enabled", False)
    yield
    set_testing(False)


def source_table(emu: Emulator, vendor: str, **extra: Any) -> dict[str, Any]:
    """The `[sources.<vendor>]` table that points the real connector at the emulator."""
    table: dict[str, Any] = {"base_url": emu.base_url(vendor), **DEFAULT_CREDENTIALS[vendor]}
    if vendor == "jira":
        table.setdefault("jql", "project in (OPS, SUP)")
    return table | extra


def settings_for(emu: Emulator, store: Store, tables: Mapping[str, Mapping[str, Any]]) -> Settings:
    sources = {vendor: source_table(emu, vendor, **dict(extra)) for vendor, extra in tables.items()}
    return parse_settings({"store": {"url": str(store.engine.url)}, "sources": sources})


async def sync(
    settings: Settings, store: Store, *sources: str, connectors: Mapping[str, type[Connector[Any]]] | None = None
) -> list[SourceReport]:
    chosen = dict(CONNECTORS) | dict(connectors or {})
    return await run_sync(settings, store, sources=list(sources) or None, connectors=chosen, resolve_accounts=False)


def stored(store: Store, source: str) -> dict[str, Evidence]:
    return {e.id: e for e in store.query_evidence(sources=[source], include_deleted=True, with_activities=True)}


def interrupted(base: type[Connector[Any]], after_pages: int) -> type[Connector[Any]]:
    """The real connector, dying (like a killed process) after `after_pages` pages were handed over."""

    class Interrupted(base):  # type: ignore[valid-type,misc]
        async def fetch(self, api: VendorClient, cursor: Cursors) -> AsyncIterator[Page]:
            count = 0
            async for page in super().fetch(api, cursor):
                if count == after_pages:
                    raise RuntimeError("killed mid-sync")
                count += 1
                yield page

    return Interrupted


class FailingStore:
    """The real store, except that the save after `fail_after` stored pages raises (a crash mid-sync)."""

    def __init__(self, store: Store, fail_after: int) -> None:
        self.store, self.left = store, fail_after

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def save_page(self, **kwargs: Any) -> int:
        if self.left == 0:
            raise RuntimeError("injected crash before this page was stored")
        self.left -= 1
        return int(self.store.save_page(**kwargs))
