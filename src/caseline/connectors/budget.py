"""Proactive throttling: slow down before the vendor says 429, from the headers it already sends.

One `Budget` per source per run. After each response `update()` reads the remaining/reset headers
declared in the vendor's `RateLimitSpec`; before each request `acquire(path)` sleeps until the reset when
remaining ≤ floor, and keeps a minimum interval between requests to rate-limited paths (Zendesk's
incremental exports: 10/min; HubSpot search: ~5/s). Requests sent but not yet answered (`release()`) count
against what is left: with 8 child fetches in flight, "2 remaining" means the window is already spent.
A 429 still goes through the retry path.

`set_throttling(False)` turns this off process-wide (the local emulator has no real limits).
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import time
from collections.abc import Awaitable, Callable

import httpx

from caseline.connectors.retry import RateLimitSpec, parse_reset, pause

__all__ = ["Budget", "set_throttling", "throttling"]

log = logging.getLogger("caseline.connectors")

_enabled = True


def set_throttling(enabled: bool) -> None:
    """Switch proactive throttling on or off for every client created afterwards or in use."""
    global _enabled
    _enabled = enabled


def throttling() -> bool:
    return _enabled


def _matches(path: str, key: str) -> bool:
    """A `min_interval` key is a path prefix, or a glob when it holds `*`/`?` (`*/search`: every search,
    sharing one interval; the leading `*` also covers a base URL with a path)."""
    return fnmatch.fnmatchcase(path, key) if "*" in key or "?" in key else path.startswith(key)


class Budget:
    """Request budget of one source, fed by its responses' headers."""

    def __init__(
        self,
        spec: RateLimitSpec,
        *,
        source: str = "",
        enabled: bool = True,
        cap_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = pause,
    ) -> None:
        self.spec = spec
        self.source = source
        self.enabled = enabled
        self.cap_s = cap_s
        self._clock, self._wall, self._sleep = clock, wall, sleep
        self.remaining: int | None = None
        self.reset_at: float | None = None  # wall-clock epoch seconds
        self.hold_until: float | None = None  # monotonic: every request waits after a throttle signal
        self.in_flight = 0  # acquired, not yet released: the vendor has not counted them in `remaining` yet
        self._last: dict[str, float] = {}

    def hold(self, seconds: float) -> None:
        """A 429 (or body throttle) named a wait: hold EVERY request of this source until it passes,
        so concurrent requests do not keep hitting the limit while one of them backs off."""
        if seconds <= 0:
            return
        until = self._clock() + min(seconds, self.cap_s)
        self.hold_until = max(self.hold_until or 0.0, until)

    def update(self, response: httpx.Response) -> None:
        """Remember what the vendor says is left and when it refills."""
        if self.spec.remaining:
            raw = response.headers.get(self.spec.remaining)
            with contextlib.suppress(ValueError):
                self.remaining = int(float(raw)) if raw is not None else self.remaining
        if self.spec.reset:
            seconds = parse_reset(response.headers.get(self.spec.reset), self.spec.reset_format, now=self._wall())
            if seconds is not None:
                self.reset_at = self._wall() + seconds

    def release(self) -> None:
        """A request acquired earlier got its answer (or failed): it no longer counts as in flight."""
        self.in_flight = max(0, self.in_flight - 1)

    def _intervals(self, path: str) -> list[tuple[str, float]]:
        return [(p, s) for p, s in self.spec.min_interval.items() if s > 0 and _matches(path, p)]

    async def acquire(self, path: str) -> None:
        """Wait, if needed, before sending a request to `path`.

        Interval slots are reserved before sleeping (no await between reading and writing them), so
        concurrent requests queue up one interval apart without holding a lock while they wait.
        """
        if not (self.enabled and _enabled):
            self.in_flight += 1
            return
        now = self._clock()
        wait, reason = 0.0, ""
        waited_hold = self.hold_until
        if self.hold_until is not None and self.hold_until > now:
            wait, reason = self.hold_until - now, "the vendor asked to back off"
        left = self.remaining - self.in_flight if self.remaining is not None else None
        if left is not None and left <= self.spec.floor and self.reset_at is not None:
            until_reset = max(0.0, self.reset_at - self._wall())
            if until_reset > wait:
                wait, reason = until_reset, f"{left} requests left until reset"
        for prefix, seconds in self._intervals(path):
            last = self._last.get(prefix)
            slot = max(now + wait, last + seconds if last is not None else now)
            self._last[prefix] = slot
            if slot - now > wait:
                wait, reason = slot - now, f"at most one request per {seconds:g}s"
        if wait > 0:
            wait = min(wait, self.cap_s)
            log.info("%s: throttling %s for %.1fs (%s)", self.source, path, wait, reason)
            await self._sleep(wait)
            if reason.endswith("until reset"):
                self.remaining = None  # unknown until the next response says
        # another request's 429 may have set a longer hold while this one slept: honour that one too
        # (each hold is waited for once, so a test clock that does not move cannot spin here)
        while self.hold_until is not None and self.hold_until != waited_hold:
            waited_hold = self.hold_until
            late = waited_hold - self._clock()
            if late > 0:
                await self._sleep(min(late, self.cap_s))
        self.in_flight += 1
