"""Alert test helpers: a real HTTP receiver on 127.0.0.1, and incidents built straight into the store
(IncidentStore.save, Store.upsert_evidence), so these tests do not depend on correlation internals."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from caseline.config.models import AlertSettings
from caseline.evidence import Evidence, Person
from caseline.incident import Incident, Member
from caseline.store import Store
from caseline.store.db import make_engine
from caseline.store.incidents import IncidentStore
from caseline.timeparse import utc_now


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server in a thread that records every request and answers a scripted status sequence."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    default: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, *statuses: int, then: int | None = None) -> None:
        """Answer these statuses in order, then `then` (default: the current default) forever."""
        with self.lock:
            self.script = list(statuses)
            if then is not None:
                self.default = then

    def next_status(self) -> int:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def ok(self) -> list[Received]:
        """Requests that were answered 2xx (the ones a sink counts as delivered)."""
        return [r for r in self.requests if r.headers.get("x-answered", "").startswith("2")]

    @property
    def delivered(self) -> list[Any]:
        return [r.json() for r in self.ok()]


def handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status = receiver.next_status()
            headers = {k.lower(): v for k, v in self.headers.items()}
            headers["x-answered"] = str(status)
            with receiver.lock:
                receiver.requests.append(Received("POST", self.path, headers, body))
            payload = b'{"status":"success"}' if status < 300 else b'{"message":"Event object is invalid"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            return

    return Handler


@contextmanager
def serve_receiver() -> Iterator[Receiver]:
    """A receiver on an ephemeral 127.0.0.1 port for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = Receiver(server)
    server.RequestHandlerClass = handler_for(receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


# ---- building incidents -----------------------------------------------------------------------------
def ago(**kwargs: float) -> datetime:
    return utc_now() - timedelta(**kwargs)


def report(n: int, account: str | None, at: datetime, *, email: str | None = None, source: str = "zendesk",
           title: str = "Checkout fails with 502") -> Evidence:
    kind = {"zendesk": "ticket", "intercom": "conversation", "hubspot": "ticket"}.get(source, "report")
    return Evidence.model_validate({
        "source": source, "kind": kind, "native_id": str(n), "title": f"{title} ({n})",
        "url": f"https://acme.zendesk.com/agent/tickets/{n}", "created_at": at, "account": account,
        "author": Person(name=f"Customer {n}", email=email or (f"user{n}@{account}" if account else None)),
    })


def context(source: str, native_id: str, at: datetime, *, links: Sequence[str] = ()) -> Evidence:
    kind = "message" if source == "slack" else "issue"
    return Evidence.model_validate({
        "source": source, "kind": kind, "native_id": native_id, "title": f"{source} {native_id}",
        "url": f"https://example.invalid/{source}/{native_id}", "created_at": at, "links": list(links),
    })


def reports_from(accounts: Sequence[str], *, start: int = 1, at: datetime | None = None,
                 spacing: timedelta = timedelta(minutes=1)) -> list[Evidence]:
    base = at or ago(hours=1)
    return [report(start + i, acc, base + i * spacing) for i, acc in enumerate(accounts)]


def save_incident(
    store: Store,
    incident_id: str,
    evidence: Sequence[Evidence],
    *,
    status: str = "candidate",
    severity: str = "sev3",
    title: str = "Checkout fails with 502",
    merged_into: str | None = None,
) -> Incident:
    """Store the evidence and an incident holding all of it (what correlation would have written)."""
    store.upsert_evidence(list(evidence))
    now = utc_now()
    times = [e.created_at for e in evidence]
    reports = [e for e in evidence if e.is_report]
    incident = Incident(
        id=incident_id, status=status, severity=severity, title=title,
        first_seen=min(times) if times else None, last_seen=max(times) if times else None,
        created_at=now, updated_at=now, merged_into=merged_into, report_count=len(reports),
        accounts=sorted({e.account for e in reports if e.account}),
        members=[Member(evidence_id=e.id, added_at=now) for e in evidence],
    )
    IncidentStore(store).save([incident])
    return incident


def reopen(store: Store) -> Store:
    """A new Store object on the same database: what a restarted process (or another one) sees."""
    return Store(make_engine(store.engine.url.render_as_string(hide_password=False)))


def alert_settings(*sinks: dict[str, Any], **overrides: Any) -> AlertSettings:
    raw: dict[str, Any] = {"min_reports": 5, "min_accounts": 3, "window": "30m", "max_age": "24h"}
    raw.update(overrides)
    raw["sinks"] = list(sinks)
    return AlertSettings.model_validate(raw)
