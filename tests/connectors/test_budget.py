"""Proactive throttling: wait for the reset when the budget is spent; keep minimum intervals per path."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from caseline.connectors import budget as budget_module
from caseline.connectors.budget import Budget
from caseline.connectors.http import VendorClient
from caseline.connectors.retry import RateLimitSpec


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


def _budget(spec: RateLimitSpec, t: FakeTime, **kwargs: object) -> Budget:
    return Budget(spec, clock=t.clock, wall=t.clock, sleep=t.sleep, **kwargs)  # type: ignore[arg-type]


def _response(**headers: str) -> httpx.Response:
    return httpx.Response(200, headers=headers)


async def test_waits_until_reset_when_remaining_at_floor() -> None:
    t = FakeTime()
    budget = _budget(RateLimitSpec(remaining="X-RateLimit-Remaining", reset="X-RateLimit-Reset", floor=1), t)
    budget.update(_response(**{"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": str(int(t.now) + 20)}))
    await budget.acquire("/conversations")
    assert t.sleeps == []  # plenty left
    budget.update(_response(**{"X-RateLimit-Remaining": "1", "X-RateLimit-Reset": str(int(t.now) + 20)}))
    await budget.acquire("/conversations")
    assert t.sleeps == [20.0]
    await budget.acquire("/conversations")  # after the reset the remaining count is unknown: no second wait
    assert t.sleeps == [20.0]


async def test_reset_in_epoch_ms_and_cap() -> None:
    t = FakeTime()
    spec = RateLimitSpec(remaining="X-RateLimit-Requests-Remaining", reset="X-RateLimit-Requests-Reset")
    budget = _budget(spec, t, cap_s=120.0)
    reset_ms = str(int((t.now + 3600) * 1000))
    budget.update(_response(**{"X-RateLimit-Requests-Remaining": "0", "X-RateLimit-Requests-Reset": reset_ms}))
    await budget.acquire("/graphql")
    assert t.sleeps == [120.0]


async def test_min_interval_applies_to_its_path_prefix_only() -> None:
    t = FakeTime()
    budget = _budget(RateLimitSpec(min_interval={"/api/v2/incremental/": 6.0}), t)
    await budget.acquire("/api/v2/incremental/tickets/cursor.json")
    await budget.acquire("/api/v2/tickets/1/comments.json")
    await budget.acquire("/api/v2/tickets/2/comments.json")
    assert t.sleeps == []
    t.now += 2.5
    await budget.acquire("/api/v2/incremental/tickets/cursor.json")
    assert t.sleeps == [3.5]  # 6 s after the previous export request, not 6 s from now


async def test_disabled_budget_never_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    t = FakeTime()
    spec = RateLimitSpec(remaining="R", reset="T", min_interval={"": 10.0})
    off = _budget(spec, t, enabled=False)
    off.update(_response(R="0", T="30"))
    await off.acquire("/x")
    await off.acquire("/x")
    monkeypatch.setattr(budget_module, "_enabled", False)  # the process-wide switch (emulator runs)
    on = _budget(spec, t)
    on.update(_response(R="0", T="30"))
    await on.acquire("/x")
    await on.acquire("/x")
    assert t.sleeps == []


async def test_client_feeds_the_budget_from_headers(router: respx.MockRouter) -> None:
    router.get("https://api.intercom.io/contacts").mock(
        return_value=httpx.Response(200, json={}, headers={"X-RateLimit-Remaining": "42", "X-RateLimit-Reset": "1"})
    )
    spec = RateLimitSpec(remaining="X-RateLimit-Remaining", reset="X-RateLimit-Reset")
    async with VendorClient("intercom", "https://api.intercom.io", limits=spec) as api:
        await api.request("GET", "/contacts")
        assert api.budget.remaining == 42


async def test_concurrent_requests_queue_one_interval_apart() -> None:
    t = FakeTime()
    budget = _budget(RateLimitSpec(min_interval={"/search": 0.2}), t)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # concurrent sleepers: record, do not move the shared clock
        waits.append(round(seconds, 3))

    budget._sleep = sleep
    await asyncio.gather(*(budget.acquire("/search") for _ in range(4)))
    assert sorted(waits) == [0.2, 0.4, 0.6]  # the first goes at once, the others take the next slots


async def test_requests_in_flight_count_against_what_is_left() -> None:
    t = FakeTime()
    spec = RateLimitSpec(remaining="X-RateLimit-Remaining", reset="X-RateLimit-Reset", floor=1)
    budget = _budget(spec, t)
    budget.update(_response(**{"X-RateLimit-Remaining": "4", "X-RateLimit-Reset": str(int(t.now) + 10)}))
    for _ in range(3):  # 4 left: three more may go out before anyone answers
        await budget.acquire("/tickets/1/comments")
    assert t.sleeps == [] and budget.in_flight == 3
    await budget.acquire("/tickets/2/comments")  # 4 − 3 in flight = 1 left: at the floor, wait for the reset
    assert t.sleeps == [10.0]


async def test_answered_and_failed_requests_stop_counting_as_in_flight(router: respx.MockRouter) -> None:
    router.get("https://api.intercom.io/contacts").mock(
        side_effect=[httpx.Response(200, json={}, headers={"X-RateLimit-Remaining": "9"}), httpx.ConnectError("down")]
    )
    spec = RateLimitSpec(remaining="X-RateLimit-Remaining", reset="X-RateLimit-Reset")
    async with VendorClient("intercom", "https://api.intercom.io", limits=spec) as api:
        await api.request("GET", "/contacts")
        assert api.budget.in_flight == 0
        with pytest.raises(httpx.ConnectError):
            await api._attempt("GET", api._url("/contacts"), None, None, "/contacts")
        assert api.budget.in_flight == 0
