"""Retry policy for vendor requests: what is retried, how long to wait, when to give up.

- Retried: transport errors (connect, timeouts, resets, protocol errors), HTTP 429/500/502/503/504 and
  `Retryable` raised by a connector's `check` hook (Slack `ratelimited`, Linear `RATELIMITED`).
- Wait: `Retry-After` (seconds or HTTP date), else the vendor's reset header declared in its
  `RateLimitSpec` (epoch s / epoch ms / seconds-to-go / ISO date, told apart by magnitude), capped at
  120 s; else exponential back-off with jitter (1 s … 60 s).
- Stop: 6 failed attempts or 300 s, whichever first (stamina's "attempts and time"). A throttle that
  names its wait (429 with Retry-After or a reset header, Slack/Linear body signals) is the vendor
  pacing us, not a failure: it does not use up an attempt, only time.

Tests call `set_testing(True)`: waits are still computed and logged, but nothing sleeps (or, with
`scale=0.1`, sleeps a tenth as long).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    stop_any,
)
from tenacity.stop import stop_base

from caseline.errors import VendorError
from caseline.timeparse import to_utc

__all__ = [
    "RETRY_STATUSES",
    "RateLimitSpec",
    "RetryPolicy",
    "Retryable",
    "RetryableStatus",
    "is_retryable",
    "is_testing",
    "json_field_is",
    "make_retrying",
    "parse_reset",
    "parse_retry_after",
    "pause",
    "set_testing",
    "wait_hint",
]

log = logging.getLogger("caseline.connectors")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

_testing = False
_scale = 0.0


def set_testing(on: bool = True, *, scale: float = 0.0) -> None:
    """Tests: waits are still computed and logged, but sleep `scale` times as long (0: not at all).

    stamina's `set_testing` idea; end-to-end runs against the emulator use a small scale so a 429's
    `Retry-After: 1` still lets the emulator's window pass, in a fraction of the real time.
    """
    global _testing, _scale
    _testing, _scale = on, max(0.0, scale)


def is_testing() -> bool:
    return _testing


async def pause(seconds: float) -> None:
    """The one sleep of the HTTP layer (retries and throttling)."""
    if _testing:
        seconds *= _scale
    if seconds > 0:
        await asyncio.sleep(seconds)


class Retryable(Exception):
    """Raised by a `check` hook for a throttle signal inside a body; `wait_s=None`: read the headers."""

    def __init__(self, message: str = "retryable response", wait_s: float | None = None) -> None:
        super().__init__(message)
        self.wait_s = wait_s


class RetryableStatus(VendorError):
    """A 429 or 5xx answer; carries the wait the vendor asked for, if any."""

    def __init__(self, message: str, *, source: str, status: int, wait_s: float | None) -> None:
        super().__init__(message, source=source, status=status)
        self.wait_s = wait_s


ResetFormat = Literal["auto", "epoch", "delta", "date"]


@dataclass(frozen=True)
class RateLimitSpec:
    """How one vendor announces its rate limits (header names are case-insensitive).

    `remaining`/`reset`: headers read after every response for proactive throttling (see `budget.py`)
    and, on a 429 without `Retry-After`, for the wait. `floor`: throttle when remaining ≤ floor.
    `min_interval`: path prefix (or glob: `*/search`) → minimum seconds between requests to it, e.g. Zendesk's
    10/min incremental exports. `interval_ms`: a header giving the limit window in ms (HubSpot), used as
    the wait of a 429 that names no other. `exhausted`: a predicate on a 429 that means "the quota is
    gone for the day, do not retry" (HubSpot `policyName: DAILY`).
    """

    retry_after: bool = True
    remaining: str | None = None
    reset: str | None = None
    reset_format: ResetFormat = "auto"
    floor: int = 0
    min_interval: Mapping[str, float] = field(default_factory=dict)
    interval_ms: str | None = None
    exhausted: Callable[[httpx.Response], bool] | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts and time budget of one request; waits the vendor names are capped at `cap_s`."""

    attempts: int = 6
    max_elapsed_s: float = 300.0
    cap_s: float = 120.0
    initial_s: float = 1.0
    max_backoff_s: float = 60.0


def json_field_is(name: str, value: Any) -> Callable[[httpx.Response], bool]:
    """A `RateLimitSpec.exhausted` predicate: the JSON body has `name == value` (HubSpot DAILY)."""

    def check(response: httpx.Response) -> bool:
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return False
        return isinstance(body, Mapping) and body.get(name) == value

    return check


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds or an HTTP date; None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def parse_reset(value: str | None, fmt: ResetFormat = "auto", *, now: float | None = None) -> float | None:
    """A reset header as seconds from `now`: epoch s or ms (by magnitude), seconds-to-go, or a date."""
    if value is None or not value.strip():
        return None
    clock = time.time() if now is None else now
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None and fmt != "date":
        if fmt == "delta" or (fmt == "auto" and number < 1e9):
            return max(0.0, number)
        epoch = number / 1000 if number >= 1e11 else number
        return max(0.0, epoch - clock)
    try:
        return max(0.0, to_utc(text).timestamp() - clock)
    except ValueError:
        return None


def wait_hint(response: httpx.Response, spec: RateLimitSpec, *, now: float | None = None) -> float | None:
    """The wait a throttled or failing response asks for, if it names one."""
    if spec.retry_after:
        hint = parse_retry_after(response.headers.get("Retry-After"), now=now)
        if hint is not None:
            return hint
    if response.status_code != 429:
        return None
    if spec.reset:
        hint = parse_reset(response.headers.get(spec.reset), spec.reset_format, now=now)
        if hint is not None:
            return max(hint, 1.0)  # a reset already past (clock skew) must not become a hot loop
    if spec.interval_ms:
        try:
            return max(float(response.headers.get(spec.interval_ms, "")) / 1000, 1.0)
        except ValueError:
            return None
    return None


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, RetryableStatus | Retryable):
        return True
    return isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.UnsupportedProtocol)


def _is_paced(exc: BaseException | None) -> bool:
    """A throttle that told us how long to wait (the vendor pacing us, not something failing)."""
    if isinstance(exc, Retryable):
        return exc.wait_s is not None
    return isinstance(exc, RetryableStatus) and exc.status == 429 and exc.wait_s is not None


class _Failures:
    """Counts the failed attempts of one request; paced throttles (see `_is_paced`) are not failures.

    Both the wait (exponential back-off by failures, not by throttles) and the stop read it; tenacity
    runs the wait before the stop, so each attempt is counted once, whichever asks first.
    """

    def __init__(self) -> None:
        self.paced = 0
        self._seen = 0

    def __call__(self, state: RetryCallState) -> int:
        if state.attempt_number > self._seen:
            self._seen = state.attempt_number
            if _is_paced(state.outcome.exception() if state.outcome else None):
                self.paced += 1
        return state.attempt_number - self.paced


class _StopAfterFailures(stop_base):
    def __init__(self, failures: _Failures, attempts: int) -> None:
        self.failures, self.attempts = failures, attempts

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.failures(retry_state) >= self.attempts


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, RetryableStatus):
        return str(exc.status)
    if isinstance(exc, Retryable):
        return str(exc)
    return type(exc).__name__ if exc else "?"


def make_retrying(policy: RetryPolicy, *, source: str, method: str, path: str) -> AsyncRetrying:
    """A tenacity loop for one request; the caller runs each attempt inside it."""
    failures = _Failures()

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        failed = failures(state)
        hint = getattr(exc, "wait_s", None)
        if isinstance(hint, int | float):
            return float(min(max(hint, 0.0), policy.cap_s))
        # exponential back-off with jitter over failures only: earlier throttles don't inflate it
        exponent = max(failed - 1, 0)
        return min(policy.initial_s * 2**exponent, policy.max_backoff_s) + random.uniform(0, policy.initial_s)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        log.info(
            "%s: %s %s → %s; retry %d of %d in %.1fs",
            source,
            method,
            path,
            _describe(exc),
            state.attempt_number + 1,
            policy.attempts,
            delay,
        )

    out_of_attempts = _StopAfterFailures(failures, policy.attempts)

    return AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        wait=wait,
        stop=stop_any(out_of_attempts, stop_after_delay(policy.max_elapsed_s)),
        sleep=pause,
        before_sleep=before_sleep,
        reraise=True,
    )
