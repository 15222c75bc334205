"""`caseline demo`: the whole pipeline on the bundled Ledgerly world, on loopback, with nothing to configure.

The demo starts the vendor emulator (`caseline.emulator`) with `emulator/worlds/demo.json` — a week at a
B2B invoicing SaaS laid out so that it ends now — and a small local receiver that stands in for a Slack
incoming webhook and a signed generic webhook. It writes an ordinary configuration file pointing every
source's `base_url` at the emulator, then runs the same functions `caseline sync`, `correlate` and `alert`
run, through the real connectors over real HTTP. Everything it shows is read back from the store, the
emulator's counters and the receiver: nothing is made up.

`Demo` is the reusable part (a context manager that always stops what it started); `run_demo` runs every
step and shows each one on a rich console.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from rich import box
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from caseline.alerts import AlertOutcome, evaluate
from caseline.alerts.sinks import SIGNATURE_HEADER, signature
from caseline.config import Settings, load_settings
from caseline.connectors.sync import SourceReport, SyncProgress, run_sync
from caseline.correlate import CorrelateResult, correlate
from caseline.emulator import Emulator, Faults, RateLimit, RateLimits, World, serve
from caseline.errors import ConfigError
from caseline.incident import Incident
from caseline.store import Store, redact_url
from caseline.store.db import make_engine
from caseline.store.incidents import IncidentStore
from caseline.timeline.export import IncidentExport, build_export
from caseline.timeline.render import render_html, render_markdown, text_renderables
from caseline.timeparse import UTC

__all__ = [
    "DEMO_LIMITS",
    "WEBHOOK_SECRET",
    "AlertReceiver",
    "Demo",
    "DemoResult",
    "ReceivedPost",
    "demo_faults",
    "demo_world",
    "pick_top",
    "run_demo",
]

T = TypeVar("T")

WEBHOOK_SECRET = "demo-webhook-secret"
SLACK_HOOK_PATH = "/slack/services/T01LEDGRLY/B0DEMO/demo"
WEBHOOK_PATH = "/hooks/caseline"

# Rate limits on, but generous enough that the demo spends seconds, not minutes, waiting for windows;
# the bursts of per-ticket child requests still meet an occasional 429 that the connectors wait out.
_DEMO_SLACK = RateLimit(30, 1.0)
DEMO_LIMITS = RateLimits(
    zendesk=RateLimit(40, 1.0),
    intercom=RateLimit(40, 1.0),
    hubspot=RateLimit(20, 1.0),
    slack=_DEMO_SLACK,
    jira=RateLimit(30, 1.0),
    linear=RateLimit(20, 1.0),
)


def demo_faults() -> Faults:
    """A few mild, seeded faults (5xx answers and dropped connections) that the connectors retry."""
    return Faults(seed=11, error_rate=0.02, reset_rate=0.01)


def demo_world(now: datetime | None = None) -> World:
    """The bundled Ledgerly world, laid out so that it ends at `now` (default: this moment)."""
    text = resources.files("caseline.emulator").joinpath("worlds/demo.json").read_text(encoding="utf-8")
    return World.from_dict(json.loads(text), now=now)


# ---- the local alert receiver ------------------------------------------------------------------------
@dataclass(frozen=True)
class ReceivedPost:
    """One POST the receiver got: what a Slack workspace or a webhook consumer would have received."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def sink(self) -> str:
        return "slack" if self.path.startswith("/slack/") else "webhook"

    def json(self) -> Any:
        return json.loads(self.body)

    def signature_ok(self, secret: str) -> bool:
        """Whether `X-Caseline-Signature` is the HMAC-SHA256 of the exact body under `secret`."""
        sent = self.headers.get(SIGNATURE_HEADER.lower(), "")
        return bool(sent) and hmac.compare_digest(sent, signature(secret, self.body))

    def summary(self) -> str:
        """A one-line account of the post, read from its body."""
        data = self.json()
        if self.sink == "slack":
            return str(data.get("text") or "")
        incident = data.get("incident") or {}
        return (f"{data.get('type')} {data.get('kind')}: {incident.get('title')} — {incident.get('report_count')} "
                f"reports, {len(incident.get('accounts') or [])} accounts ({incident.get('id')})")


class AlertReceiver:
    """A tiny HTTP server on 127.0.0.1 that records every POST (a stand-in for Slack and a webhook consumer)."""

    def __init__(self) -> None:
        self.posts: list[ReceivedPost] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.posts.append(ReceivedPost(self.path, headers, body))
                if self.path.startswith("/slack/"):  # Slack answers a webhook with a plain "ok"
                    payload, kind, status = b"ok", "text/plain", 200
                else:
                    payload, kind, status = b'{"received": true}', "application/json", 202
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="caseline-demo-receiver",
            daemon=True,
        )
        self._thread.start()
        self._stopped = False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def received(self) -> list[ReceivedPost]:
        with self._lock:
            return list(self.posts)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> AlertReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- configuration -----------------------------------------------------------------------------------
def _toml(value: Any) -> str:
    """A TOML value for the few types the demo config holds (JSON strings are valid TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))


def config_text(emulator: Emulator, receiver: AlertReceiver, store_url: str) -> str:
    """A caseline.toml that points every source at the emulator with the world's demo credentials."""
    creds = emulator.world.credentials
    sources: dict[str, dict[str, Any]] = {
        "zendesk": {"email": creds["zendesk"]["email"], "token": creds["zendesk"]["token"]},
        "intercom": {"token": creds["intercom"]["token"], "app_id": "ledgerly"},
        "hubspot": {"token": creds["hubspot"]["token"], "plan_property": "plan_tier",
                    "arr_property": "annualrevenue", "portal_id": "24681357"},
        "slack": {"token": creds["slack"]["token"], "channels": ["support-escalations", "incidents", "eng", "general"],
                  # Tier 3 pacing for the demo's emulated limit (30/s), not the real ~50/min
                  "tier3_interval_s": _DEMO_SLACK.per_seconds / _DEMO_SLACK.requests},
        "jira": {"email": creds["jira"]["email"], "token": creds["jira"]["token"], "jql": "project = OPS"},
        "linear": {"token": creds["linear"]["token"]},
    }
    lines = [
        "# Written by `caseline demo`: every source points at the local vendor emulator (dummy demo credentials).",
        "# A real caseline.toml looks the same with your tools' URLs and ${ENV_VAR} tokens (see `caseline init`).",
        "",
        "[store]",
        f"url = {_toml(store_url)}",
    ]
    for name, table in sources.items():
        lines += ["", f"[sources.{name}]", f"base_url = {_toml(emulator.base_url(name))}"]
        lines += [f"{key} = {_toml(value)}" for key, value in table.items()]
    lines += [
        "", "[correlate]", 'window = "2h"',
        "", "[timeline]", 'update_cadence = "30m"',
        "", "[alerts]", "min_reports = 5", "min_accounts = 3", 'window = "30m"', 'max_age = "24h"',
        "", "[[alerts.sinks]]", 'type = "slack"', f"url = {_toml(receiver.url(SLACK_HOOK_PATH))}",
        "", "[[alerts.sinks]]", 'type = "webhook"', f"url = {_toml(receiver.url(WEBHOOK_PATH))}",
        f"secret = {_toml(WEBHOOK_SECRET)}",
    ]
    return "\n".join(lines) + "\n"


# ---- the pipeline ------------------------------------------------------------------------------------
@dataclass
class DemoResult:
    """What one demo run found, each part read back from the pipeline."""

    config_path: Path
    store_url: str
    emulator_url: str = ""
    receiver_url: str = ""
    sync: list[SourceReport] = field(default_factory=list)
    correlation: CorrelateResult | None = None
    incidents: list[Incident] = field(default_factory=list)
    exports: dict[str, IncidentExport] = field(default_factory=dict)
    alerts: list[AlertOutcome] = field(default_factory=list)
    received: list[ReceivedPost] = field(default_factory=list)
    top: IncidentExport | None = None
    files: dict[str, Path] = field(default_factory=dict)
    emulator_requests: dict[str, int] = field(default_factory=dict)
    emulator_rate_limited: dict[str, int] = field(default_factory=dict)
    emulator_faults: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def pick_top(incidents: Sequence[Incident]) -> Incident | None:
    """The incident a responder would open first: live, past the alert threshold, most recently active."""
    live = [i for i in incidents if i.status != "dismissed" and not i.merged_into]
    if not live:
        return None
    return max(live, key=lambda i: (i.status != "resolved", i.detected_at is not None, _last(i), i.report_count))


_EPOCH = datetime.min.replace(tzinfo=UTC)


def _last(incident: Incident) -> datetime:
    return incident.last_seen or _EPOCH


@contextlib.contextmanager
def _no_proxy_for_loopback() -> Iterator[None]:
    """httpx honours HTTP(S)_PROXY; the emulator and receiver must be reached directly."""
    saved = {name: os.environ.get(name) for name in ("NO_PROXY", "no_proxy")}
    for name, value in saved.items():
        hosts = [h for h in (value or "").split(",") if h.strip()]
        os.environ[name] = ",".join(dict.fromkeys([*hosts, "127.0.0.1", "localhost"]))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Demo:
    """Emulator + receiver + a temporary config and store; leaving the `with` block stops and removes them.

    `store_url` keeps the data in a database of your choice (e.g. `sqlite:///demo.db`); by default it lives
    in the temporary directory and goes away with it.
    """

    def __init__(self, *, store_url: str | None = None, faults: bool = True, now: datetime | None = None) -> None:
        self._want_store = store_url
        self._faults = faults
        self._now = now
        self._stack = contextlib.ExitStack()
        self.emulator: Emulator
        self.receiver: AlertReceiver
        self.settings: Settings
        self.store: Store
        self.result: DemoResult

    def __enter__(self) -> Demo:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._stack.close()

    def _start(self) -> None:
        stack = self._stack
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="caseline-demo-")))
        stack.enter_context(_no_proxy_for_loopback())
        self.emulator = stack.enter_context(
            serve(demo_world(self._now), limits=DEMO_LIMITS, faults=demo_faults() if self._faults else None)
        )
        self.receiver = stack.enter_context(AlertReceiver())
        store_url = self._want_store or f"sqlite:///{work / 'demo.db'}"
        config = work / "caseline.toml"
        config.write_text(config_text(self.emulator, self.receiver, store_url), encoding="utf-8")
        self.settings = load_settings(config)
        # Not open_store(): CASELINE_DB_URL must never send demo data into someone's real database.
        self.store = Store(make_engine(store_url))
        stack.callback(self.store.engine.dispose)
        self.store.create_all()
        if self._want_store and self.store.count_evidence() > 0:
            # the demo world moves with the clock: mixing two runs (or real data) would make nonsense
            raise ConfigError(f"demo: {redact_url(store_url)} already holds evidence; give --store a new database")
        self.result = DemoResult(config_path=config, store_url=store_url, emulator_url=self.emulator.url,
                                 receiver_url=self.receiver.url(""))

    def _timed(self, step: str, fn: Callable[[], T]) -> T:
        started = time.monotonic()
        try:
            return fn()
        finally:
            self.result.seconds[step] = time.monotonic() - started

    def sync(self, progress: Callable[[SyncProgress], None] | None = None) -> list[SourceReport]:
        """`caseline sync`: every source through its real connector, over HTTP to the emulator."""
        reports = self._timed("sync", lambda: asyncio.run(run_sync(self.settings, self.store, progress=progress)))
        stats = self.emulator.stats
        self.result.sync = reports
        self.result.emulator_requests = dict(stats.requests)
        self.result.emulator_rate_limited = dict(stats.rate_limited)
        self.result.emulator_faults = dict(stats.faults)
        return reports

    def correlate(self) -> CorrelateResult:
        """`caseline correlate`, then the incidents it holds (most recently active first)."""
        result = self._timed("correlate", lambda: correlate(self.store, self.settings))
        self.result.correlation = result
        found = IncidentStore(self.store).list(statuses=["candidate", "confirmed", "resolved"])
        self.result.incidents = sorted(found, key=_last, reverse=True)
        # the assembled record of each (few, in the demo): when it was resolved is the timeline's finding
        self.result.exports = {i.id: build_export(self.store, i.id, self.settings) for i in self.result.incidents}
        return result

    def alert(self) -> list[AlertOutcome]:
        """`caseline alert`: thresholds evaluated, the local receiver notified."""
        outcomes = self._timed("alert", lambda: evaluate(self.settings.alerts, self.store))
        self.result.alerts = outcomes
        self.result.received = self.receiver.received()
        return outcomes

    def write_outputs(self, incident: Incident, out_dir: Path) -> dict[str, Path]:
        """The export JSON, the Markdown postmortem draft and the HTML timeline of `incident`."""
        export = self.result.exports.get(incident.id) or build_export(self.store, incident.id, self.settings)
        out_dir.mkdir(parents=True, exist_ok=True)
        # fixed names: a second run replaces the first one's files instead of piling up beside them
        files = {
            "export": out_dir / "top-incident.export.json",
            "postmortem": out_dir / "top-incident.postmortem.md",
            "timeline": out_dir / "top-incident.timeline.html",
        }
        files["export"].write_text(export.to_json() + "\n", encoding="utf-8")
        files["postmortem"].write_text(render_markdown(export), encoding="utf-8")
        files["timeline"].write_text(render_html(export), encoding="utf-8")
        self.result.top = export
        self.result.files = files
        return files


# ---- the show ----------------------------------------------------------------------------------------
def _sync_table(result: DemoResult) -> Table:
    table = Table(title="1. sync: six tools through the real connectors", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("source", "fetched", "stored", "failed", "requests", "429s", "error"):
        table.add_column(column, justify="left" if column in ("source", "error") else "right", overflow="fold")
    for r in result.sync:
        requests = result.emulator_requests.get(r.source, 0)
        limited = result.emulator_rate_limited.get(r.source, 0)
        table.add_row(r.source, str(r.fetched), str(r.stored), str(r.failed), str(requests), str(limited),
                      Text(r.error or "", style="red"))  # fmt: skip
    faults = ", ".join(f"{count} {kind}" for kind, count in sorted(result.emulator_faults.items()))
    table.caption = "requests and 429s (waited out) as counted by the emulator" + (
        f"; injected faults, retried: {faults}" if faults else ""
    )
    table.caption_justify = "left"
    return table


def _ago(seconds: float | None) -> str:
    """`2h 38m` / `3d 5h` / `45m`: compact durations for narrow terminals."""
    if seconds is None:
        return "—"
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {mins:02d}m" if hours else f"{mins}m"


def _incidents_table(result: DemoResult, top: Incident | None, now: datetime, *, width: int) -> Group:
    """The incidents as a table; on terminals narrower than 110 columns the titles follow the table."""
    c = result.correlation
    counts = f" ({c.scored} items scored, {c.incidents_created} created)" if c else ""
    wide = width >= 110
    table = Table(title=f"2. correlate: candidate incidents{counts}", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("id", "sev", "first report", "detected", "resolved", "reports", "accounts"):
        table.add_column(column, no_wrap=True, justify="left" if column in ("id", "sev") else "right")
    if wide:
        table.add_column("title", ratio=1)
    titles = Text()
    for i in result.incidents:
        export = result.exports.get(i.id)
        first = export.first_seen if export else i.first_seen
        detect = export.metrics.time_to_detect_s if export else None
        resolve = export.metrics.time_to_resolve_s if export else None
        title = i.title if len(i.title) <= 90 else i.title[:89] + "…"
        mark = "▶ " if top is not None and i.id == top.id else "  "
        cells = [Text(mark + i.id, style="bold" if mark.strip() else ""), Text(i.severity),
                 Text(f"{_ago((now - first).total_seconds())} ago" if first else "—"),
                 Text(f"+{_ago(detect)}" if detect is not None else "—"),
                 Text(f"+{_ago(resolve)}" if resolve is not None else "—"),
                 Text(str(i.report_count)), Text(str(len(i.accounts)))]  # fmt: skip
        table.add_row(*cells, *([Text(title)] if wide else []))
        if not wide:
            titles.append(f"  {i.id}  ", style="bold")
            titles.append(f"{title}\n")
    if not result.incidents:
        table.add_row("(none)", *[""] * (len(table.columns) - 1))
    note = Text("  All are candidates until a responder confirms or dismisses them. detected: crossed the alert "
                "threshold; resolved: engineering issue done or every report solved (both after the first "
                "report).\n", style="dim")  # fmt: skip
    return Group(table, titles, note) if not wide else Group(table, note)


def _alerts_renderable(result: DemoResult) -> Group:
    table = Table(title="4. alert: thresholds evaluated, sinks notified", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("incident", "sink", "kind", "status", "note"):
        table.add_column(column, overflow="fold")
    styles = {"sent": "green", "failed": "red", "suppressed": "yellow"}
    for o in result.alerts:
        table.add_row(o.incident, o.sink, o.kind, Text(o.status, style=styles.get(o.status, "")),
                      Text(o.error or o.note or ""))  # fmt: skip
    if not result.alerts:
        table.add_row("(no incident crossed the threshold)", "", "", "", "")
    got = Text(f"The local receiver got {len(result.received)} POST(s):\n", style="bold")
    for post in result.received:
        check = ""
        if post.sink == "webhook":
            check = "  [signature ✓]" if post.signature_ok(WEBHOOK_SECRET) else "  [signature ✗]"
        got.append(f"  {post.sink:<8} {post.path}  {post.summary()}{check}\n")
    return Group(table, got)


def run_demo(
    out_dir: Path,
    *,
    console: Console,
    store_url: str | None = None,
    faults: bool = True,
    now: datetime | None = None,
) -> DemoResult:
    """Run every step against the bundled world and show each one; returns what was found."""
    started = time.monotonic()
    with Demo(store_url=store_url, faults=faults, now=now) as demo:
        emu, result = demo.emulator, demo.result
        behaviour = "rate limits on, a few injected 5xx and dropped connections" if faults else "rate limits on"
        console.print(Panel(Text.assemble(
            ("caseline demo", "bold"), " — a week at Ledgerly, a B2B invoicing SaaS, that ends now.\n",
            f"Vendor emulator serving Zendesk, Intercom, HubSpot, Slack, Jira and Linear on {emu.url} ({behaviour}).\n",
            f"Alert receiver (stand-in for a Slack webhook and a signed webhook) on {result.receiver_url}\n",
            f"Config: {result.config_path}\nStore:  {redact_url(result.store_url)}",
        ), title="setup", title_align="left"))  # fmt: skip

        with console.status("syncing six sources through the real connectors…") as status:

            def show(event: SyncProgress) -> None:
                status.update(f"syncing… {event.source}: {event.fetched} fetched, {event.stored} stored")

            demo.sync(progress=show)
        console.print(_sync_table(result))

        with console.status("correlating…"):
            demo.correlate()
        top = pick_top(result.incidents)
        console.print(_incidents_table(result, top, emu.world.now, width=console.width))

        export = None
        if top is not None:
            demo.write_outputs(top, out_dir)
            export = result.top
        if export is not None:
            console.rule(f"3. timeline of the top incident: caseline timeline {export.id}")
            for part in text_renderables(export):
                console.print(part)

        with console.status("evaluating alerts…"):
            demo.alert()
        console.print(_alerts_renderable(result))

        if export is not None:
            written = Text(f"5. files written for the top incident ({export.id}):\n", style="bold")
            for label, path in result.files.items():
                written.append(f"  {label:<11} {path}\n")
            console.print(written)
    result.seconds["total"] = time.monotonic() - started
    console.print(Panel(Text.assemble(
        f"Done in {result.seconds['total']:.1f}s; the emulator and the receiver are stopped.\n\n",
        ("Point caseline at your own tools:\n", "bold"),
        "  caseline init            # write a commented caseline.toml\n",
        "  $EDITOR caseline.toml    # uncomment [sources.*]; tokens from ${ENV_VARS}\n",
        "  caseline sync            # pull every configured source\n",
        "  caseline correlate && caseline incidents\n",
        "  caseline timeline <ID>   # also --format markdown|html|json\n",
        "  caseline run             # sync → correlate → alert on a schedule",
    ), title="next", title_align="left"))  # fmt: skip
    return result
