"""Fixtures of the reliability suite: empty stores to point real `caseline` processes at, compressed retry time."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from caseline.connectors import budget
from caseline.connectors.retry import set_testing
from tests.conftest import IN_CI, PG_URL


def _pg_schema_url() -> Iterator[str]:
    """A URL whose connections land in a fresh, EMPTY schema (no tables: the processes under test create them)."""
    if not PG_URL:
        if IN_CI:
            pytest.fail("CASELINE_TEST_PG_URL is not set under CI=true")
        pytest.skip("CASELINE_TEST_PG_URL not set")
    from sqlalchemy import text

    from caseline.store.db import make_engine

    schema = f"r_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store on SQLite and on a real PostgreSQL server (skipped locally without one)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'caseline.db'}"
    else:
        yield from _pg_schema_url()


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Retry and throttle waits run at 1/10 of real time, so a run with hundreds of faults takes seconds.

    A 429's `Retry-After: 1` then holds the source for 0.1 s, which outlasts the emulator windows used here
    (≤ 0.1 s): the discipline under test is unchanged, only the clock is faster.
    """
    set_testing(True, scale=0.1)
    monkeypatch.setattr(budget, "_enabled", False)
    yield
    set_testing(False)
