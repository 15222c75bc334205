"""How badly the emulated vendors behave: rate limits per vendor and randomly injected faults.

Both are off unless asked for, so plain tests see a well-behaved API. Fault draws come from one seeded
`random.Random`, so a single-threaded client sees the same sequence of faults on every run.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field

from caseline.emulator.vendors._base import RateState

__all__ = ["FaultKind", "Faults", "RateLimit", "RateLimiter", "RateLimits"]

FaultKind = str  # "error", "reset", "reset_mid_body", "slow", "malformed"


@dataclass(frozen=True)
class RateLimit:
    """`requests` per `per_seconds` window; `daily` makes HubSpot say policyName DAILY instead."""

    requests: int
    per_seconds: float = 1.0
    daily: bool = False

    def __post_init__(self) -> None:
        if self.requests < 1 or self.per_seconds <= 0:
            raise ValueError("RateLimit needs requests >= 1 and per_seconds > 0")


class RateLimits:
    """Per-vendor limits: `RateLimits(zendesk=RateLimit(20, 1.0), hubspot=RateLimit(5, 60, daily=True))`."""

    def __init__(self, **per_vendor: RateLimit) -> None:
        self.per_vendor: dict[str, RateLimit] = dict(per_vendor)

    def get(self, vendor: str) -> RateLimit | None:
        return self.per_vendor.get(vendor)


class RateLimiter:
    """Fixed windows per vendor, starting at the first request of each window (monotonic clock)."""

    def __init__(self, limits: RateLimits | None) -> None:
        self._limits = limits or RateLimits()
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def check(self, vendor: str) -> RateState | None:
        """Count one request; None when the vendor has no limit configured."""
        limit = self._limits.get(vendor)
        if limit is None:
            return None
        with self._lock:
            now = time.monotonic()
            start, used = self._windows.get(vendor, (now, 0))
            if now - start >= limit.per_seconds:
                start, used = now, 0
            allowed = used < limit.requests
            if allowed:
                used += 1
            self._windows[vendor] = (start, used)
            left = max(0.0, start + limit.per_seconds - now)
        return RateState(
            allowed=allowed,
            limit=limit.requests,
            remaining=limit.requests - used,
            window_seconds=limit.per_seconds,
            reset_at=math.ceil(time.time() + left),
            retry_after=max(1, math.ceil(left)),
            daily=limit.daily,
        )


@dataclass
class Faults:
    """Rates (0..1) of injected faults; every request draws the same five numbers from the seeded stream.

    error: a 500/502/503 instead of the answer; reset: the connection is cut before (or, half the time,
    in the middle of) the body; slow: the answer waits `slow_seconds` first; malformed: one item of the
    page loses its id or gets null/odd fields. `vendors` limits injection to those vendors.
    """

    seed: int = 0
    error_rate: float = 0.0
    reset_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 2.0
    malformed_rate: float = 0.0
    vendors: Collection[str] | None = None
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for name in ("error_rate", "reset_rate", "slow_rate", "malformed_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Faults.{name} must be between 0 and 1")
        self._rng = random.Random(self.seed)

    def draw(self, vendor: str) -> list[FaultKind]:
        """The faults for one request (possibly none); `slow` can combine with any other."""
        if self.vendors is not None and vendor not in self.vendors:
            return []
        with self._lock:
            rolls = [self._rng.random() for _ in range(5)]
        chosen: list[FaultKind] = []
        if rolls[0] < self.slow_rate:
            chosen.append("slow")
        if rolls[1] < self.error_rate:
            chosen.append("error")
        elif rolls[2] < self.reset_rate:
            chosen.append("reset_mid_body" if rolls[3] < 0.5 else "reset")
        elif rolls[4] < self.malformed_rate:
            chosen.append("malformed")
        return chosen

    def pick(self, options: list[int]) -> int:
        with self._lock:
            return self._rng.choice(options)

    def rng_int(self, upper: int) -> int:
        """0 <= n < upper from the fault stream (which item to corrupt, and how)."""
        with self._lock:
            return self._rng.randrange(upper)
