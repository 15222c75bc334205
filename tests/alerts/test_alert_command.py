"""`caseline alert [--dry-run] [--json]` through the real entry point, and from concurrent processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from caseline.store import open_store
from tests.alerts.helpers import Receiver, ago, reports_from, save_incident
from tests.cli_helpers import run_cli

FIVE = ["a.com", "b.com", "c.com", "a.com", "b.com"]
PD_KEY = "pd-routing-key-never-printed-1234"


def write_config(receiver: Receiver, *, path: Path = Path("caseline.toml")) -> Path:
    path.write_text(
        f"""
[store]
url = "sqlite:///caseline.db"

[alerts]
min_reports = 5
min_accounts = 3

[[alerts.sinks]]
type = "webhook"
url = "{receiver.url}/hook"
secret = "${{TEST_WEBHOOK_SECRET}}"

[[alerts.sinks]]
type = "pagerduty"
routing_key = "{PD_KEY}"
base_url = "{receiver.url}"
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture(autouse=True)
def _secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "whsec-from-env-9876")


def seed() -> None:
    store = open_store("sqlite:///caseline.db")
    save_incident(store, "inc-cli001", reports_from(FIVE))
    save_incident(store, "inc-cliold", reports_from(FIVE, start=20, at=ago(days=5)))
    store.engine.dispose()


def test_dry_run_json_shows_alert_bodies_and_sends_nothing(
    capsys: pytest.CaptureFixture[str], receiver: Receiver
) -> None:
    write_config(receiver)
    seed()
    result = run_cli(capsys, "alert", "--dry-run", "--json")
    assert result.code == 0, result.err
    planned = json.loads(result.out)
    assert [(p["incident"], p["sink"], p["kind"], p["status"]) for p in planned] == [
        ("inc-cli001", "pagerduty", "opened", "would_send"),
        ("inc-cli001", "webhook:127.0.0.1", "opened", "would_send"),
        ("inc-cliold", "pagerduty", "opened", "would_suppress"),
        ("inc-cliold", "webhook:127.0.0.1", "opened", "would_suppress"),
    ]
    alert = planned[0]["alert"]
    assert alert["type"] == "caseline.alert.v1" and alert["kind"] == "opened"
    assert alert["incident"]["id"] == "inc-cli001" and alert["incident"]["report_count"] == 5
    assert receiver.requests == []
    # the table form says the same without sending either
    table = run_cli(capsys, "alert", "--dry-run")
    assert table.code == 0 and "would_send" in table.out and "inc-cli001" in table.out
    assert receiver.requests == []


def test_alert_json_sends_once_and_reports_status(capsys: pytest.CaptureFixture[str], receiver: Receiver) -> None:
    write_config(receiver)
    seed()
    result = run_cli(capsys, "alert", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == [
        {"incident": "inc-cli001", "sink": "pagerduty", "kind": "opened", "status": "sent"},
        {"incident": "inc-cli001", "sink": "webhook:127.0.0.1", "kind": "opened", "status": "sent"},
        {"incident": "inc-cliold", "sink": "pagerduty", "kind": "opened", "status": "suppressed",
         "note": "latest report older than alerts.max_age"},
        {"incident": "inc-cliold", "sink": "webhook:127.0.0.1", "kind": "opened", "status": "suppressed",
         "note": "latest report older than alerts.max_age"},
    ]
    again = run_cli(capsys, "alert", "--json")
    assert again.code == 0 and json.loads(again.out) == []
    assert len(receiver.delivered) == 2
    assert PD_KEY not in result.out + result.err + again.out


def test_a_failed_sink_exits_1_and_keeps_secrets_out(capsys: pytest.CaptureFixture[str], receiver: Receiver) -> None:
    receiver.answer(then=500)
    write_config(receiver)
    seed()
    result = run_cli(capsys, "alert", "--json")
    assert result.code == 1
    rows = json.loads(result.out)
    assert {r["status"] for r in rows if r["incident"] == "inc-cli001"} == {"failed"}
    for secret in (PD_KEY, "whsec-from-env-9876"):
        assert secret not in result.out + result.err


def test_concurrent_alert_processes_send_each_alert_once(receiver: Receiver, tmp_path: Path) -> None:
    config = write_config(receiver)
    seed()
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "caseline", "alert", "--json", "--config", str(config)],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outputs]
    sent = [row for out, _ in outputs for row in json.loads(out) if row["status"] == "sent"]
    assert sorted((r["incident"], r["sink"]) for r in sent) == [
        ("inc-cli001", "pagerduty"), ("inc-cli001", "webhook:127.0.0.1")
    ]
    assert len(receiver.delivered) == 2
