"""Where alerts go: a Slack incoming webhook, a signed generic webhook, PagerDuty Events API v2.

A sink turns an `Alert` into one HTTP POST; `Sink.deliver` sends it with retries (tenacity):
transport errors, 429 and 5xx are retried with back-off (honouring `Retry-After`), other answers
fail at once. Nothing here ever names a secret: sinks are shown by label (`slack`,
`webhook:example.com`, `pagerduty`), errors carry the label and status only (a webhook URL's path
may hold its token), and `repr` hides the configuration.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from caseline import __version__
from caseline.config.models import PagerDutySink, SinkSettings, SlackSink, WebhookSink
from caseline.connectors.retry import parse_retry_after, pause

__all__ = [
    "ATTEMPTS",
    "SIGNATURE_HEADER",
    "Alert",
    "DeliveryError",
    "PagerDuty",
    "Sink",
    "Slack",
    "Webhook",
    "build_sinks",
    "http_client",
    "signature",
]

log = logging.getLogger("caseline.alerts")

ATTEMPTS = 4
"""Tries per delivery within one evaluation; a sink still down is tried again next cycle."""
_MAX_WAIT_S = 30.0
TIMEOUT = httpx.Timeout(10, connect=5)
USER_AGENT = f"caseline/{__version__}"
SIGNATURE_HEADER = "X-Caseline-Signature"


@dataclass(frozen=True)
class Alert:
    """One alert to deliver: the contract body plus what richer sinks show (ARR, links)."""

    kind: str
    body: dict[str, Any]
    accounts_affected: int = 0
    arr_affected: float | None = None
    links: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (title, url)

    @property
    def incident(self) -> dict[str, Any]:
        return dict(self.body["incident"])


class DeliveryError(Exception):
    """A delivery that failed for good in this attempt; `sink_down` = retried failures (5xx, 429, network)."""

    def __init__(self, message: str, *, sink_down: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.sink_down = sink_down
        self.status = status


class _RetryableAnswer(Exception):
    def __init__(self, status: int, wait_s: float | None) -> None:
        super().__init__(str(status))
        self.status = status
        self.wait_s = wait_s


def _phrase(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, _RetryableAnswer):
        return True
    return isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.UnsupportedProtocol)


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the exact body bytes>` (the `X-Caseline-Signature` header)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Sink(ABC):
    """One configured destination. Subclasses build the request; delivery and retries live here."""

    type: ClassVar[str]

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"

    @abstractmethod
    def request(self, alert: Alert) -> tuple[str, bytes, dict[str, str]]:
        """The URL, exact body bytes and headers of the POST for `alert`."""

    async def deliver(self, client: httpx.AsyncClient, alert: Alert) -> None:
        """POST the alert, retrying what a retry can fix; raise DeliveryError otherwise."""
        url, content, headers = self.request(alert)
        backoff = wait_exponential_jitter(initial=1, max=_MAX_WAIT_S)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            hint = getattr(exc, "wait_s", None)
            if isinstance(hint, int | float):
                return float(min(max(hint, 0.0), _MAX_WAIT_S))
            return float(backoff(state))

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            what = _phrase(exc.status) if isinstance(exc, _RetryableAnswer) else type(exc).__name__
            delay = state.next_action.sleep if state.next_action else 0.0
            log.info("alert sink=%s kind=%s → %s; retry %d of %d in %.1fs",
                     self.label, alert.kind, what, state.attempt_number + 1, ATTEMPTS, delay)

        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            wait=wait,
            stop=stop_after_attempt(ATTEMPTS),
            sleep=pause,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._post(client, url, content, headers)
        except _RetryableAnswer as exc:
            raise DeliveryError(
                f"{self.label}: {_phrase(exc.status)} on POST (gave up after {ATTEMPTS} attempts)",
                sink_down=True, status=exc.status,
            ) from None
        except httpx.TransportError as exc:
            # the exception text may quote the URL (and with it a token): its type is enough
            raise DeliveryError(
                f"{self.label}: {type(exc).__name__} on POST (gave up after {ATTEMPTS} attempts)", sink_down=True
            ) from None

    async def _post(self, client: httpx.AsyncClient, url: str, content: bytes, headers: dict[str, str]) -> None:
        response = await client.post(url, content=content, headers=headers)
        status = response.status_code
        if 200 <= status < 300:
            return
        if status == 429 or status >= 500:
            raise _RetryableAnswer(status, parse_retry_after(response.headers.get("Retry-After")))
        raise DeliveryError(f"{self.label}: {_phrase(status)} on POST{self.detail(response)}",
                            sink_down=False, status=status)

    def detail(self, response: httpx.Response) -> str:
        """A short reason from the answer, where the vendor's answer is known to be safe to show."""
        return ""


# ---- Slack -------------------------------------------------------------------------------------------
_HEADLINES = {
    "opened": "New incident",
    "grew": "Incident grew",
    "escalated": "Incident escalated",
    "resolved": "Incident resolved",
}
_SLACK_EMOJI = {"opened": ":rotating_light:", "grew": ":chart_with_upwards_trend:",
                "escalated": ":arrow_up:", "resolved": ":white_check_mark:"}


def _mrkdwn(text: str) -> str:
    """Slack's three escapes (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _money(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value >= 1_000_000:
        return f"${value / 1_000_000:.1f}M"
    if value >= 1_000:
        return f"${value / 1_000:.0f}k"
    return f"${value:,.0f}"


def _accounts_text(alert: Alert, limit: int = 8) -> str:
    keys = alert.incident.get("accounts") or []
    shown = ", ".join(keys[:limit]) + (f" +{len(keys) - limit} more" if len(keys) > limit else "")
    return f"{alert.accounts_affected}" + (f" ({shown})" if shown else "")


class Slack(Sink):
    """Slack incoming webhook: POST {text, blocks} (https://api.slack.com/messaging/webhooks)."""

    type = "slack"

    def __init__(self, settings: SlackSink, label: str) -> None:
        super().__init__(label)
        self._url = settings.url

    def message(self, alert: Alert) -> dict[str, Any]:
        inc = alert.incident
        title = inc.get("title") or inc["id"]
        headline = f"{_HEADLINES.get(alert.kind, alert.kind)}: {title}"
        sources = ", ".join(f"{name} {count}" for name, count in (inc.get("sources") or {}).items()) or "—"
        text = (
            f"{_SLACK_EMOJI.get(alert.kind, '')} [{inc['severity']}] {_mrkdwn(headline)} — "
            f"{inc['report_count']} reports from {alert.accounts_affected} accounts ({inc['id']})"
        ).strip()
        fields = [
            ("Severity", inc["severity"]),
            ("Status", inc["status"]),
            ("Accounts affected", _accounts_text(alert)),
            ("ARR affected", _money(alert.arr_affected)),
            ("Reports", str(inc["report_count"])),
            ("Sources", sources),
            ("First seen", inc.get("first_seen") or "—"),
            ("Detected", inc.get("detected_at") or "—"),
        ]
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": headline[:150], "emoji": True}},
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{_mrkdwn(value)}"} for name, value in fields],
            },
        ]
        if alert.links:
            lines = [f"• <{url}|{_mrkdwn(label)[:80] or url}>" for label, url in alert.links[:10]]
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}})
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"caseline · `{inc['id']}` · {alert.kind} · `caseline timeline {inc['id']}`"}
        ]})
        return {"text": text, "blocks": blocks}

    def request(self, alert: Alert) -> tuple[str, bytes, dict[str, str]]:
        return self._url.get_secret_value(), _json_bytes(self.message(alert)), {"Content-Type": "application/json"}


# ---- generic webhook ---------------------------------------------------------------------------------
class Webhook(Sink):
    """POST the `caseline.alert.v1` body; `X-Caseline-Signature: sha256=<HMAC of the body>` when a secret is set."""

    type = "webhook"

    def __init__(self, settings: WebhookSink, label: str) -> None:
        super().__init__(label)
        self._url = str(settings.url)
        self._secret = settings.secret

    def request(self, alert: Alert) -> tuple[str, bytes, dict[str, str]]:
        body = _json_bytes(alert.body)
        headers = {"Content-Type": "application/json"}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = signature(self._secret.get_secret_value(), body)
        return self._url, body, headers


# ---- PagerDuty ---------------------------------------------------------------------------------------
_PD_SEVERITY = {"sev1": "critical", "sev2": "error", "sev3": "warning", "sev4": "info"}


class PagerDuty(Sink):
    """Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/).

    `trigger` on opened, grew and escalated, `resolve` on resolved; dedup_key = incident id, so
    follow-ups update the same PagerDuty incident.
    """

    type = "pagerduty"

    def __init__(self, settings: PagerDutySink, label: str) -> None:
        super().__init__(label)
        self._key = settings.routing_key
        self._url = str(settings.base_url).rstrip("/") + "/v2/enqueue"

    def event(self, alert: Alert) -> dict[str, Any]:
        inc = alert.incident
        event: dict[str, Any] = {
            "routing_key": self._key.get_secret_value(),
            "dedup_key": inc["id"],
            "event_action": "resolve" if alert.kind == "resolved" else "trigger",
        }
        if alert.kind == "resolved":
            return event
        summary = (
            f"[{inc['severity']}] {inc.get('title') or inc['id']} — {inc['report_count']} reports from "
            f"{alert.accounts_affected} accounts ({alert.kind})"
        )
        event["payload"] = {
            "summary": summary[:1024],
            "severity": _PD_SEVERITY.get(inc["severity"], "warning"),
            "source": "caseline",
            "component": next(iter(inc.get("sources") or {}), None) or "caseline",
            "group": inc["id"],
            "class": alert.kind,
            "custom_details": {**inc, "kind": alert.kind, "arr_affected": alert.arr_affected},
        }
        event["client"] = "caseline"
        if alert.links:
            event["links"] = [{"href": url, "text": label[:100] or url} for label, url in alert.links[:10]]
        return event

    def request(self, alert: Alert) -> tuple[str, bytes, dict[str, str]]:
        return self._url, _json_bytes(self.event(alert)), {"Content-Type": "application/json"}

    def detail(self, response: httpx.Response) -> str:
        """PagerDuty's 400 says what is wrong with the event (`message`, `errors`); it never echoes the key."""
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return ""
        if not isinstance(body, dict):
            return ""
        parts = [str(body.get("message") or "")] + [str(e) for e in body.get("errors") or []]
        text = " ".join(" ".join(p for p in parts if p).split())[:200]
        return f": {text}" if text else ""


# ---- from the configuration --------------------------------------------------------------------------
def _label(settings: SinkSettings) -> str:
    if settings.name:
        return settings.name
    if isinstance(settings, WebhookSink):
        return f"webhook:{httpx.URL(str(settings.url)).host}"
    return settings.type


def build_sinks(configured: Sequence[SinkSettings]) -> list[Sink]:
    """One sink per `[[alerts.sinks]]` entry; a repeated label gets `#2`, `#3` (labels key the alert state)."""
    sinks: list[Sink] = []
    seen: dict[str, int] = {}
    for settings in configured:
        base = _label(settings)
        seen[base] = seen.get(base, 0) + 1
        label = base if seen[base] == 1 else f"{base}#{seen[base]}"
        if isinstance(settings, SlackSink):
            sinks.append(Slack(settings, label))
        elif isinstance(settings, WebhookSink):
            sinks.append(Webhook(settings, label))
        else:
            sinks.append(PagerDuty(settings, label))
    return sinks


def http_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The client deliveries share within one evaluation (no redirects: a 3xx is a misconfiguration)."""
    return httpx.AsyncClient(
        timeout=TIMEOUT,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        transport=transport,
    )
