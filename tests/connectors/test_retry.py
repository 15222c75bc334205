"""Retries: what is retried, how long it waits (logged), when it gives up, and what it never leaks."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from caseline.connectors.auth import Bearer, EmailToken
from caseline.connectors.http import NotFoundResponse, VendorClient
from caseline.connectors.retry import (
    RateLimitSpec,
    Retryable,
    RetryPolicy,
    json_field_is,
    parse_reset,
    parse_retry_after,
)
from caseline.errors import CredentialsError, RateLimitExhausted, VendorError

BASE = "https://acme.zendesk.com"
TOKEN = "zd-secret-token-123"


def _waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    """The waits the retry loop logged, in order (the last argument of each retry record)."""
    return [float(r.args[-1]) for r in caplog.records if "retry" in r.msg]  # type: ignore[index,arg-type]


def _client(**kwargs: object) -> VendorClient:
    return VendorClient("zendesk", BASE, auth=EmailToken("ops@acme.com", TOKEN), **kwargs)  # type: ignore[arg-type]


async def test_429_retry_after_then_connect_error_then_200(
    router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="caseline.connectors")
    route = router.get(f"{BASE}/api/v2/tickets.json").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.ConnectError("connection refused"),
            httpx.Response(200, json={"tickets": [{"id": 1}]}),
        ]
    )
    async with _client() as api:
        body = await api.get_json("/api/v2/tickets.json")
    assert body == {"tickets": [{"id": 1}]}
    assert route.call_count == 3
    waits = _waits(caplog)
    assert waits[0] == 7.0  # Retry-After honoured exactly
    assert 1.0 <= waits[1] <= 4.0  # then exponential back-off with jitter
    messages = [r.getMessage() for r in caplog.records]
    assert any("zendesk: GET /api/v2/tickets.json → 429; retry 2 of 6 in 7.0s" in m for m in messages)
    assert any("ConnectError" in m for m in messages)


async def test_retry_after_http_date(router: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="caseline.connectors")
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=40), usegmt=True)
    router.get(f"{BASE}/x").mock(side_effect=[httpx.Response(503, headers={"Retry-After": when}), httpx.Response(200)])
    async with _client() as api:
        await api.request("GET", "/x")
    assert 35 <= _waits(caplog)[0] <= 40


@pytest.mark.parametrize(
    ("spec", "header", "value", "expected"),
    [
        # Intercom: X-RateLimit-Reset in epoch seconds
        (RateLimitSpec(reset="X-RateLimit-Reset"), "X-RateLimit-Reset", lambda now: str(int(now) + 30), 30),
        # Linear: X-RateLimit-Requests-Reset in epoch milliseconds
        (
            RateLimitSpec(reset="X-RateLimit-Requests-Reset"),
            "X-RateLimit-Requests-Reset",
            lambda now: str(int(now * 1000) + 45_000),
            45,
        ),
        # a reset far away is capped at 120 s
        (RateLimitSpec(reset="X-RateLimit-Reset"), "X-RateLimit-Reset", lambda now: str(int(now) + 3600), 120),
    ],
    ids=["intercom-epoch-s", "linear-epoch-ms", "capped"],
)
async def test_429_waits_for_vendor_reset_header(
    caplog: pytest.LogCaptureFixture, spec: RateLimitSpec, header: str, value: object, expected: float
) -> None:
    caplog.set_level(logging.INFO, logger="caseline.connectors")
    with respx.mock(assert_all_called=True) as router:
        router.get("https://api.intercom.io/conversations").mock(
            side_effect=[
                httpx.Response(429, headers={header: value(time.time())}),  # type: ignore[operator]
                httpx.Response(200, json={}),
            ]
        )
        async with VendorClient("intercom", "https://api.intercom.io", auth=Bearer(TOKEN), limits=spec) as api:
            await api.request("GET", "/conversations")
    assert _waits(caplog)[0] == pytest.approx(expected, abs=2)


async def test_hubspot_daily_limit_stops_without_retry() -> None:
    spec = RateLimitSpec(
        exhausted=json_field_is("policyName", "DAILY"), interval_ms="X-HubSpot-RateLimit-Interval-Milliseconds"
    )
    body = {"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
            "policyName": "DAILY"}  # fmt: skip
    with respx.mock(assert_all_called=True) as router:
        route = router.get("https://api.hubapi.com/crm/v3/objects/tickets").mock(
            return_value=httpx.Response(429, json=body)
        )
        async with VendorClient("hubspot", "https://api.hubapi.com", auth=Bearer(TOKEN), limits=spec) as api:
            with pytest.raises(RateLimitExhausted) as info:
                await api.request("GET", "/crm/v3/objects/tickets")
    assert route.call_count == 1
    assert "hubspot: 429" in str(info.value) and "/crm/v3/objects/tickets" in str(info.value)


async def test_hubspot_burst_429_without_retry_after_uses_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="caseline.connectors")
    spec = RateLimitSpec(
        exhausted=json_field_is("policyName", "DAILY"), interval_ms="X-HubSpot-RateLimit-Interval-Milliseconds"
    )
    burst = httpx.Response(
        429,
        json={"policyName": "TEN_SECONDLY_ROLLING", "errorType": "RATE_LIMIT"},
        headers={"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"},
    )
    with respx.mock(assert_all_called=True) as router:
        route = router.get("https://api.hubapi.com/crm/v3/objects/tickets").mock(
            side_effect=[burst, httpx.Response(200, json={})]
        )
        async with VendorClient("hubspot", "https://api.hubapi.com", auth=Bearer(TOKEN), limits=spec) as api:
            await api.request("GET", "/crm/v3/objects/tickets")
    assert route.call_count == 2
    assert _waits(caplog) == [10.0]


@pytest.mark.parametrize("status", [401, 403])
async def test_credentials_rejected_not_retried_and_never_leaks_token(
    caplog: pytest.LogCaptureFixture, status: int
) -> None:
    caplog.set_level(logging.DEBUG)
    with respx.mock(assert_all_called=True) as router:
        route = router.get(f"{BASE}/api/v2/incremental/tickets/cursor.json").mock(
            return_value=httpx.Response(status, json={"error": "Couldn't authenticate you"})
        )
        async with _client() as api:
            with pytest.raises(CredentialsError) as info:
                await api.request(
                    "GET", "/api/v2/incremental/tickets/cursor.json", params={"start_time": 0, "cursor": "abc"}
                )
    assert route.call_count == 1
    message = str(info.value)
    assert message.startswith(f"zendesk: {status} ")
    assert "on GET /api/v2/incremental/tickets/cursor.json — check sources.zendesk.token" in message
    assert "start_time" not in message and "cursor=" not in message  # query string stripped
    assert info.value.source == "zendesk"
    assert TOKEN not in message and TOKEN not in caplog.text and TOKEN not in repr(api)


async def test_5xx_gives_up_after_six_attempts(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/x").mock(return_value=httpx.Response(502))
    async with _client() as api:
        with pytest.raises(VendorError) as info:
            await api.request("GET", "/x", params={"q": "secret-looking"})
    assert route.call_count == 6
    assert str(info.value) == "zendesk: 502 Bad Gateway on GET /x (gave up after 6 attempts)"
    assert info.value.status == 502


async def test_attempts_are_configurable_and_transport_errors_name_the_error(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/x").mock(side_effect=httpx.ReadTimeout("timed out"))
    async with _client(retry=RetryPolicy(attempts=3)) as api:
        with pytest.raises(VendorError) as info:
            await api.request("GET", "/x")
    assert route.call_count == 3
    assert str(info.value) == "zendesk: ReadTimeout on GET /x (gave up after 3 attempts)"


async def test_resets_and_protocol_errors_are_retried(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/x").mock(
        side_effect=[httpx.ReadError("reset by peer"), httpx.RemoteProtocolError("bad"), httpx.Response(200)]
    )
    async with _client() as api:
        response = await api.request("GET", "/x")
    assert response.status_code == 200 and route.call_count == 3


async def test_404_is_a_distinct_signal_and_not_retried(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/api/v2/tickets/9/comments.json").mock(return_value=httpx.Response(404))
    async with _client() as api:
        with pytest.raises(NotFoundResponse) as info:
            await api.request("GET", "/api/v2/tickets/9/comments.json")
    assert route.call_count == 1
    assert str(info.value) == "zendesk: 404 Not Found on GET /api/v2/tickets/9/comments.json"


async def test_other_4xx_is_a_vendor_error_with_the_vendor_detail(router: respx.MockRouter) -> None:
    body = {"error": "InvalidPaginationParameter", "description": "cursor is invalid"}
    route = router.get(f"{BASE}/x").mock(return_value=httpx.Response(400, json=body))
    async with _client() as api:
        with pytest.raises(VendorError) as info:
            await api.request("GET", "/x")
    assert route.call_count == 1
    assert str(info.value) == "zendesk: 400 Bad Request on GET /x: cursor is invalid"


async def test_check_hook_turns_a_200_body_into_a_retry(caplog: pytest.LogCaptureFixture) -> None:
    """Slack answers 200 {ok: false, error: ratelimited}: the hook raises Retryable and the loop retries."""
    caplog.set_level(logging.INFO, logger="caseline.connectors")

    def slack_check(response: httpx.Response) -> None:
        body = response.json()
        if body.get("ok") is False and body.get("error") == "ratelimited":
            raise Retryable("ratelimited")
        if body.get("ok") is False:
            raise VendorError(f"slack: {body.get('error')}")

    with respx.mock(assert_all_called=True) as router:
        route = router.get("https://slack.com/api/conversations.history").mock(
            side_effect=[
                httpx.Response(200, json={"ok": False, "error": "ratelimited"}, headers={"Retry-After": "3"}),
                httpx.Response(200, json={"ok": True, "messages": []}),
            ]
        )
        async with VendorClient("slack", "https://slack.com", auth=Bearer(TOKEN), check=slack_check) as api:
            body = await api.get_json("/api/conversations.history")
    assert body["ok"] is True and route.call_count == 2
    assert _waits(caplog) == [3.0]


async def test_next_page_link_to_another_host_is_refused(router: respx.MockRouter) -> None:
    async with _client() as api:
        with pytest.raises(VendorError, match="refusing to follow a link to another host"):
            await api.request("GET", "https://evil.example/api/v2/tickets.json")


def test_parse_retry_after() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()
    assert parse_retry_after("12", now=now) == 12.0
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_parse_reset_by_magnitude() -> None:
    now = 1_700_000_000.0
    assert parse_reset("1700000030", now=now) == 30.0  # epoch seconds
    assert parse_reset("1700000030000", now=now) == 30.0  # epoch milliseconds
    assert parse_reset("41", now=now) == 41.0  # seconds to go (Zendesk ratelimit-reset)
    assert parse_reset("41", "epoch", now=now) == 0.0  # forced epoch: long past
    iso = datetime.fromtimestamp(now + 60, UTC).strftime("%Y-%m-%dT%H:%MZ")  # Jira: minute precision
    assert 0 <= parse_reset(iso, now=now) <= 60  # type: ignore[operator]
    assert parse_reset("garbage", now=now) is None


async def test_body_throttle_that_never_clears_gives_up_naming_it(router: respx.MockRouter) -> None:
    def linear_check(response: httpx.Response) -> None:
        errors = response.json().get("errors") or []
        if any((e.get("extensions") or {}).get("code") == "RATELIMITED" for e in errors):
            raise Retryable("RATELIMITED")

    body = {"errors": [{"message": "Rate limit exceeded", "extensions": {"code": "RATELIMITED"}}]}
    route = router.post("https://api.linear.app/graphql").mock(return_value=httpx.Response(400, json=body))
    async with VendorClient("linear", "https://api.linear.app", check=linear_check) as api:
        with pytest.raises(VendorError) as info:
            await api.post_json("/graphql", json={"query": "{ viewer { id } }"})
    assert route.call_count == 6
    assert str(info.value) == "linear: RATELIMITED on POST /graphql (gave up after 6 attempts)"


async def test_throttles_with_a_named_wait_cost_time_not_attempts(router: respx.MockRouter) -> None:
    """Eight 429s with Retry-After then success: the vendor is pacing us, so 6 attempts are not used up."""
    route = router.get(f"{BASE}/api/v2/tickets.json").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "1"})] * 8 + [httpx.Response(200, json={"ok": 1})]
    )
    async with _client() as api:
        assert await api.get_json("/api/v2/tickets.json") == {"ok": 1}
    assert route.call_count == 9


async def test_failures_still_give_up_after_six_attempts(router: respx.MockRouter) -> None:
    route = router.get(f"{BASE}/api/v2/tickets.json").mock(return_value=httpx.Response(503))
    async with _client() as api:
        with pytest.raises(VendorError, match="gave up after 6 attempts"):
            await api.get_json("/api/v2/tickets.json")
    assert route.call_count == 6


async def test_a_429_holds_every_request_of_the_source(router: respx.MockRouter) -> None:
    """After one request hears Retry-After, the others wait too instead of hammering the limit."""
    router.get(f"{BASE}/api/v2/tickets.json").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "30"}), httpx.Response(200, json={})]
    )
    async with _client() as api:
        await api.get_json("/api/v2/tickets.json")
        held = api.budget.hold_until
        assert held is not None and held - time.monotonic() > 20  # the next request of any path waits


async def test_back_off_after_throttles_starts_from_the_first_failure(
    router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="caseline.connectors")
    router.get(f"{BASE}/api/v2/tickets.json").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "1"})] * 4
        + [httpx.Response(503), httpx.Response(200, json={})]
    )
    async with _client() as api:
        await api.get_json("/api/v2/tickets.json")
    waits = _waits(caplog)
    assert waits[:4] == [1.0] * 4
    assert 1.0 <= waits[4] <= 2.0  # the first real failure: initial back-off, not 2**5 s
