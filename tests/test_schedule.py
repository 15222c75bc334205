"""`caseline run`: the cycle, the store lock, clean stops and structured logs.

Sync and correlation are replaced by small fakes that write through the real store (so this file does
not depend on connector or correlation internals); alerts go to a real receiver on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr
from sqlalchemy import update

from caseline.config import Settings
from caseline.connectors.retry import set_testing
from caseline.connectors.sync import SourceReport
from caseline.errors import LockHeld
from caseline.evidence import Evidence
from caseline.schedule import Runner, SecretFilter, configure_logging, secrets_of, stale_after
from caseline.store import Store, open_store
from caseline.store.incidents import IncidentStore
from caseline.store.locks import JobLock
from caseline.store.rows import JobLockRow
from caseline.timeparse import utc_now
from tests.alerts.helpers import Receiver, reopen, report, reports_from, save_incident, serve_receiver
from tests.cli_helpers import run_cli

SLACK_TOKEN = "T0001/B0002/slacktoken-sched-77"
SOURCE_TOKEN = "zendesk-api-token-never-logged"
FIVE = ["a.com", "b.com", "c.com", "a.com", "b.com"]
_LOCK = JobLockRow.__table__  # type: ignore[attr-defined]


class _SourceSettings(BaseModel):
    token: SecretStr | None = None


@pytest.fixture(autouse=True)
def _no_wait(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    set_testing(True)
    root = logging.getLogger("caseline")
    level = root.level
    yield
    set_testing(False)
    for handler in [h for h in root.handlers if h.get_name() == "caseline.run"]:  # `caseline run` installs one
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver() as r:
        yield r


def settings_for(receiver: Receiver | None = None, *, every: str = "5m", sources: Sequence[str] = ()) -> Settings:
    raw: dict[str, Any] = {"schedule": {"sync_every": every}, "sources": {name: {} for name in sources}}
    if receiver is not None:
        raw["alerts"] = {"sinks": [
            {"type": "slack", "url": f"{receiver.url}/services/{SLACK_TOKEN}"},
            {"type": "webhook", "url": f"{receiver.url}/hook"},
        ]}
    return Settings.model_validate(raw)


class Steps:
    """Fake sync and correlate steps that write real evidence and incidents, and record the order."""

    def __init__(self, *, failing: Sequence[str] = ()) -> None:
        self.calls: list[str] = []
        self.failing = set(failing)

    async def sync(self, settings: Settings, store: Store) -> list[SourceReport]:
        self.calls.append("sync")
        reports = []
        for name in settings.sources:
            if name in self.failing:
                reports.append(SourceReport(name, error=f"{name}: 503 Service Unavailable on GET /x (gave up)"))
                continue
            items = reports_from(FIVE, start=100 * len(self.calls))
            stored = await asyncio.to_thread(store.upsert_evidence, items)
            reports.append(SourceReport(name, fetched=len(items), stored=int(stored)))
        return reports

    def correlate(self, settings: Settings, store: Store) -> dict[str, int]:
        self.calls.append("correlate")
        ids = [e.id for e in store.query_evidence()]
        evidence = store.get_many(ids)
        existing = IncidentStore(store).get("inc-sched1")
        save_incident(store, "inc-sched1", evidence)
        return {"scored": len(evidence), "incidents_created": 0 if existing else 1,
                "incidents_updated": 1 if existing else 0}


# ---- one cycle -------------------------------------------------------------------------------------------
def test_once_syncs_correlates_and_alerts_in_one_cycle(store: Store, receiver: Receiver) -> None:
    steps = Steps()
    runner = Runner(settings_for(receiver, sources=["zendesk"]), store, sync=steps.sync, correlate=steps.correlate)
    report_ = runner.run_once(handle_signals=False)
    assert steps.calls == ["sync", "correlate"]
    assert report_.sources == [{"source": "zendesk", "fetched": 5, "stored": 5, "failed": 0, "error": None,
                                "credentials_rejected": False}]
    assert report_.correlate == {"scored": 5, "incidents_created": 1, "incidents_updated": 0}
    assert sorted((o.sink, o.kind, o.status) for o in report_.alerts) == [
        ("slack", "opened", "sent"), ("webhook:127.0.0.1", "opened", "sent")
    ]
    assert not report_.failed
    assert len(receiver.delivered) == 2
    assert JobLock(store, stale_after=timedelta(minutes=1)).current() is None  # released


def test_a_failing_source_fails_the_cycle_but_not_the_others(store: Store, receiver: Receiver) -> None:
    steps = Steps(failing=["intercom"])
    settings = settings_for(receiver, sources=["zendesk", "intercom"])
    runner = Runner(settings, store, sync=steps.sync, correlate=steps.correlate)
    first = runner.run_once(handle_signals=False)
    assert first.failed and first.failed_sources == ["intercom"]
    assert not first.credentials_rejected_everywhere
    assert steps.calls == ["sync", "correlate"]  # correlation and alerts still ran
    assert {o.status for o in first.alerts} == {"sent"}
    line = first.log_line()
    assert "status=failed" in line and "sync.zendesk.stored=5" in line
    assert 'sync.intercom.error="intercom: 503 Service Unavailable on GET /x (gave up)"' in line
    assert "alerts_sent=2" in line and "incidents_created=1" in line

    steps.failing.clear()  # the source recovers: the next tick picks it up again
    second = runner.run_once(handle_signals=False)
    assert not second.failed and [s["source"] for s in second.sources] == ["zendesk", "intercom"]


def test_a_crashing_step_is_reported_and_the_rest_of_the_cycle_runs(store: Store, receiver: Receiver) -> None:
    save_incident(store, "inc-before", reports_from(FIVE))

    async def broken_sync(settings: Settings, store: Store) -> list[SourceReport]:
        raise RuntimeError("connector bug")

    def broken_correlate(settings: Settings, store: Store) -> None:
        raise ValueError("correlation bug")

    runner = Runner(settings_for(receiver, sources=["zendesk"]), store, sync=broken_sync, correlate=broken_correlate)
    result = runner.run_once(handle_signals=False)
    assert result.errors == ["sync: unexpected RuntimeError: connector bug",
                             "correlate: unexpected ValueError: correlation bug"]
    assert {o.incident for o in result.alerts} == {"inc-before"}  # alerts still evaluated


def test_all_sources_rejecting_credentials_is_flagged() -> None:
    from caseline.schedule import CycleReport

    report_ = CycleReport(number=1, started_at=utc_now(), sources=[
        {"source": "zendesk", "error": "401", "credentials_rejected": True},
        {"source": "jira", "error": "403", "credentials_rejected": True},
    ])
    assert report_.credentials_rejected_everywhere
    report_.sources.append({"source": "linear", "error": None, "credentials_rejected": False})
    assert not report_.credentials_rejected_everywhere


# ---- the lock ------------------------------------------------------------------------------------------
def test_a_second_run_on_the_same_store_is_refused(store: Store) -> None:
    first = JobLock(store, holder="host-a:1:aaaa", stale_after=timedelta(minutes=15))
    first.acquire()
    other_store = reopen(store)
    second = JobLock(other_store, holder="host-b:2:bbbb", stale_after=timedelta(minutes=15))
    try:
        with pytest.raises(LockHeld) as info:
            second.acquire()
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith("another `caseline run` works on this store")
        if store.dialect == "sqlite":
            assert "holder host-a:1:aaaa" in message
        steps = Steps()
        with pytest.raises(LockHeld):
            Runner(settings_for(), other_store, sync=steps.sync, correlate=steps.correlate).run_once(
                handle_signals=False)
        assert steps.calls == []  # refused before any work
        first.release()
        second.acquire()
        assert second.current() is not None and second.current()["holder"] == "host-b:2:bbbb"  # type: ignore[index]
        second.release()
    finally:
        first.release()
        other_store.engine.dispose()


def test_a_stale_lock_is_taken_over_and_its_old_holder_notices(store: Store) -> None:
    dead = JobLock(store, holder="host-a:1:dead", stale_after=timedelta(minutes=15))
    dead.acquire()
    dead._drop_advisory()  # the process died: PostgreSQL frees its session lock, the row stays behind
    with store.transaction() as conn:
        conn.execute(update(_LOCK).values(heartbeat_at=utc_now() - timedelta(hours=1)))
    other_store = reopen(store)
    try:
        successor = JobLock(other_store, holder="host-b:2:next", stale_after=timedelta(minutes=15))
        successor.acquire()
        assert successor.current()["holder"] == "host-b:2:next"  # type: ignore[index]
        assert dead.heartbeat() is False  # the old holder learns it lost the lock
        assert successor.heartbeat() is True
        successor.release()
    finally:
        other_store.engine.dispose()


def test_on_sqlite_a_fresh_lock_of_a_vanished_process_waits_for_staleness(sqlite_store: Store) -> None:
    JobLock(sqlite_store, holder="host-a:1:gone", stale_after=timedelta(minutes=15)).acquire()
    with pytest.raises(LockHeld):
        JobLock(sqlite_store, holder="host-b:2:new", stale_after=timedelta(minutes=15)).acquire()


def test_on_postgresql_a_crashed_holder_is_replaced_at_once(pg_store: Store) -> None:
    crashed = JobLock(pg_store, holder="host-a:1:crash", stale_after=timedelta(minutes=15))
    crashed.acquire()
    crashed._drop_advisory()  # connection gone; heartbeat still fresh
    other_store = reopen(pg_store)
    try:
        JobLock(other_store, holder="host-b:2:new", stale_after=timedelta(minutes=15)).acquire()
    finally:
        other_store.engine.dispose()


def test_on_postgresql_the_advisory_lock_alone_refuses_a_second_run(pg_store: Store) -> None:
    holder = JobLock(pg_store, holder="host-a:1:live", stale_after=timedelta(minutes=15))
    holder.acquire()
    with pg_store.transaction() as conn:  # even with the row gone or stale, the live session still holds it
        conn.execute(update(_LOCK).values(heartbeat_at=utc_now() - timedelta(hours=1)))
    other_store = reopen(pg_store)
    try:
        with pytest.raises(LockHeld):
            JobLock(other_store, holder="host-b:2:new", stale_after=timedelta(minutes=15)).acquire()
    finally:
        holder.release()
        other_store.engine.dispose()


def test_stale_after_is_three_intervals() -> None:
    assert stale_after(timedelta(minutes=5)) == timedelta(minutes=15)
    assert stale_after(timedelta(seconds=10)) == timedelta(seconds=30)


def test_run_once_command_says_the_lock_is_held(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    Path("caseline.toml").write_text('[store]\nurl = "sqlite:///caseline.db"\n', encoding="utf-8")
    store = open_store("sqlite:///caseline.db")
    JobLock(store, holder="host-a:1:busy", stale_after=timedelta(minutes=15)).acquire()
    result = run_cli(capsys, "run", "--once")
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert lines[-1].startswith("caseline: error: another `caseline run` works on this store (holder host-a:1:busy")


# ---- the schedule ----------------------------------------------------------------------------------------
def test_the_scheduler_runs_cycles_with_one_instance_and_coalescing(store: Store) -> None:
    steps = Steps()
    runner = Runner(settings_for(every="1s", sources=["zendesk"]), store, sync=steps.sync)
    seen: dict[str, Any] = {}

    def correlate(settings: Settings, store_: Store) -> None:
        steps.calls.append("correlate")
        job = runner.scheduler.get_jobs()[0]
        seen.update(max_instances=job.max_instances, coalesce=job.coalesce, interval=job.trigger.interval)
        if steps.calls.count("correlate") == 2:
            runner.stop()

    runner.correlate_step = correlate
    runner.run_forever(handle_signals=False)
    assert steps.calls == ["sync", "correlate", "sync", "correlate"]
    assert seen == {"max_instances": 1, "coalesce": True, "interval": timedelta(seconds=1)}
    assert [r.number for r in runner.reports] == [1, 2]
    assert JobLock(store, stale_after=timedelta(minutes=1)).current() is None


def test_sigterm_stops_after_the_page_in_flight_is_stored(sqlite_store: Store) -> None:
    pages: list[int] = []
    steps = Steps()
    asked_to_stop = threading.Event()

    def save(page: int) -> None:
        if page == 3:  # the signal arrives while this page is being written
            os.kill(os.getpid(), signal.SIGTERM)
            assert asked_to_stop.wait(10)  # the handler has run (in the main thread) before this save ends
        sqlite_store.upsert_evidence([report(page, "a.com", utc_now())])
        pages.append(page)

    async def sync(settings: Settings, store: Store) -> list[SourceReport]:
        for page in range(1, 100):
            await asyncio.to_thread(save, page)
        return []

    previous = signal.getsignal(signal.SIGTERM)
    runner = Runner(settings_for(sources=["zendesk"]), sqlite_store, sync=sync, correlate=steps.correlate)
    stop = runner.stop

    def observed_stop() -> None:
        stop()
        asked_to_stop.set()

    runner.stop = observed_stop  # type: ignore[method-assign]
    runner.run_forever(handle_signals=True)
    assert pages == [1, 2, 3]
    assert {e.id for e in sqlite_store.query_evidence()} == {f"zendesk:ticket:{n}" for n in (1, 2, 3)}
    assert steps.calls == []  # nothing after the interrupted sync started
    assert runner.reports[0].stopped and "status=stopped" in runner.reports[0].log_line()
    assert signal.getsignal(signal.SIGTERM) == previous
    assert JobLock(sqlite_store, stale_after=timedelta(minutes=1)).current() is None


# ---- logging -------------------------------------------------------------------------------------------
def test_cycle_log_is_one_key_value_line_without_secrets(store: Store, receiver: Receiver) -> None:
    steps = Steps(failing=["intercom"])
    raw_settings = settings_for(receiver, sources=["zendesk", "intercom"])
    # sources are validated by each connector's Settings, where tokens are SecretStr
    token = _SourceSettings(token=SecretStr(SOURCE_TOKEN))
    settings = raw_settings.model_copy(update={"sources": {"zendesk": token, "intercom": _SourceSettings()}})

    async def leaky_sync(settings_: Settings, store_: Store) -> list[SourceReport]:
        reports = await steps.sync(settings_, store_)
        reports[1].error = f"intercom: bad token {SOURCE_TOKEN} in a vendor message"
        return reports

    stream = io.StringIO()
    handler = configure_logging(settings, stream=stream)
    try:
        Runner(settings, store, sync=leaky_sync, correlate=steps.correlate).run_once(handle_signals=False)
    finally:
        logging.getLogger("caseline").removeHandler(handler)
    lines = [ln for ln in stream.getvalue().splitlines() if " cycle=" in ln]
    assert len(lines) == 1
    line = lines[0]
    assert line.startswith("ts=") and "level=WARNING logger=caseline.run cycle=1 status=failed" in line
    assert "sync.zendesk.fetched=5" in line and "alerts_sent=2" in line
    assert SOURCE_TOKEN not in stream.getvalue() and "***" in line
    assert SLACK_TOKEN not in stream.getvalue()


def test_secret_filter_masks_every_configured_secret() -> None:
    settings = Settings.model_validate({
        "sources": {"x": _SourceSettings(token=SecretStr("tok-abcdef"))},
        "alerts": {"sinks": [
            {"type": "webhook", "url": "https://h.example/in/very-secret-path", "secret": "hmac-secret-1"},
            {"type": "pagerduty", "routing_key": "routing-key-1"},
        ]},
    })
    secrets = secrets_of(settings)
    assert {"tok-abcdef", "hmac-secret-1", "routing-key-1", "https://h.example/in/very-secret-path"} <= set(secrets)
    record = logging.LogRecord("caseline", logging.INFO, __file__, 1, "key=%s url=%s", ("routing-key-1",
                               "https://h.example/in/very-secret-path"), None)
    SecretFilter(secrets).filter(record)
    assert record.getMessage() == "key=*** url=***"


def test_evidence_type_is_the_shared_model() -> None:
    # the fakes above write the real model, so the store sees what a connector would give it
    assert isinstance(report(1, "a.com", utc_now()), Evidence)


def test_the_run_command_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    config = tmp_path / "caseline.toml"
    config.write_text('[store]\nurl = "sqlite:///caseline.db"\n\n[schedule]\nsync_every = "1h"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("CASELINE_DB_URL", "CASELINE_CONFIG")}
    proc = subprocess.Popen([sys.executable, "-m", "caseline", "run", "--config", str(config)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in proc.stderr or []:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    try:
        while not any(" cycle=1 " in ln for ln in seen):
            seen.append(lines.get(timeout=60))
        holder = JobLock(open_store(f"sqlite:///{tmp_path / 'caseline.db'}"), stale_after=timedelta(hours=3))
        assert holder.current() is not None  # the running job holds the store
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    while not lines.empty():
        seen.append(lines.get())
    text = "".join(seen)
    assert "scheduler=started every=1h" in text and "signal=SIGINT action=stopping" in text
    assert "scheduler=stopped cycles=1" in text
    assert holder.current() is None  # released on the way out


def test_a_failed_alert_fails_the_cycle(store: Store, receiver: Receiver) -> None:
    receiver.answer(then=500)
    steps = Steps()
    result = Runner(settings_for(receiver, sources=["zendesk"]), store, sync=steps.sync,
                    correlate=steps.correlate).run_once(handle_signals=False)
    assert result.failed and not result.failed_sources
    assert "alerts_failed=2" in result.log_line() and "status=failed" in result.log_line()


@pytest.mark.parametrize(
    ("reports", "code", "message"),
    [
        ([SourceReport("zendesk", fetched=3, stored=3), SourceReport("jira", fetched=1, stored=1)], 0, None),
        ([SourceReport("zendesk", fetched=3, stored=3), SourceReport("jira", error="jira: 503 on GET /x")], 1, None),
        (
            [SourceReport("zendesk", error="zendesk: 401", credentials_rejected=True),
             SourceReport("jira", error="jira: 403", credentials_rejected=True)],
            2,
            "caseline: error: run: every configured source rejected its credentials (zendesk, jira)",
        ),
    ],
)
def test_run_once_exit_codes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    reports: list[SourceReport], code: int, message: str | None,
) -> None:
    Path("caseline.toml").write_text(
        '[store]\nurl = "sqlite:///caseline.db"\n\n'
        '[sources.zendesk]\nbase_url = "https://acme.zendesk.com"\nemail = "a@acme.com"\ntoken = "zd-tok-123456"\n\n'
        '[sources.jira]\nbase_url = "https://acme.atlassian.net"\nemail = "a@acme.com"\ntoken = "jira-tok-123456"\n'
        'jql = "project = OPS"\n',
        encoding="utf-8",
    )

    async def fake_sync(settings: Settings, store: Store) -> list[SourceReport]:
        assert list(settings.sources) == ["zendesk", "jira"]
        return reports

    monkeypatch.setattr("caseline.schedule._default_sync", fake_sync)
    monkeypatch.setattr("caseline.schedule._default_correlate", lambda settings, store: None)
    result = run_cli(capsys, "run", "--once")
    assert result.code == code, result.err
    if message:
        assert result.err.strip().splitlines()[-1] == message
    assert "zd-tok-123456" not in result.err and "jira-tok-123456" not in result.err
