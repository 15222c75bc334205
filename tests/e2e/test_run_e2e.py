"""`caseline run --once` end to end: the emulator's demo world is synced through the six real connectors,
correlated, and alerted to a real receiver on 127.0.0.1, in one cycle; a second cycle repeats nothing."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from caseline.alerts.sinks import signature
from caseline.emulator import Emulator, World, serve
from tests.alerts.helpers import Receiver, serve_receiver
from tests.cli_helpers import run_cli

SECRET = "e2e-webhook-secret-3141"
SLACK_PATH = "/services/T0E2E/B0E2E/e2e-slack-token-2718"


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield
    root = logging.getLogger("caseline")
    for handler in [h for h in root.handlers if h.get_name() == "caseline.run"]:
        root.removeHandler(handler)


def _config(emu: Emulator, receiver: Receiver, path: Path) -> Path:
    lines = ['[store]', 'url = "sqlite:///run-e2e.db"', '']
    for vendor, creds in emu.world.credentials.items():
        lines += [f"[sources.{vendor}]", f'base_url = "{emu.base_url(vendor)}"']
        lines += [f'{key} = "{value}"' for key, value in creds.items()]
        if vendor == "jira":
            lines.append('jql = "project = OPS"')
        lines.append("")
    lines += [
        "[alerts]", "min_reports = 5", "min_accounts = 3", 'window = "30m"', 'max_age = "24h"', "",
        "[[alerts.sinks]]", 'type = "slack"', f'url = "{receiver.url}{SLACK_PATH}"', "",
        "[[alerts.sinks]]", 'type = "webhook"', f'url = "{receiver.url}/hook"', f'secret = "{SECRET}"', "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.mark.slow
def test_run_once_syncs_correlates_and_alerts_in_one_cycle(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    world = World.from_dict(json.loads(
        resources.files("caseline.emulator").joinpath("worlds/demo.json").read_text(encoding="utf-8")
    ))
    with serve(world) as emu, serve_receiver() as receiver:
        config = _config(emu, receiver, tmp_path / "caseline.toml")
        first = run_cli(capsys, "run", "--once", "--config", str(config))
        posts = list(receiver.requests)
        second = run_cli(capsys, "run", "--once", "--config", str(config))
        after = run_cli(capsys, "alert", "--json", "--config", str(config))

    assert first.code == 0, first.err
    (line,) = [ln for ln in first.err.splitlines() if " cycle=1 " in ln]
    for vendor in world.credentials:
        stored = re.search(rf"sync\.{vendor}\.stored=(\d+)", line)
        assert stored and int(stored.group(1)) > 0, (vendor, line)
    created = re.search(r"incidents_created=(\d+)", line)
    assert created and int(created.group(1)) >= 1
    assert "status=ok" in line and "alerts_sent=" in line

    webhook = [r for r in posts if r.path == "/hook"]
    slack = [r for r in posts if r.path == SLACK_PATH]
    assert webhook and len(slack) == len(webhook)
    bodies = [r.json() for r in webhook]
    assert {b["kind"] for b in bodies} == {"opened"}
    assert len({b["incident"]["id"] for b in bodies}) == len(bodies)  # one alert per incident
    for request, body in zip(webhook, bodies, strict=True):
        assert request.headers["x-caseline-signature"] == signature(SECRET, request.body)
        assert body["type"] == "caseline.alert.v1"
        assert body["incident"]["detected_at"] and body["incident"]["report_count"] >= 5
        assert len(body["incident"]["accounts"]) >= 1
    sent = re.search(r"alerts_sent=(\d+)", line)
    assert sent and int(sent.group(1)) == len(posts)

    # the next cycle (a new process would see the same store) finds nothing new to say
    assert second.code == 0, second.err
    assert "alerts_sent=0" in second.err
    assert len(receiver.requests) == len(posts)
    assert after.code == 0 and json.loads(after.out) == []
    for secret in (SECRET, SLACK_PATH, *(c["token"] for c in world.credentials.values())):
        assert secret not in first.err + second.err + after.out
