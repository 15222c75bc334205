"""`caseline run`: every `schedule.sync_every`, one cycle of sync → correlate → alert.

- APScheduler 3 runs the cycle (BackgroundScheduler, one worker, `max_instances=1`, `coalesce=True`):
  a slow cycle is never doubled up, and missed ticks collapse into one.
- A failing source is reported and retried next tick; the other sources, correlation and alerts go on.
- One `caseline run` per store: a `JobLock` in the database, refreshed by a heartbeat thread; a second
  run gets LockHeld (exit 1). A run whose heartbeat finds the lock taken over stops.
- SIGINT/SIGTERM: the sync in flight is cancelled at its next await. Pages are saved in one transaction
  each (in a worker thread that runs to completion), so the page being stored lands with its cursor,
  and nothing after it starts. A second signal exits at once.
- One structured log line per cycle (key=value): per-source counts, incidents created/updated,
  alerts by status. Secrets are masked by a logging filter, and httpx's own request lines (which would
  show webhook URLs) are silenced.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from pydantic import BaseModel, SecretStr

from caseline.alerts import AlertOutcome, evaluate_async
from caseline.config import Settings
from caseline.errors import CaselineError, LockHeld
from caseline.store import Store
from caseline.store.locks import JobLock
from caseline.timeparse import UTC, format_utc, utc_now

__all__ = [
    "CycleReport",
    "Runner",
    "SecretFilter",
    "configure_logging",
    "heartbeat_every",
    "secrets_of",
    "stale_after",
]

log = logging.getLogger("caseline.run")

StopCheck = Callable[[], bool]
SyncStep = Callable[[Settings, Store], Awaitable[Sequence[Any]]]
CorrelateStep = Callable[[Settings, Store], Any]
AlertStep = Callable[[Settings, Store, StopCheck], Awaitable[list[AlertOutcome]]]


def heartbeat_every(sync_every: timedelta) -> timedelta:
    return max(timedelta(seconds=1), min(sync_every, timedelta(minutes=1)))


def stale_after(sync_every: timedelta) -> timedelta:
    """A lock whose heartbeat is older than this belongs to a run that died."""
    return max(3 * sync_every, 3 * heartbeat_every(sync_every))


# ---- the cycle ------------------------------------------------------------------------------------------
@dataclass
class CycleReport:
    """What one cycle did; `log_line()` is the one structured line logged per cycle."""

    number: int
    started_at: datetime
    finished_at: datetime | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    correlate: dict[str, int] | None = None
    alerts: list[AlertOutcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stopped: bool = False

    @property
    def failed_sources(self) -> list[str]:
        return [s["source"] for s in self.sources if s.get("error")]

    @property
    def failed(self) -> bool:
        """The contract's exit 1: a source failed (the others stored), a step failed, or an alert did."""
        return bool(self.failed_sources or self.errors or any(o.status == "failed" for o in self.alerts))

    @property
    def credentials_rejected_everywhere(self) -> bool:
        return bool(self.sources) and all(s.get("credentials_rejected") for s in self.sources)

    def alert_counts(self) -> dict[str, int]:
        return dict(Counter(o.status for o in self.alerts))

    def log_line(self) -> str:
        duration = (self.finished_at - self.started_at).total_seconds() if self.finished_at else 0.0
        status = "stopped" if self.stopped else ("failed" if self.failed else "ok")
        parts: list[tuple[str, Any]] = [("cycle", self.number), ("status", status), ("duration_s", f"{duration:.2f}")]
        for src in self.sources:
            name = src["source"]
            parts += [(f"sync.{name}.{k}", src.get(k, 0)) for k in ("fetched", "stored", "failed")]
            if src.get("error"):
                parts.append((f"sync.{name}.error", src["error"]))
        if self.correlate is not None:
            parts += [(k, v) for k, v in self.correlate.items()]
        counts = self.alert_counts()
        parts += [(f"alerts_{k}", counts.get(k, 0)) for k in ("sent", "failed", "suppressed")]
        parts += [(f"alerts_{k}", v) for k, v in sorted(counts.items()) if k not in ("sent", "failed", "suppressed")]
        parts += [("error", e) for e in self.errors]
        return " ".join(f"{k}={_kv(v)}" for k, v in parts)


def _kv(value: Any) -> str:
    text = str(value)
    if text and not any(c in text for c in ' "=\n\t'):
        return text
    return '"' + " ".join(text.split()).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _source_dict(report: Any) -> dict[str, Any]:
    if isinstance(report, dict):
        data = dict(report)
    else:
        data = {k: getattr(report, k, None) for k in ("source", "fetched", "stored", "failed", "error")}
        data["credentials_rejected"] = bool(getattr(report, "credentials_rejected", False))
    for key in ("fetched", "stored", "failed"):
        data[key] = int(data.get(key) or 0)
    return data


async def _default_sync(settings: Settings, store: Store) -> Sequence[Any]:
    from caseline.connectors.sync import run_sync

    return await run_sync(settings, store)


def _default_correlate(settings: Settings, store: Store) -> Any:
    from caseline.correlate import correlate

    return correlate(store, settings)


async def _default_alert(settings: Settings, store: Store, should_stop: StopCheck) -> list[AlertOutcome]:
    return await evaluate_async(settings.alerts, store, should_stop=should_stop)


def _correlate_counts(result: Any) -> dict[str, int]:
    """`{scored, incidents_created, incidents_updated}` from whatever the correlation step returns."""
    keys = ("scored", "incidents_created", "incidents_updated")
    if result is None:
        return {}
    if isinstance(result, dict):
        return {k: int(result[k]) for k in keys if isinstance(result.get(k), int)}
    as_json = getattr(result, "as_json", None)
    if callable(as_json):
        return _correlate_counts(as_json())
    return {k: int(v) for k in keys if isinstance(v := getattr(result, k, None), int)}


# ---- the runner -----------------------------------------------------------------------------------------
class Runner:
    """Runs cycles once or on the schedule, under the store's job lock."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        sync: SyncStep | None = None,
        correlate: CorrelateStep | None = None,
        alert: AlertStep | None = None,
        holder: str | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.sync_step = sync or _default_sync
        self.correlate_step = correlate or _default_correlate
        self.alert_step = alert or _default_alert
        every = settings.schedule.sync_every
        self.lock = JobLock(store, holder=holder, stale_after=stale_after(every))
        self.cycles = 0
        self.reports: list[CycleReport] = []
        self._stop = threading.Event()
        self._lost = False
        self._guard = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync_task: asyncio.Task[Sequence[Any]] | None = None
        self._signals = 0
        self.scheduler: Any = None  # the APScheduler instance while `run_forever` runs

    # ---- stopping ----------------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the runner to finish: the sync in flight ends after its current save, nothing new starts."""
        self._stop.set()
        with self._guard:
            if self._loop is not None and self._sync_task is not None and not self._sync_task.done():
                self._loop.call_soon_threadsafe(self._sync_task.cancel)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals > 1:
            sys.stderr.write("caseline: second signal, exiting now\n")
            os._exit(130)
        log.info("signal=%s action=stopping detail=%s", signal.Signals(signum).name,
                 _kv("finishing the page in flight; send again to exit at once"))
        self.stop()

    # ---- one cycle -----------------------------------------------------------------------------------
    def cycle(self) -> CycleReport:
        """Sync every configured source, correlate, evaluate alerts; log one line; never raises for a step."""
        self.cycles += 1
        report = CycleReport(number=self.cycles, started_at=utc_now())
        try:
            asyncio.run(self._cycle(report))
        finally:
            with self._guard:
                self._loop, self._sync_task = None, None
            report.finished_at = utc_now()
            self.reports.append(report)
            (log.warning if report.failed else log.info)("%s", report.log_line())
        return report

    async def _cycle(self, report: CycleReport) -> None:
        if self.settings.sources:
            with self._guard:  # stop() sets the flag before taking the guard: no stop goes unseen
                if self.stopping:
                    report.stopped = True
                    return
                self._loop = asyncio.get_running_loop()
                self._sync_task = asyncio.create_task(_as_coroutine(self.sync_step(self.settings, self.store)))
                task = self._sync_task
            try:
                report.sources = [_source_dict(r) for r in await task]
            except asyncio.CancelledError:
                report.stopped = True
                return
            except CaselineError as exc:
                report.errors.append(f"sync: {exc}")
            except Exception as exc:
                log.exception("step=sync")
                report.errors.append(f"sync: unexpected {type(exc).__name__}: {exc}")
            finally:
                with self._guard:
                    self._sync_task = None
        if self.stopping:
            report.stopped = True
            return
        try:
            result = self.correlate_step(self.settings, self.store)
            if inspect.isawaitable(result):
                result = await result
            report.correlate = _correlate_counts(result)
        except CaselineError as exc:
            report.errors.append(f"correlate: {exc}")
        except Exception as exc:
            log.exception("step=correlate")
            report.errors.append(f"correlate: unexpected {type(exc).__name__}: {exc}")
        if self.stopping:
            report.stopped = True
            return
        try:
            report.alerts = await self.alert_step(self.settings, self.store, lambda: self.stopping)
        except CaselineError as exc:
            report.errors.append(f"alerts: {exc}")
        except Exception as exc:
            log.exception("step=alerts")
            report.errors.append(f"alerts: unexpected {type(exc).__name__}: {exc}")
        report.stopped = self.stopping

    # ---- locked runs ---------------------------------------------------------------------------------
    def run_once(self, *, handle_signals: bool = True) -> CycleReport:
        """One full cycle under the lock (`caseline run --once`)."""
        with self._locked(handle_signals=handle_signals):
            return self.cycle()

    def run_forever(self, *, handle_signals: bool = True) -> None:
        """Cycles every `schedule.sync_every` until stopped (signal, `stop()`, or a lost lock)."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        every = self.settings.schedule.sync_every
        with self._locked(handle_signals=handle_signals):
            self.scheduler = scheduler = BackgroundScheduler(
                timezone=UTC,
                executors={"default": ThreadPoolExecutor(max_workers=1)},
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            )
            scheduler.add_job(
                self._tick,
                IntervalTrigger(seconds=max(1.0, every.total_seconds()), timezone=UTC),
                id="caseline.cycle",
                name="sync → correlate → alert",
                next_run_time=utc_now(),
                max_instances=1,
                coalesce=True,
            )
            log.info("scheduler=started every=%s holder=%s", _kv(_duration(every)), _kv(self.lock.holder))
            scheduler.start()
            try:
                # A signal may land on a worker thread; Python runs its handler only when the main thread
                # executes bytecode, so wake up now and then rather than blocking in one endless wait.
                while not self._stop.wait(0.2):
                    pass
            finally:
                scheduler.shutdown(wait=True)  # the cycle in flight has been told to wind down
                log.info("scheduler=stopped cycles=%d", self.cycles)
        if self._lost:
            raise LockHeld("lost the store lock to another `caseline run` (our heartbeat went stale); stopped")

    def _tick(self) -> None:
        if self.stopping:
            return
        try:
            self.cycle()
        except Exception:  # keep the schedule alive whatever one cycle did
            log.exception("cycle=%d status=crashed", self.cycles)

    def _locked(self, *, handle_signals: bool) -> _Locked:
        return _Locked(self, handle_signals=handle_signals)


async def _as_coroutine(awaitable: Awaitable[Sequence[Any]]) -> Sequence[Any]:
    return await awaitable


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class _Locked:
    """Lock + heartbeat thread + signal handlers around a run; all undone on exit."""

    def __init__(self, runner: Runner, *, handle_signals: bool) -> None:
        self.runner = runner
        self.handle_signals = handle_signals and threading.current_thread() is threading.main_thread()
        self._previous: dict[int, Any] = {}
        self._beat_stop = threading.Event()
        self._beat: threading.Thread | None = None

    def __enter__(self) -> _Locked:
        runner = self.runner
        runner.lock.acquire()
        every = heartbeat_every(runner.settings.schedule.sync_every).total_seconds()
        self._beat = threading.Thread(target=self._heartbeat, args=(every,), name="caseline-heartbeat", daemon=True)
        self._beat.start()
        if self.handle_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, runner._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._beat_stop.set()
        if self._beat is not None:
            self._beat.join(timeout=10)
        self.runner.lock.release()

    def _heartbeat(self, every: float) -> None:
        runner = self.runner
        while not self._beat_stop.wait(every):
            try:
                alive = runner.lock.heartbeat()
            except Exception as exc:  # a database hiccup: try again next beat
                log.warning("lock=heartbeat status=error error=%s", _kv(type(exc).__name__))
                continue
            if not alive:
                log.error("lock=lost holder=%s action=stopping", _kv(runner.lock.holder))
                runner._lost = True
                runner.stop()
                return


# ---- logging ----------------------------------------------------------------------------------------------
def secrets_of(settings: Settings) -> list[str]:
    """Every secret in the configuration: SecretStr values anywhere, plus sink URLs (Slack's holds a token)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(settings)
    for sink in settings.alerts.sinks:
        url = getattr(sink, "url", None)
        if url is not None and not isinstance(url, SecretStr):
            found.append(str(url))
    return sorted({s for s in found if len(s) >= 6}, key=len, reverse=True)


class SecretFilter(logging.Filter):
    """Masks known secret values in every record that passes the handler (belt and braces)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        masked = message
        for secret in self.secrets:
            masked = masked.replace(secret, "***")
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for secret in self.secrets:
                record.exc_text = record.exc_text.replace(secret, "***")
        if masked != message:
            record.msg, record.args = masked, ()
        return True


_HANDLER_NAME = "caseline.run"


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return format_utc(datetime.fromtimestamp(record.created, UTC)) or ""


def configure_logging(settings: Settings, *, level: int = logging.INFO,
                      stream: Any = None) -> logging.Handler:
    """One key=value line per event on stderr for `caseline run`, with secrets masked (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_UtcFormatter("ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"))
    handler.addFilter(SecretFilter(secrets_of(settings)))
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger("caseline")
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request URL at INFO (a Slack webhook URL is a secret); APScheduler is chatty
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
