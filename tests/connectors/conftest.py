"""Fixtures for connector tests: instant retry/throttle waits (they are still computed and logged)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx

from caseline.connectors.retry import set_testing


@pytest.fixture(autouse=True)
def _no_wait() -> Iterator[None]:
    """stamina's `set_testing` idea: nothing in these tests sleeps for real."""
    set_testing(True)
    yield
    set_testing(False)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """respx with both safety checks on: every route called, every request mocked."""
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        yield mock
