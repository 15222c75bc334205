"""Alert test fixtures: real HTTP receivers on 127.0.0.1, no real back-off waits, no proxies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from caseline.connectors.retry import set_testing
from tests.alerts.helpers import Receiver, serve_receiver


@pytest.fixture
def make_receiver() -> Iterator[Callable[[], Receiver]]:
    with ExitStack() as stack:
        yield lambda: stack.enter_context(serve_receiver())


@pytest.fixture
def receiver(make_receiver: Callable[[], Receiver]) -> Receiver:
    return make_receiver()


@pytest.fixture(autouse=True)
def _no_wait() -> Iterator[None]:
    """Retry back-off is computed but never slept."""
    set_testing(True)
    yield
    set_testing(False)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receivers are on loopback: never route them through a proxy from the environment."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
