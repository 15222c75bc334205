"""Persistence: evidence, activities, accounts, cursors, incidents, decisions and alert state."""

from __future__ import annotations

import os

from caseline.store.db import make_engine, redact_url
from caseline.store.repo import SaveResult, Store

__all__ = ["SaveResult", "Store", "open_store", "redact_url"]


def open_store(url: str | None = None, *, create: bool = True) -> Store:
    """Open (and by default create) the store at `url`; `CASELINE_DB_URL` overrides the configured URL."""
    resolved = os.environ.get("CASELINE_DB_URL") or url or "sqlite:///caseline.db"
    store = Store(make_engine(resolved))
    if create:
        store.create_all()
    return store
