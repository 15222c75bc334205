"""The sync runner: every configured source concurrently, page → map → one transactional save.

Each source runs as its own task with its errors caught inside the task, so one failing vendor never
cancels another and a slow one delays none. For each page, every raw item is mapped (a bad item is
counted `failed` and quarantined with a one-line reason, never fatal), then the page's models and its
cursor are saved in ONE transaction through a single writer (`asyncio.to_thread` under one lock).
A crash before a save replays that page next time; idempotent upserts absorb the replay.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from caseline.connectors.base import Connector
from caseline.errors import CaselineError, ConfigError, CredentialsError, MalformedItem
from caseline.evidence import Account, Evidence

__all__ = ["AccountResolver", "SourceReport", "SyncProgress", "SyncStore", "run_sync"]

log = logging.getLogger("caseline.connectors")

T = TypeVar("T")


class SyncStore(Protocol):
    """What the runner needs from the store (`caseline.store.Store` provides it)."""

    def save_page(
        self, *, source: str, stream: str, items: Sequence[Evidence | Account], cursor: dict[str, Any] | None
    ) -> int: ...

    def cursors(self, source: str) -> Mapping[str, Mapping[str, Any]]: ...

    def quarantine(self, *, source: str, stream: str, reason: str, raw: Any) -> None: ...


class _SourcesSettings(Protocol):
    @property
    def sources(self) -> Mapping[str, Any]: ...


AccountResolver = Callable[[Any, Any], Any]
"""Called as `resolver(store, settings)` after the sources finish, when something was stored."""


@dataclass
class SourceReport:
    """The outcome of one source: the contract's `{source, fetched, stored, failed, error}`."""

    source: str
    fetched: int = 0
    stored: int = 0
    failed: int = 0
    error: str | None = None
    credentials_rejected: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "fetched": self.fetched,
            "stored": self.stored,
            "failed": self.failed,
            "error": self.error,
        }


@dataclass(frozen=True)
class SyncProgress:
    """A progress event: sent after every stored page and once when a source is done."""

    source: str
    stream: str | None
    fetched: int
    stored: int
    failed: int
    done: bool = False
    error: str | None = None


def _one_line(exc: BaseException, *, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def default_account_resolver() -> AccountResolver | None:
    """`caseline.accounts.resolve_all` when that module is installed; None otherwise."""
    try:
        module = importlib.import_module("caseline.accounts")
    except ModuleNotFoundError as exc:
        if exc.name == "caseline.accounts":
            return None
        raise
    resolver = getattr(module, "resolve_all", None)
    return resolver if callable(resolver) else None


class _Writer:
    """The single writer: store calls run in a worker thread, one at a time."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    async def __call__(self, fn: Callable[[], T]) -> T:
        async with self._lock:
            return await asyncio.to_thread(fn)


async def _sync_source(
    connector: Connector[Any],
    store: SyncStore,
    report: SourceReport,
    *,
    full: bool,
    write: _Writer,
    progress: Callable[[SyncProgress], None] | None,
) -> None:
    name = connector.name
    stream: str | None = None
    # Streams with an item quarantined in this run keep their stored cursor for the rest of the run: once a
    # cursor moves past an item that could not be read (a transient corruption, most often), no later sync
    # reads it again and it is lost for good (Zendesk's export and Linear's watermark did exactly that).
    # The next sync re-reads from the held cursor; idempotent upserts absorb what it reads twice.
    held: set[str] = set()
    try:
        cursors: Mapping[str, Mapping[str, Any]] = {} if full else await write(partial(store.cursors, name))
        async with connector.client() as api:
            async for page in connector.fetch(api, cursors):
                stream = page.stream
                models: list[Evidence | Account] = []
                for raw in page.items:
                    try:
                        model = connector.map(raw)
                    except Exception as exc:
                        reason = (
                            _one_line(exc)
                            if isinstance(exc, MalformedItem)
                            else (f"{name}: {type(exc).__name__} in map: {_one_line(exc)}")
                        )
                        report.failed += 1
                        held.add(page.stream)
                        log.info("%s: item quarantined: %s", name, reason)
                        await write(partial(store.quarantine, source=name, stream=page.stream, reason=reason, raw=raw))
                        continue
                    if model is not None:
                        models.append(model)
                report.fetched += len(page.items)
                cursor = None if page.stream in held else page.cursor
                saved = await write(
                    partial(store.save_page, source=name, stream=page.stream, items=models, cursor=cursor)
                )
                report.stored += int(saved)
                _emit(progress, SyncProgress(name, page.stream, report.fetched, report.stored, report.failed))
    except CredentialsError as exc:
        report.error, report.credentials_rejected = _one_line(exc), True
    except CaselineError as exc:
        report.error = _one_line(exc)
    except Exception as exc:  # a bug in one connector must not take the other sources down
        log.debug("%s: sync failed", name, exc_info=True)
        report.error = f"{name}: unexpected {type(exc).__name__}: {_one_line(exc)}"
    _emit(progress, SyncProgress(name, stream, report.fetched, report.stored, report.failed, True, report.error))


def _emit(progress: Callable[[SyncProgress], None] | None, event: SyncProgress) -> None:
    """Progress display is best effort: a failing callback never fails a sync."""
    if progress is None:
        return
    try:
        progress(event)
    except Exception:
        log.debug("progress callback failed", exc_info=True)


async def run_sync(
    settings: _SourcesSettings,
    store: SyncStore,
    *,
    sources: Sequence[str] | None = None,
    full: bool = False,
    progress: Callable[[SyncProgress], None] | None = None,
    connectors: Mapping[str, type[Connector[Any]]] | None = None,
    resolve_accounts: AccountResolver | bool | None = True,
) -> list[SourceReport]:
    """Sync the configured sources (or the named ones); one report per source, in config order.

    `full=True` reads from each source's start_date, ignoring stored cursors, and writes cursors as
    usual as pages land. `resolve_accounts=True` uses `caseline.accounts.resolve_all` when installed;
    pass a callable to use another, or False to skip.
    """
    if connectors is None:
        from caseline.connectors import CONNECTORS

        connectors = CONNECTORS
    configured = settings.sources
    names = list(dict.fromkeys(sources)) if sources else list(configured)
    for name in names:
        if name not in configured:
            known = ", ".join(configured) or "none"
            raise ConfigError(f"sync: source {name!r} is not configured (configured: {known})")
        if name not in connectors:
            raise ConfigError(f"sync: no connector named {name!r}")
    instances = {name: connectors[name](configured[name]) for name in names}
    reports = {name: SourceReport(name) for name in names}
    write = _Writer()
    async with asyncio.TaskGroup() as group:
        for name, connector in instances.items():
            group.create_task(
                _sync_source(connector, store, reports[name], full=full, write=write, progress=progress),
                name=f"sync:{name}",
            )
    resolver = default_account_resolver() if resolve_accounts is True else resolve_accounts or None
    # Every run, not only when this one stored something: a sync killed after its pages landed but before
    # this point left those items without an account, and the rerun (nothing new to store) never fixed them.
    # resolve_all writes only what changed, so an idle run costs one read of the accounts' input columns.
    if resolver is not None:
        if inspect.iscoroutinefunction(resolver):
            await resolver(store, settings)
        else:
            await write(partial(resolver, store, settings))
    return [reports[name] for name in names]
