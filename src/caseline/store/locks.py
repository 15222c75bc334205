"""The scheduled job's lock: one `caseline run` per store, on SQLite and PostgreSQL alike.

A `job_lock` row names the holder and carries a heartbeat. Taking it is one conditional statement:
insert the row, or take over a row whose heartbeat is older than `stale_after` (its holder died
without releasing it). On PostgreSQL a session advisory lock is taken first as well: the server frees
it the moment the holder's connection dies, so a crashed run's successor does not wait for staleness.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, text, update

from caseline.errors import LockHeld
from caseline.store.repo import Store
from caseline.store.rows import JobLockRow
from caseline.timeparse import format_utc, utc_now

__all__ = ["JobLock", "new_holder"]

_LOCK = JobLockRow.__table__  # type: ignore[attr-defined]
_ADVISORY_CLASS = 0x6361_736C  # "casl": the first key of pg_try_advisory_lock(int, int)


def new_holder() -> str:
    """host:pid:random, so a restarted process on the same host is a different holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobLock:
    """`acquire()` or raise LockHeld; `heartbeat()` while working; `release()` when done."""

    def __init__(self, store: Store, *, name: str = "caseline.run", holder: str | None = None,
                 stale_after: timedelta) -> None:
        self.store = store
        self.name = name
        self.holder = holder or new_holder()
        self.stale_after = stale_after
        self._advisory: Connection | None = None

    def __repr__(self) -> str:
        return f"JobLock(name={self.name!r}, holder={self.holder!r})"

    def __enter__(self) -> JobLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ---- acquire / release -----------------------------------------------------------------------
    def acquire(self, now: datetime | None = None) -> None:
        at = now or utc_now()
        advisory = self.store.dialect == "postgresql"
        if advisory and not self._take_advisory():
            raise LockHeld(self._held_message(at, advisory=True))
        try:
            self._take_row(at, force=advisory)
        except BaseException:
            self._drop_advisory()
            raise

    def _take_row(self, at: datetime, *, force: bool) -> None:
        row = {"name": self.name, "holder": self.holder, "acquired_at": at, "heartbeat_at": at}
        with self.store.transaction() as conn:
            insert = self.store._insert(_LOCK).values(**row).on_conflict_do_nothing(index_elements=["name"])
            if conn.execute(insert.returning(_LOCK.c.name)).first() is not None:
                return
            stmt = update(_LOCK).where(_LOCK.c.name == self.name)
            if not force:  # with the advisory lock held, no live run can own the row
                stmt = stmt.where(
                    (_LOCK.c.heartbeat_at < at - self.stale_after) | (_LOCK.c.holder == self.holder)
                )
            if conn.execute(stmt.values(holder=self.holder, acquired_at=at, heartbeat_at=at)).rowcount == 1:
                return
        raise LockHeld(self._held_message(at, advisory=False))

    def release(self) -> None:
        try:
            with self.store.transaction() as conn:
                conn.execute(delete(_LOCK).where(_LOCK.c.name == self.name, _LOCK.c.holder == self.holder))
        finally:
            self._drop_advisory()

    def heartbeat(self, now: datetime | None = None) -> bool:
        """Refresh the heartbeat; False when the lock was lost (taken over as stale by another run)."""
        with self.store.transaction() as conn:
            stmt = update(_LOCK).where(_LOCK.c.name == self.name, _LOCK.c.holder == self.holder)
            return conn.execute(stmt.values(heartbeat_at=now or utc_now())).rowcount == 1

    def current(self) -> dict[str, Any] | None:
        """The lock row as stored (holder, acquired_at, heartbeat_at), or None."""
        with self.store.engine.connect() as conn:
            row = conn.execute(select(_LOCK).where(_LOCK.c.name == self.name)).first()
        return dict(row._mapping) if row else None

    # ---- PostgreSQL advisory lock --------------------------------------------------------------------
    def _take_advisory(self) -> bool:
        # AUTOCOMMIT: the session lock outlives transactions, and no transaction idles open for hours
        conn = self.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(CAST(:cls AS integer), hashtext(current_schema() || ':' || :name))"),
                {"cls": _ADVISORY_CLASS, "name": self.name},
            ).scalar()
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._advisory = conn
        return True

    def _drop_advisory(self) -> None:
        conn, self._advisory = self._advisory, None
        if conn is None:
            return
        try:
            conn.execute(
                text("SELECT pg_advisory_unlock(CAST(:cls AS integer), hashtext(current_schema() || ':' || :name))"),
                {"cls": _ADVISORY_CLASS, "name": self.name},
            )
        finally:
            conn.close()

    def _held_message(self, at: datetime, *, advisory: bool) -> str:
        held = self.current()
        if held is None:
            who = "another process" if advisory else "another run"
            return f"another `caseline run` works on this store ({who} holds its lock)"
        beat = held["heartbeat_at"]
        ago = int((at - beat).total_seconds()) if isinstance(beat, datetime) else None
        when = f"last heartbeat {format_utc(beat)}" + (f", {ago}s ago" if ago is not None else "")
        return f"another `caseline run` works on this store (holder {held['holder']}, {when})"
