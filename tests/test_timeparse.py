from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseline.timeparse import format_utc, parse_duration, parse_since, to_utc


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1512085950, datetime(2017, 11, 30, 23, 52, 30, tzinfo=UTC)),
        ("1512085950", datetime(2017, 11, 30, 23, 52, 30, tzinfo=UTC)),
        (1694721826678, datetime(2023, 9, 14, 20, 3, 46, 678000, tzinfo=UTC)),  # epoch ms (Linear resets)
        ("1512085950.000216", datetime(2017, 11, 30, 23, 52, 30, 216, tzinfo=UTC)),  # Slack ts
        ("2019-06-05T01:13:24Z", datetime(2019, 6, 5, 1, 13, 24, tzinfo=UTC)),  # Zendesk
        ("2022-05-17T04:06:55.076-0700", datetime(2022, 5, 17, 11, 6, 55, 76000, tzinfo=UTC)),  # Jira
        ("2022-05-17T04:06:55.076+0000", datetime(2022, 5, 17, 4, 6, 55, 76000, tzinfo=UTC)),
        ("2021-11-09T08:34:13.924Z", datetime(2021, 11, 9, 8, 34, 13, 924000, tzinfo=UTC)),  # Linear
        ("2026-03-01T14:00:00+02:00", datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
        ("2025-01-01", datetime(2025, 1, 1, tzinfo=UTC)),
        (datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5))), datetime(2026, 1, 1, 17, tzinfo=UTC)),
    ],
)
def test_every_vendor_form_becomes_aware_utc(value: object, expected: datetime) -> None:
    parsed = to_utc(value)
    assert parsed == expected
    assert parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)


def test_slack_ts_keeps_microseconds_exactly() -> None:
    assert to_utc("1512085950.999999").microsecond == 999999


@pytest.mark.parametrize("bad", ["", "yesterday-ish", None, True, "2026-13-45T99:00:00Z", [1]])
def test_bad_times_raise_value_error(bad: object) -> None:
    with pytest.raises(ValueError):
        to_utc(bad)


def test_require_offset_rejects_naive_iso_times() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        to_utc("2026-03-01T12:00:00", require_offset=True)
    assert to_utc("2026-03-01T12:00:00Z", require_offset=True).hour == 12


def test_format_utc_keeps_milliseconds_only_when_present() -> None:
    assert format_utc(datetime(2026, 3, 1, 12, tzinfo=UTC)) == "2026-03-01T12:00:00Z"
    assert format_utc(datetime(2026, 3, 1, 12, 0, 0, 76000, tzinfo=UTC)) == "2026-03-01T12:00:00.076Z"
    assert format_utc(None) is None


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), (" 3m ", 180)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("bad", ["5", "5 minutes", "-5m", "m", "1.5h", ""])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(bad)


def test_since_accepts_durations_and_dates() -> None:
    now = datetime(2026, 3, 10, tzinfo=UTC)
    assert parse_since("2d", now=now) == datetime(2026, 3, 8, tzinfo=UTC)
    assert parse_since("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2999, 1, 1), timezones=st.timezones()))
def test_iso_round_trip(value: datetime) -> None:
    assert to_utc(value.isoformat()) == value.astimezone(UTC)


@given(st.text(max_size=40))
def test_no_text_crashes_the_parser(text: str) -> None:
    with contextlib.suppress(ValueError):
        to_utc(text)
