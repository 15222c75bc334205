"""`caseline export --post`: a real HTTP receiver on 127.0.0.1 answering scripted statuses."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from caseline.store import open_store
from caseline.timeline import post
from caseline.timeline.export import export_schema
from tests.cli_helpers import run_cli
from tests.timeline import world
from tests.timeline.world import INCIDENT_ID


@dataclass
class Receiver:
    url: str
    statuses: list[int]
    bodies: list[bytes] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="", statuses=[])
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                state.bodies.append(body)
                state.content_types.append(self.headers.get("Content-Type", ""))
                status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/postmortem?token=s3cret"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Back-off waits are recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(post, "_sleep", recorded.append)
    return recorded


@pytest.fixture
def config(tmp_path: Path) -> Path:
    db = tmp_path / "post.db"
    world.save_world(open_store(f"sqlite:///{db}"))
    path = tmp_path / "caseline.toml"
    path.write_text(world.CONFIG_TOML.format(db=db.as_posix()), encoding="utf-8")
    return path


def test_post_retries_a_500_then_succeeds(
    receiver: Receiver, waits: list[float], config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver.statuses = [500, 200]
    outcome = run_cli(capsys, "export", INCIDENT_ID, "--post", receiver.url, "--config", str(config))
    assert outcome.code == 0, outcome.err
    assert len(receiver.bodies) == 2
    assert receiver.bodies[0] == receiver.bodies[1]
    assert receiver.content_types == ["application/json", "application/json"]
    document = json.loads(receiver.bodies[-1])
    jsonschema.Draft202012Validator(export_schema()).validate(document)
    assert document["id"] == INCIDENT_ID
    assert len(waits) == 1 and 0 < waits[0] <= 30
    assert "HTTP 200" in outcome.out and "2 attempts" in outcome.out
    assert "s3cret" not in outcome.out + outcome.err


def test_post_does_not_retry_a_4xx(
    receiver: Receiver, waits: list[float], config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver.statuses = [422]
    outcome = run_cli(capsys, "export", INCIDENT_ID, "--post", receiver.url, "--config", str(config))
    assert outcome.code == 1
    assert len(receiver.bodies) == 1 and waits == []
    assert outcome.err.startswith("caseline: error: export: POST http://127.0.0.1:")
    assert "HTTP 422" in outcome.err and "s3cret" not in outcome.err
    assert outcome.err.count("\n") == 1


def test_post_gives_up_after_repeated_429(
    receiver: Receiver, waits: list[float], config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver.statuses = [429] * 10
    outcome = run_cli(capsys, "export", INCIDENT_ID, "--post", receiver.url, "--config", str(config))
    assert outcome.code == 1
    assert len(receiver.bodies) == post.ATTEMPTS
    assert len(waits) == post.ATTEMPTS - 1
    for attempt, wait in enumerate(waits):  # exponential back-off with up to 50% jitter
        assert 0.5 * 2**attempt <= wait <= 0.75 * 2**attempt
    assert f"HTTP 429 after {post.ATTEMPTS} attempt(s)" in outcome.err


def test_post_retries_connection_errors(waits: list[float], config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = run_cli(capsys, "export", INCIDENT_ID, "--post", f"http://127.0.0.1:{port}/x", "--config", str(config))
    assert outcome.code == 1
    assert len(waits) == post.ATTEMPTS - 1
    assert "ConnectError" in outcome.err


def test_post_rejects_a_non_http_url(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "export", INCIDENT_ID, "--post", "file:///etc/passwd", "--config", str(config))
    assert outcome.code == 2
