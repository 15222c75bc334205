"""Persistence: evidence, activities, accounts, cursors, incidents, decisions and alert state."""

from __future__ import annotations

import os

from sqlalchemy.exc import OperationalError

from caseline.errors import CaselineError
from caseline.store.db import make_engine, redact_url
from caseline.store.repo import SaveResult, Store

__all__ = ["SaveResult", "Store", "open_store", "redact_url"]


def open_store(url: str | None = None, *, create: bool = True) -> Store:
    """Open (and by default create) the store at `url`; `CASELINE_DB_URL` overrides the configured URL."""
    resolved = os.environ.get("CASELINE_DB_URL") or url or "sqlite:///caseline.db"
    store = Store(make_engine(resolved))
    if create:
        try:
            store.create_all()
        except OperationalError as exc:
            # A database that is down, unreachable or refuses the credentials: one line naming the store (its
            # password masked), not SQLAlchemy's multi-line "unexpected OperationalError".
            store.engine.dispose()
            reason = next((line.strip() for line in str(exc.orig or exc).splitlines() if line.strip()), "")
            raise CaselineError(f"store: cannot open {redact_url(resolved)}: {reason[:300]}") from None
    return store
