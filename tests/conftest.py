"""Shared fixtures: stores on SQLite (and PostgreSQL when CASELINE_TEST_PG_URL is set), vendor samples."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from caseline.store import Store, open_store

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PG_URL = os.environ.get("CASELINE_TEST_PG_URL")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def shared_path(*parts: str) -> Path:
    """A file in ../shared; the test skips where ../shared is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available (../shared is absent)")
    return path


def load_sample(vendor: str, name: str) -> Any:
    return json.loads(shared_path("vendor-samples", vendor, name).read_text(encoding="utf-8"))


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip("../shared is absent")
    return SHARED


@pytest.fixture
def vendor_sample() -> Any:
    """`vendor_sample("zendesk", "ticket.json")` → parsed JSON (skips where ../shared is absent)."""
    return load_sample


def _pg_store() -> Iterator[Store]:
    if not PG_URL:
        if IN_CI:
            pytest.fail("CASELINE_TEST_PG_URL is not set under CI=true")
        pytest.skip("CASELINE_TEST_PG_URL not set")
    from sqlalchemy import text

    from caseline.store.db import make_engine

    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    url = f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    store = open_store(url)
    try:
        yield store
    finally:
        store.engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'caseline.db'}")


@pytest.fixture
def pg_store() -> Iterator[Store]:
    yield from _pg_store()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same test on SQLite and on a real PostgreSQL server (skipped locally without one)."""
    if request.param == "sqlite":
        yield open_store(f"sqlite:///{tmp_path / 'caseline.db'}")
    else:
        yield from _pg_store()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's config or store by accident."""
    monkeypatch.delenv("CASELINE_CONFIG", raising=False)
    monkeypatch.delenv("CASELINE_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
