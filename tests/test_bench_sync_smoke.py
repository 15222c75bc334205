"""Keeps benchmarks/bench_sync.py from rotting: its core runs end to end on a tiny world (30 items per vendor)."""

from __future__ import annotations

import importlib.util
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from rich.console import Console

from caseline.connectors import budget
from caseline.connectors.retry import is_testing, set_testing

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_sync.py"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("bench_sync", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_sync"] = module  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("bench_sync", None)


@pytest.fixture(autouse=True)
def _restore_switches() -> Iterator[None]:
    """The benchmark flips the process-wide throttling and testing switches; put them back."""
    throttling, testing = budget.throttling(), is_testing()
    yield
    budget.set_throttling(throttling)
    set_testing(testing)


def test_unlimited_run_stores_every_item_at_the_lower_bound(bench: ModuleType) -> None:
    run = bench.run_bench(30, bench.VENDORS, in_process=True)

    assert [v.vendor for v in run.vendors] == list(bench.VENDORS)
    for v in run.vendors:
        assert v.error is None, (v.vendor, v.error)
        assert v.stored == 30, v.vendor
        assert v.bound > 0 and v.requests >= v.bound, (v.vendor, v.requests, v.bound)
        assert v.rate_limited == 0
        assert set(v.bounds) <= set(v.endpoints), (v.vendor, v.bounds, v.endpoints)  # bounds name real routes
    assert run.crashes == 0
    out = io.StringIO()
    bench.render(Console(file=out, width=200), run)
    text = out.getvalue()
    assert "requests / bound" in text and "jira POST /rest/api/3/search/jql" in text


def test_limited_run_counts_429s_and_retries_exactly_those(bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    # Slack sends no remaining-count headers: without its Tier 3 pacing, 8 concurrent thread fetches
    # overrun a 10-request window
    monkeypatch.setitem(bench.REAL_LIMITS, "slack", bench.RealLimit(10, 1.5, "test"))
    paced = bench._sources

    def unpaced(urls: dict[str, str], vendors: list[str], time_scale: float) -> dict[str, dict[str, object]]:
        sources = paced(urls, vendors, time_scale)
        sources["slack"]["tier3_interval_s"] = 0
        return sources

    monkeypatch.setattr(bench, "_sources", unpaced)
    run = bench.run_bench(30, ["slack"], limited=True, in_process=True, time_scale=1.0)
    (slack,) = run.vendors

    assert slack.error is None and slack.stored == 30
    assert slack.rate_limited > 0
    assert slack.requests == slack.bound + slack.rate_limited  # each 429 costs one request, nothing else is extra
    out = io.StringIO()
    bench.render(Console(file=out, width=200), run)
    assert "429s" in out.getvalue() and "10/1.5 s" in out.getvalue()


def test_main_rejects_unknown_vendors(bench: ModuleType) -> None:
    with pytest.raises(SystemExit):
        bench.main(["--items", "5", "--vendors", "zendesk,myspace"])
