"""Sinks: the request each one builds, retries by answer class, labels, and secrets kept out of sight."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any

import pytest

from caseline.alerts.sinks import (
    ATTEMPTS,
    Alert,
    DeliveryError,
    PagerDuty,
    Sink,
    Slack,
    Webhook,
    build_sinks,
    http_client,
    signature,
)
from caseline.config.models import AlertSettings
from tests.alerts.helpers import Receiver

SECRET_PATH = "/services/T0001/B0002/slacksecrettoken42"
ALERT = Alert(
    kind="opened",
    body={
        "type": "caseline.alert.v1",
        "kind": "opened",
        "sent_at": "2026-03-01T12:30:00Z",
        "incident": {
            "id": "inc-7k2q9m",
            "title": "Checkout fails with 502 <for EU>",
            "status": "candidate",
            "severity": "sev2",
            "first_seen": "2026-03-01T12:00:00Z",
            "detected_at": "2026-03-01T12:20:00Z",
            "report_count": 6,
            "accounts": ["acme.com", "globex.com", "initech.com"],
            "sources": {"slack": 1, "zendesk": 6},
        },
    },
    accounts_affected=4,
    arr_affected=1_250_000.0,
    links=(("Checkout fails (1)", "https://acme.zendesk.com/agent/tickets/1"),
           ("OPS-7", "https://acme.atlassian.net/browse/OPS-7")),
)


def sinks(*raw: dict[str, Any]) -> list[Sink]:
    return build_sinks(AlertSettings.model_validate({"sinks": list(raw)}).sinks)


def deliver(sink: Sink, alert: Alert = ALERT) -> None:
    async def go() -> None:
        async with http_client() as client:
            await sink.deliver(client, alert)

    asyncio.run(go())


def test_slack_message_is_readable_and_complete(receiver: Receiver) -> None:
    (sink,) = sinks({"type": "slack", "url": receiver.url + SECRET_PATH})
    assert isinstance(sink, Slack)
    deliver(sink)
    (request,) = receiver.requests
    assert request.path == SECRET_PATH
    message = request.json()
    assert set(message) == {"text", "blocks"}
    assert "[sev2]" in message["text"] and "6 reports from 4 accounts" in message["text"]
    assert "&lt;for EU&gt;" in message["text"]  # mrkdwn escaped
    header = message["blocks"][0]
    assert header["type"] == "header" and header["text"]["text"] == "New incident: Checkout fails with 502 <for EU>"
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in message["blocks"][1]["fields"]}
    assert fields["*Severity*"] == "sev2"
    assert fields["*Accounts affected*"] == "4 (acme.com, globex.com, initech.com)"
    assert fields["*ARR affected*"] == "$1.2M"
    assert fields["*Sources*"] == "slack 1, zendesk 6"
    assert fields["*First seen*"] == "2026-03-01T12:00:00Z"
    links = message["blocks"][2]["text"]["text"]
    assert "<https://acme.atlassian.net/browse/OPS-7|OPS-7>" in links
    assert "inc-7k2q9m" in json.dumps(message["blocks"][-1])


def test_webhook_posts_the_body_exactly_and_signs_it(receiver: Receiver) -> None:
    (sink,) = sinks({"type": "webhook", "url": receiver.url + "/hooks/caseline", "secret": "s3cr3t-value"})
    assert isinstance(sink, Webhook) and sink.label == "webhook:127.0.0.1"
    deliver(sink)
    (request,) = receiver.requests
    assert request.path == "/hooks/caseline"
    assert request.json() == ALERT.body
    assert request.headers["x-caseline-signature"] == signature("s3cr3t-value", request.body)


def test_webhook_without_a_secret_sends_no_signature(receiver: Receiver) -> None:
    (sink,) = sinks({"type": "webhook", "url": receiver.url + "/hook"})
    deliver(sink)
    assert "x-caseline-signature" not in receiver.requests[0].headers


def test_pagerduty_event_v2(receiver: Receiver) -> None:
    (sink,) = sinks({"type": "pagerduty", "routing_key": "rk-123456", "base_url": receiver.url})
    assert isinstance(sink, PagerDuty) and sink.label == "pagerduty"
    deliver(sink)
    deliver(sink, Alert(kind="resolved", body={**ALERT.body, "kind": "resolved"}))
    trigger, resolve = (r.json() for r in receiver.requests)
    assert receiver.requests[0].path == "/v2/enqueue"
    assert trigger["routing_key"] == "rk-123456"
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == "inc-7k2q9m"
    assert trigger["payload"]["severity"] == "error"
    assert trigger["payload"]["source"] == "caseline"
    assert trigger["payload"]["summary"].startswith("[sev2] Checkout fails with 502 <for EU>")
    assert trigger["links"][1] == {"href": "https://acme.atlassian.net/browse/OPS-7", "text": "OPS-7"}
    assert resolve == {"routing_key": "rk-123456", "dedup_key": "inc-7k2q9m", "event_action": "resolve"}


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_429_and_5xx_are_retried_then_succeed(receiver: Receiver, status: int) -> None:
    receiver.answer(status, status)
    (sink,) = sinks({"type": "webhook", "url": receiver.url + "/hook"})
    deliver(sink)
    assert [r.headers["x-answered"] for r in receiver.requests] == [str(status), str(status), "200"]


@pytest.mark.parametrize("status", [400, 403, 404, 410, 422])
def test_4xx_is_not_retried(receiver: Receiver, status: int) -> None:
    receiver.answer(status)
    (sink,) = sinks({"type": "slack", "url": receiver.url + SECRET_PATH})
    with pytest.raises(DeliveryError) as info:
        deliver(sink)
    assert len(receiver.requests) == 1
    assert not info.value.sink_down and info.value.status == status
    assert str(info.value).startswith(f"slack: {status} ")
    assert "slacksecrettoken42" not in str(info.value)


def test_a_sink_that_stays_down_gives_up_after_the_attempts(receiver: Receiver) -> None:
    receiver.answer(then=500)
    (sink,) = sinks({"type": "pagerduty", "routing_key": "rk-123456", "base_url": receiver.url})
    with pytest.raises(DeliveryError) as info:
        deliver(sink)
    assert len(receiver.requests) == ATTEMPTS
    assert info.value.sink_down
    assert str(info.value) == f"pagerduty: 500 Internal Server Error on POST (gave up after {ATTEMPTS} attempts)"


def test_connection_refused_is_retried_and_names_no_url(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (sink,) = sinks({"type": "slack", "url": f"http://127.0.0.1:{port}{SECRET_PATH}"})
    caplog.set_level(logging.INFO, logger="caseline")
    with pytest.raises(DeliveryError) as info:
        deliver(sink)
    assert info.value.sink_down
    assert str(info.value) == f"slack: ConnectError on POST (gave up after {ATTEMPTS} attempts)"
    assert "retry 2 of 4" in caplog.text
    assert "slacksecrettoken42" not in caplog.text


def test_labels_hide_secrets_and_stay_unique() -> None:
    built = sinks(
        {"type": "slack", "url": "https://hooks.slack.com/services/T1/B1/xyzsecret"},
        {"type": "slack", "url": "https://hooks.slack.com/services/T1/B2/othersecret"},
        {"type": "webhook", "url": "https://user:pw@hooks.example.com/in/tok3n", "secret": "abc"},
        {"type": "pagerduty", "routing_key": "rk"},
        {"type": "webhook", "url": "https://example.org/hook", "name": "ops-bridge"},
    )
    assert [s.label for s in built] == ["slack", "slack#2", "webhook:hooks.example.com", "pagerduty", "ops-bridge"]
    assert "xyzsecret" not in repr(built) and "tok3n" not in repr(built)
