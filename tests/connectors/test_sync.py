"""The runner: sources run concurrently and fail alone; bad items are quarantined; a crash resumes cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from caseline.connectors.base import Connector, Cursors, Page, SourceSettings
from caseline.connectors.http import VendorClient
from caseline.connectors.sync import SyncProgress, run_sync
from caseline.errors import ConfigError, CredentialsError, MalformedItem, VendorError
from caseline.evidence import Account, Evidence
from caseline.store import Store


class FakeSettings(SourceSettings):
    fail_after_pages: int | None = None  # raise once this many pages were yielded
    credentials_rejected: bool = False


def _raw(n: int, **extra: Any) -> dict[str, Any]:
    return {"id": n, "title": f"item {n}", "at": f"2026-03-01T10:{n:02d}:00Z", **extra}


class Fake(Connector[FakeSettings]):
    """A vendor whose data lives in `PAGES`; its cursor is the index of the next page."""

    name = "alpha"
    Settings = FakeSettings
    PAGES: ClassVar[list[list[dict[str, Any]]]] = [[_raw(1), _raw(2)], [_raw(3), _raw(4)], [_raw(5)]]
    seen_cursors: ClassVar[list[Cursors]] = []
    wait_for: ClassVar[asyncio.Event | None] = None

    def client(self) -> VendorClient:
        return VendorClient(self.name, self.settings.base_url)

    async def fetch(self, api: VendorClient, cursor: Cursors) -> AsyncIterator[Page]:
        type(self).seen_cursors.append(dict(cursor))
        if self.settings.credentials_rejected:
            raise CredentialsError(
                self.name, f"{self.name}: 401 Unauthorized on GET /x — check sources.{self.name}.token"
            )
        gate = type(self).wait_for
        if gate is not None:
            await asyncio.wait_for(gate.wait(), timeout=5)
        start = int((cursor.get("items") or {}).get("next", 0))
        for index in range(start, len(self.PAGES)):
            if self.settings.fail_after_pages is not None and index - start >= self.settings.fail_after_pages:
                raise VendorError(f"{self.name}: 503 Service Unavailable on GET /items (gave up after 6 attempts)")
            last = index == len(self.PAGES) - 1
            yield Page("items", self.PAGES[index], {"next": index + 1}, final=last)

    def map(self, raw: Mapping[str, Any]) -> Evidence | Account | None:
        if raw.get("skip"):
            return None
        if raw.get("bad"):
            raise MalformedItem(f"{self.name}: item {raw['id']}: missing created_at")
        if raw.get("boom"):
            raise KeyError("title")  # a bug in map: still only this item fails
        return Evidence(
            id=f"{self.name}:ticket:{raw['id']}",
            source=self.name,
            kind="ticket",
            native_id=str(raw["id"]),
            title=raw["title"],
            created_at=raw["at"],
            updated_at=raw["at"],
        )


class Beta(Fake):
    name = "beta"
    PAGES: ClassVar[list[list[dict[str, Any]]]] = [[_raw(10)], [_raw(11)]]
    seen_cursors: ClassVar[list[Cursors]] = []
    wait_for: ClassVar[asyncio.Event | None] = None


REGISTRY: dict[str, type[Connector[Any]]] = {"alpha": Fake, "beta": Beta}


@pytest.fixture(autouse=True)
def _reset_fakes() -> None:
    for cls in (Fake, Beta):
        cls.seen_cursors = []
        cls.wait_for = None


def _settings(**sources: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(
        sources={name: FakeSettings(base_url="https://vendor.test", **table) for name, table in sources.items()}
    )


def _snapshot(store: Store, *sources: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    items = store.query_evidence(include_deleted=True, with_activities=True)
    return [i.model_dump(mode="json") for i in items], {s: store.cursors(s) for s in sources}


async def test_syncs_all_pages_and_stores_cursor(sqlite_store: Store) -> None:
    events: list[SyncProgress] = []
    reports = await run_sync(_settings(alpha={}), sqlite_store, connectors=REGISTRY, progress=events.append)
    assert [r.as_json() for r in reports] == [
        {"source": "alpha", "fetched": 5, "stored": 5, "failed": 0, "error": None}
    ]
    assert sqlite_store.count_evidence() == 5
    assert sqlite_store.get_cursor("alpha", "items") == {"next": 3}
    assert [(e.fetched, e.done) for e in events] == [(2, False), (4, False), (5, False), (5, True)]
    # a second run starts from the cursor and fetches nothing new
    again = await run_sync(_settings(alpha={}), sqlite_store, connectors=REGISTRY)
    assert Fake.seen_cursors[-1] == {"items": {"next": 3}}
    assert again[0].as_json() == {"source": "alpha", "fetched": 0, "stored": 0, "failed": 0, "error": None}


async def test_one_failing_vendor_does_not_stop_another(sqlite_store: Store) -> None:
    settings = _settings(alpha={"fail_after_pages": 1}, beta={})
    reports = {r.source: r for r in await run_sync(settings, sqlite_store, connectors=REGISTRY)}
    assert reports["alpha"].error == "alpha: 503 Service Unavailable on GET /items (gave up after 6 attempts)"
    assert (reports["alpha"].fetched, reports["alpha"].stored) == (2, 2)  # the page before the failure is kept
    assert reports["beta"].as_json() == {"source": "beta", "fetched": 2, "stored": 2, "failed": 0, "error": None}
    assert {e.id for e in sqlite_store.query_evidence()} == {
        "alpha:ticket:1", "alpha:ticket:2", "beta:ticket:10", "beta:ticket:11"
    }  # fmt: skip


async def test_sources_run_concurrently(sqlite_store: Store) -> None:
    """beta cannot start until alpha has finished: run one after the other, this would time out."""
    Beta.wait_for = asyncio.Event()

    def progress(event: SyncProgress) -> None:
        if event.source == "alpha" and event.done:
            assert Beta.wait_for is not None
            Beta.wait_for.set()

    settings = _settings(beta={}, alpha={})  # beta is listed (and started) first
    reports = await run_sync(settings, sqlite_store, connectors=REGISTRY, progress=progress)
    assert [(r.source, r.error, r.stored) for r in reports] == [("beta", None, 2), ("alpha", None, 5)]


async def test_bad_items_are_counted_and_quarantined(sqlite_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    pages = [[_raw(1), _raw(2, bad=True), _raw(3, boom=True), _raw(4, skip=True)], [_raw(5)]]
    monkeypatch.setattr(Fake, "PAGES", pages)
    (report,) = await run_sync(_settings(alpha={}), sqlite_store, connectors=REGISTRY)
    assert report.as_json() == {"source": "alpha", "fetched": 5, "stored": 2, "failed": 2, "error": None}
    quarantined = sqlite_store.quarantined("alpha")
    assert [(q["stream"], q["reason"]) for q in quarantined] == [
        ("items", "alpha: item 2: missing created_at"),
        ("items", "alpha: KeyError in map: 'title'"),
    ]
    # the cursor never moves past a quarantined item: the next sync reads it again (tests/reliability)
    assert sqlite_store.get_cursor("alpha", "items") is None


async def test_crash_between_pages_then_rerun_equals_uninterrupted_run(tmp_path: Any) -> None:
    from caseline.store import open_store

    crashed = open_store(f"sqlite:///{tmp_path / 'crashed.db'}")
    clean = open_store(f"sqlite:///{tmp_path / 'clean.db'}")

    (first,) = await run_sync(_settings(alpha={"fail_after_pages": 1}), crashed, connectors=REGISTRY)
    assert first.error and first.stored == 2
    assert crashed.get_cursor("alpha", "items") == {"next": 1}  # the saved page's cursor, nothing more
    (second,) = await run_sync(_settings(alpha={}), crashed, connectors=REGISTRY)
    assert Fake.seen_cursors[-1] == {"items": {"next": 1}}  # resumed after the stored page
    assert second.error is None and second.fetched == 3

    await run_sync(_settings(alpha={}), clean, connectors=REGISTRY)
    assert _snapshot(crashed, "alpha") == _snapshot(clean, "alpha")
    assert len(_snapshot(clean, "alpha")[0]) == 5


async def test_full_ignores_the_cursor_and_rewrites_it(sqlite_store: Store) -> None:
    sqlite_store.set_cursor("alpha", "items", {"next": 3})
    (report,) = await run_sync(_settings(alpha={}), sqlite_store, connectors=REGISTRY, full=True)
    assert Fake.seen_cursors == [{}]
    assert report.fetched == 5 and sqlite_store.get_cursor("alpha", "items") == {"next": 3}


async def test_credentials_rejection_is_flagged(sqlite_store: Store) -> None:
    reports = await run_sync(
        _settings(alpha={"credentials_rejected": True}, beta={}), sqlite_store, connectors=REGISTRY
    )
    alpha, beta = reports
    assert alpha.credentials_rejected and "check sources.alpha.token" in (alpha.error or "")
    assert not beta.credentials_rejected and beta.stored == 2


async def test_only_named_sources_and_unknown_names(sqlite_store: Store) -> None:
    reports = await run_sync(_settings(alpha={}, beta={}), sqlite_store, sources=["beta"], connectors=REGISTRY)
    assert [r.source for r in reports] == ["beta"] and Fake.seen_cursors == []
    with pytest.raises(ConfigError, match="'gamma' is not configured"):
        await run_sync(_settings(alpha={}), sqlite_store, sources=["gamma"], connectors=REGISTRY)


async def test_account_resolution_hook_runs_after_a_sync_that_stored_something(sqlite_store: Store) -> None:
    calls: list[tuple[Any, Any]] = []
    settings = _settings(alpha={})
    await run_sync(settings, sqlite_store, connectors=REGISTRY, resolve_accounts=lambda s, c: calls.append((s, c)))
    assert calls == [(sqlite_store, settings)]
    await run_sync(settings, sqlite_store, connectors=REGISTRY, resolve_accounts=lambda s, c: calls.append((s, c)))
    # nothing new stored, still resolved: the run before may have been killed between its pages and this step
    assert calls == [(sqlite_store, settings)] * 2


async def test_async_account_resolver_is_awaited(sqlite_store: Store) -> None:
    calls: list[str] = []

    async def resolve(store: Any, settings: Any) -> None:
        calls.append("resolved")

    await run_sync(_settings(alpha={}), sqlite_store, connectors=REGISTRY, resolve_accounts=resolve)
    assert calls == ["resolved"]
