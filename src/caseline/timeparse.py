"""One parser for every timestamp a vendor sends: everything becomes timezone-aware UTC.

Accepted: `datetime`, epoch seconds or milliseconds (int, float or numeric string; told apart by
magnitude), Slack `ts` strings (`"1512085950.000216"`), ISO 8601 with any offset, including Jira's
colon-less `+0000` form, and plain dates (midnight UTC).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from dateutil import parser as date_parser

__all__ = ["UTC", "format_utc", "parse_duration", "parse_since", "to_utc", "utc_now"]

# Anything above this is milliseconds: 1e11 seconds is the year 5138.
_MS_THRESHOLD = 100_000_000_000
_NUMERIC = re.compile(r"^\s*-?\d+(\.\d+)?\s*$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def utc_now() -> datetime:
    """The current time, aware UTC (the only clock read outside tests' control)."""
    return datetime.now(UTC)


def _from_epoch(value: Decimal) -> datetime:
    if abs(value) >= _MS_THRESHOLD:
        value = value / 1000
    whole = int(value)
    micros = int(((value - whole) * 1_000_000).to_integral_value())
    return datetime.fromtimestamp(whole, UTC) + timedelta(microseconds=micros)


def to_utc(value: object, *, require_offset: bool = False) -> datetime:
    """Parse `value` into an aware UTC datetime; raises ValueError naming what was wrong.

    `require_offset` rejects ISO strings without an offset (imported evidence must say its zone).
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            if require_offset:
                raise ValueError(f"time {value.isoformat()!r} has no UTC offset")
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int | float):
        try:
            return _from_epoch(Decimal(str(value)))
        except (InvalidOperation, OverflowError, ValueError, OSError) as exc:
            raise ValueError(f"not a time: {value!r}") from exc
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    text = value.strip()
    if not text:
        raise ValueError("empty time")
    if _NUMERIC.match(text):
        try:
            return _from_epoch(Decimal(text))
        except (InvalidOperation, OverflowError, ValueError, OSError) as exc:
            raise ValueError(f"not a time: {value!r}") from exc
    try:
        parsed = date_parser.isoparse(text)
    except (ValueError, OverflowError):
        try:
            parsed = date_parser.parse(text)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"not a time: {value!r}") from exc
    if parsed.tzinfo is None:
        if require_offset and ("T" in text or ":" in text):
            raise ValueError(f"time {value!r} has no UTC offset")
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_utc(value: datetime | None) -> str | None:
    """ISO 8601 with `Z` (contract: `2026-03-01T12:00:00Z`); milliseconds kept when present, and
    microseconds only where the vendor gives them (Slack `ts`), so a stored time round-trips exactly."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    if value.microsecond % 1000:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """`30s`, `5m`, `2h`, `1d`, `1w` (or a number of seconds) → timedelta; ValueError otherwise."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"negative duration {text!r}")
        return timedelta(seconds=text)
    if not isinstance(text, str):
        raise ValueError(f"bad duration {text!r}: use e.g. 30s, 5m, 2h, 1d")
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"bad duration {text!r}: use e.g. 30s, 5m, 2h, 1d")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """`--since`: an ISO date or time, or a duration back from now (`2d`)."""
    if _DURATION.match(text):
        return (now or utc_now()) - parse_duration(text)
    return to_utc(text)
