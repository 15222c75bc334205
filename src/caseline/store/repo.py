"""The store: idempotent, batched upserts by id; a page and its cursor land in one transaction.

Every write path validates through the evidence model first (callers pass `Evidence`/`Account`, never
dicts). A stale copy (older `updated_at`) never overwrites a newer one, and an identical re-delivery
(same content digest) changes nothing, so replays after a crash and overlapping sync windows are free.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Connection, delete, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from caseline.evidence import Account, Evidence
from caseline.store.convert import activity_rows, content_hash, evidence_row, to_evidence
from caseline.store.rows import (
    AccountRow,
    ActivityRow,
    AliasRow,
    EvidenceRow,
    LinkRow,
    MetaRow,
    QuarantineRow,
    SyncCursorRow,
)
from caseline.timeparse import utc_now

__all__ = ["SaveResult", "Store"]

_CHUNK = 500
_DDL_LOCK_KEY = 0x63617365  # "case": the advisory lock that serializes create_all on PostgreSQL
_EV = EvidenceRow.__table__  # type: ignore[attr-defined]
_ACT = ActivityRow.__table__  # type: ignore[attr-defined]
_LINK = LinkRow.__table__  # type: ignore[attr-defined]
_ALIAS = AliasRow.__table__  # type: ignore[attr-defined]
_ACC = AccountRow.__table__  # type: ignore[attr-defined]
_CUR = SyncCursorRow.__table__  # type: ignore[attr-defined]
_META = MetaRow.__table__  # type: ignore[attr-defined]
_QUAR = QuarantineRow.__table__  # type: ignore[attr-defined]


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# Code points no database here can hold: NUL (PostgreSQL text refuses it) and lone surrogates (not UTF-8:
# sqlite3 and psycopg cannot encode them). One such character anywhere in an item (a title, a comment, the
# raw payload) used to fail the whole page's transaction on every rerun, stopping that source for good.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(item: BaseModel) -> bool:
    """Whether a model holds a NUL or a lone surrogate anywhere (pydantic's JSON encoder checks in one pass)."""
    try:
        return "\\u0000" in item.model_dump_json()
    except ValueError:  # PydanticSerializationError: a lone surrogate cannot be encoded as UTF-8
        return True


def _storable(value: Any) -> Any:
    """`value` with NUL dropped and lone surrogates replaced by U+FFFD in every string; the rest unchanged."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", value)
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


M = TypeVar("M", Evidence, Account)


def _storable_model(item: M) -> M:
    """The item as the store can hold it: stored with what it has, never failing the page it came in."""
    return type(item).model_validate(_storable(item.model_dump())) if _unstorable(item) else item


class SaveResult(int):
    """How many items a save changed (an int), with the unchanged and stale counts beside it."""

    unchanged: int
    stale: int

    def __new__(cls, stored: int, *, unchanged: int = 0, stale: int = 0) -> SaveResult:
        obj = super().__new__(cls, stored)
        obj.unchanged = unchanged
        obj.stale = stale
        return obj


class Store:
    """All persistence goes through here; SQLite and PostgreSQL run the same code."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # One writer at a time inside a process keeps SQLite free of lock contention.
        self.write_lock = threading.RLock()

    # ---- schema and transactions -------------------------------------------------------------
    def create_all(self) -> None:
        """Create the missing tables; safe when several processes open a fresh store at the same moment.

        `create_all` checks "is the table there?" and then runs CREATE TABLE: two `caseline sync`s started
        together on an empty database both saw no table and the second died (PostgreSQL: UniqueViolation on
        pg_type; SQLite: "table … already exists"). PostgreSQL serializes the check and the DDL with a
        transaction-scoped advisory lock; SQLite retries, and the retry sees the tables the other one made.
        """
        if self.dialect == "postgresql":
            with self.engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK_KEY})
                SQLModel.metadata.create_all(conn)
            return
        for attempt in range(5):
            try:
                SQLModel.metadata.create_all(self.engine)
                return
            except OperationalError as exc:
                if "already exists" not in str(exc) or attempt == 4:
                    raise

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.write_lock, self.engine.begin() as conn:
            yield conn

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    def _upsert(self, conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str]) -> None:
        """Insert-or-update by primary key; one compiled statement, executed over all rows at once."""
        if not rows:
            return
        stmt = self._insert(table)
        columns = {c: getattr(stmt.excluded, c) for c in rows[0] if c not in keys}
        stmt = (
            stmt.on_conflict_do_update(index_elements=keys, set_=columns)
            if columns
            else stmt.on_conflict_do_nothing(index_elements=keys)
        )
        for chunk in _chunks(rows, 1000):
            conn.execute(stmt, list(chunk))

    def _lock_writers(self, conn: Connection) -> None:
        """Take the store-wide write lock for the rest of this transaction, before reading what a write decides on.

        `_upsert_evidence` reads the stored versions (stale check, digest, moved ids) and `_upsert_accounts`
        the stored accounts (merge) before writing. Between processes (two `caseline sync`s on one store) that
        read used to happen before any lock, so both read the old row and the later commit overwrote a newer
        copy with an older one (a lost update; the test saw it on SQLite and PostgreSQL). Locking the
        change-sequence row first (a no-op update: a row lock on PostgreSQL, the write lock on SQLite) makes
        read-decide-write atomic; `next_seq` later bumps the same row inside the same transaction.
        """
        seed = self._insert(_META).values(key="evidence_seq", value=0)
        conn.execute(seed.on_conflict_do_nothing(index_elements=["key"]))
        conn.execute(update(_META).where(_META.c.key == "evidence_seq").values(value=_META.c.value))

    def next_seq(self, conn: Connection, key: str = "evidence_seq") -> int:
        """Bump and return a counter inside the caller's transaction (this serializes writers)."""
        conn.execute(self._insert(_META).values(key=key, value=0).on_conflict_do_nothing(index_elements=["key"]))
        conn.execute(update(_META).where(_META.c.key == key).values(value=_META.c.value + 1))
        return int(conn.execute(select(_META.c.value).where(_META.c.key == key)).scalar_one())

    def get_meta(self, key: str) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(select(_META.c.value).where(_META.c.key == key)).scalar()
        return int(value or 0)

    def set_meta(self, key: str, value: int, conn: Connection | None = None) -> None:
        if conn is None:
            with self.transaction() as own:
                self._upsert(own, _META, [{"key": key, "value": value}], ["key"])
        else:
            self._upsert(conn, _META, [{"key": key, "value": value}], ["key"])

    # ---- writes ----------------------------------------------------------------------------------
    def save_page(
        self,
        *,
        source: str,
        stream: str,
        items: Sequence[Evidence | Account],
        cursor: dict[str, Any] | None,
    ) -> SaveResult:
        """Store a page of items and the cursor that covers it in ONE transaction."""
        evidence = [i for i in items if isinstance(i, Evidence)]
        accounts = [i for i in items if isinstance(i, Account)]
        with self.transaction() as conn:
            result = self._upsert_evidence(conn, evidence)
            self._upsert_accounts(conn, accounts)
            if cursor is not None:
                self._set_cursor(conn, source, stream, cursor)
        return result

    def upsert_evidence(self, items: Sequence[Evidence]) -> SaveResult:
        with self.transaction() as conn:
            return self._upsert_evidence(conn, items)

    def upsert_accounts(self, accounts: Sequence[Account]) -> None:
        with self.transaction() as conn:
            self._upsert_accounts(conn, accounts)

    def _upsert_evidence(self, conn: Connection, items: Sequence[Evidence]) -> SaveResult:
        if not items:
            return SaveResult(0)
        self._lock_writers(conn)  # before the reads below (see `_lock_writers`)
        items = [_storable_model(i) for i in items]
        latest: dict[str, Evidence] = {}
        for item in items:  # a page may repeat an item (export boundaries): keep the newest copy
            held = latest.get(item.id)
            if held is None or item.updated_at >= held.updated_at:
                latest[item.id] = item
        batch = self._keep_moved_ids(conn, list(latest.values()))
        ids = [i.id for i in batch]
        existing: dict[str, tuple[datetime, bool, str]] = {}
        for chunk in _chunks(ids):
            for row in conn.execute(
                select(_EV.c.id, _EV.c.updated_at, _EV.c.deleted, _EV.c.content_hash).where(_EV.c.id.in_(chunk))
            ):
                existing[row.id] = (_aware(row.updated_at), bool(row.deleted), row.content_hash)
        changed: list[tuple[Evidence, str]] = []
        unchanged = stale = 0
        for item in batch:
            digest = content_hash(item)
            held_state = existing.get(item.id)
            if held_state is not None:
                held_updated, held_deleted, held_digest = held_state
                if held_digest == digest:
                    unchanged += 1
                    continue
                if item.updated_at < held_updated and not (item.deleted and not held_deleted):
                    stale += 1
                    continue
            changed.append((item, digest))
        if not changed:
            return SaveResult(0, unchanged=unchanged, stale=stale)
        seq = self.next_seq(conn)
        changed_ids = [item.id for item, _ in changed]
        self._upsert(conn, _EV, [evidence_row(i, seq=seq, digest=d) for i, d in changed], ["id"])
        for chunk in _chunks(changed_ids):
            conn.execute(delete(_ACT).where(_ACT.c.evidence_id.in_(chunk)))
            conn.execute(delete(_LINK).where(_LINK.c.src_id.in_(chunk)))
        acts = [row for item, _ in changed for row in activity_rows(item)]
        for chunk in _chunks(acts):
            conn.execute(_ACT.insert(), list(chunk))
        links = [{"src_id": i.id, "target": t} for i, _ in changed for t in dict.fromkeys(i.links) if t != i.id]
        for chunk in _chunks(links):
            conn.execute(_LINK.insert(), list(chunk))
        aliases = [{"alias_id": a, "evidence_id": i.id} for i, _ in changed for a in i.aliases if a != i.id]
        self._upsert(conn, _ALIAS, aliases, ["alias_id"])
        return SaveResult(len(changed), unchanged=unchanged, stale=stale)

    def _keep_moved_ids(self, conn: Connection, batch: list[Evidence]) -> list[Evidence]:
        """A moved Jira/Linear issue keeps the id it was first seen with; its new key becomes an alias."""
        keyed = [i for i in batch if i.vendor_id]
        if not keyed:
            return batch
        known: dict[tuple[str, str], str] = {}
        for source in {i.source for i in keyed}:
            vendor_ids = [i.vendor_id for i in keyed if i.source == source]
            for chunk in _chunks(vendor_ids):
                for row in conn.execute(
                    select(_EV.c.id, _EV.c.vendor_id).where(_EV.c.source == source, _EV.c.vendor_id.in_(chunk))
                ):
                    known[(source, row.vendor_id)] = row.id
        out: list[Evidence] = []
        for item in batch:
            first_id = known.get((item.source, item.vendor_id or ""))
            if first_id and first_id != item.id:
                first = first_id.split(":", 2)
                item = item.model_copy(
                    update={
                        "id": first_id,
                        "native_id": first[2],
                        "aliases": sorted(set(item.aliases) | {item.id}),
                    }
                )
            out.append(item)
        return out

    def _upsert_accounts(self, conn: Connection, accounts: Sequence[Account]) -> None:
        if not accounts:
            return
        self._lock_writers(conn)  # the merge below reads the stored accounts
        merged: dict[str, Account] = {}
        for account in map(_storable_model, accounts):
            merged[account.key] = merged[account.key].merged(account) if account.key in merged else account
        keys = list(merged)
        for chunk in _chunks(keys):
            for row in conn.execute(select(_ACC).where(_ACC.c.key.in_(chunk))):
                held = _account_from_row(row._mapping)
                merged[held.key] = held.merged(merged[held.key])
        self._upsert(conn, _ACC, [a.model_dump() for a in merged.values()], ["key"])

    def _set_cursor(self, conn: Connection, source: str, stream: str, value: dict[str, Any]) -> None:
        row = {"source": source, "stream": stream, "value": value, "updated_at": utc_now()}
        self._upsert(conn, _CUR, [row], ["source", "stream"])

    def set_cursor(self, source: str, stream: str, value: dict[str, Any]) -> None:
        with self.transaction() as conn:
            self._set_cursor(conn, source, stream, value)

    def get_cursor(self, source: str, stream: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(_CUR.c.value).where(_CUR.c.source == source, _CUR.c.stream == stream)
            ).scalar()
        return dict(value) if value is not None else None

    def cursors(self, source: str) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(_CUR.c.stream, _CUR.c.value).where(_CUR.c.source == source))
            return {r.stream: dict(r.value) for r in rows}

    def quarantine(self, *, source: str, stream: str, reason: str, raw: Any) -> None:
        safe_raw = _storable(raw if isinstance(raw, dict) else {"value": repr(raw)[:2000]})
        with self.transaction() as conn:
            conn.execute(
                _QUAR.insert(), [{"source": source, "stream": stream, "reason": _storable(reason[:500]),
                                  "raw": safe_raw, "at": utc_now()}]
            )

    def quarantined(self, source: str | None = None) -> list[dict[str, Any]]:
        stmt = select(_QUAR.c.source, _QUAR.c.stream, _QUAR.c.reason, _QUAR.c.at).order_by(_QUAR.c.id)
        if source:
            stmt = stmt.where(_QUAR.c.source == source)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def set_accounts(self, assignments: dict[str, str | None]) -> int:
        """Record resolved account keys for evidence ids (account resolution runs after each sync)."""
        if not assignments:
            return 0
        with self.transaction() as conn:
            seq = self.next_seq(conn)
            by_key: dict[str | None, list[str]] = {}
            for evidence_id, key in assignments.items():
                by_key.setdefault(key, []).append(evidence_id)
            for key, ids in by_key.items():
                for chunk in _chunks(ids):
                    conn.execute(update(_EV).where(_EV.c.id.in_(chunk)).values(account=key, seq=seq))
                    # keep the JSON document in step with the column (the model is the source of truth)
                    for row in conn.execute(select(_EV.c.id, _EV.c.doc).where(_EV.c.id.in_(chunk))):
                        doc = dict(row.doc)
                        doc["account"] = key
                        conn.execute(update(_EV).where(_EV.c.id == row.id).values(doc=doc))
        return len(assignments)

    # ---- reads -----------------------------------------------------------------------------------
    def resolve_id(self, evidence_id: str) -> str:
        """The canonical evidence id for an id or alias (a moved issue's new key)."""
        with self.engine.connect() as conn:
            target = conn.execute(select(_ALIAS.c.evidence_id).where(_ALIAS.c.alias_id == evidence_id)).scalar()
        return str(target) if target else evidence_id

    def get_evidence(self, evidence_id: str) -> Evidence | None:
        found = self.get_many([self.resolve_id(evidence_id)])
        return found[0] if found else None

    def get_many(self, ids: Iterable[str], *, with_activities: bool = True) -> list[Evidence]:
        wanted = list(dict.fromkeys(ids))
        docs: dict[str, dict[str, Any]] = {}
        acts: dict[str, list[dict[str, Any]]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(wanted):
                for row in conn.execute(select(_EV.c.id, _EV.c.doc).where(_EV.c.id.in_(chunk))):
                    docs[row.id] = row.doc
                if with_activities:
                    stmt = select(_ACT.c.evidence_id, _ACT.c.doc).where(_ACT.c.evidence_id.in_(chunk))
                    for row in conn.execute(stmt.order_by(_ACT.c.evidence_id, _ACT.c.idx)):
                        acts.setdefault(row.evidence_id, []).append(row.doc)
        return [to_evidence(docs[i], acts.get(i)) for i in wanted if i in docs]

    def query_evidence(
        self,
        *,
        sources: Sequence[str] | None = None,
        since: datetime | None = None,
        query: str | None = None,
        include_deleted: bool = False,
        limit: int | None = None,
        with_activities: bool = False,
    ) -> list[Evidence]:
        """Stored evidence, newest first, filtered the way `caseline evidence` needs."""
        stmt = select(_EV.c.id)
        if sources:
            stmt = stmt.where(_EV.c.source.in_(list(sources)))
        if since is not None:
            stmt = stmt.where(or_(_EV.c.created_at >= since, _EV.c.updated_at >= since))
        if not include_deleted:
            stmt = stmt.where(_EV.c.deleted.is_(False))
        if query:
            for word in query.lower().split():
                stmt = stmt.where(_EV.c.search_text.contains(word, autoescape=True))
        stmt = stmt.order_by(_EV.c.created_at.desc(), _EV.c.id)
        if limit:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            ids = [r.id for r in conn.execute(stmt)]
        return self.get_many(ids, with_activities=with_activities)

    def count_evidence(self, *, include_deleted: bool = True) -> int:
        stmt = select(func.count()).select_from(_EV)
        if not include_deleted:
            stmt = stmt.where(_EV.c.deleted.is_(False))
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def links(self, ids: Iterable[str]) -> dict[str, list[str]]:
        """Outgoing links of each id (targets are evidence ids, canonicalized through aliases, or URLs)."""
        wanted = list(dict.fromkeys(ids))
        out: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            aliases: dict[str, str] = dict(conn.execute(select(_ALIAS.c.alias_id, _ALIAS.c.evidence_id)).all())
            for chunk in _chunks(wanted):
                for row in conn.execute(select(_LINK.c.src_id, _LINK.c.target).where(_LINK.c.src_id.in_(chunk))):
                    out.setdefault(row.src_id, []).append(aliases.get(row.target, row.target))
        return out

    def all_links(self) -> list[tuple[str, str]]:
        """Every (source id, target) link, targets canonicalized through aliases."""
        with self.engine.connect() as conn:
            aliases: dict[str, str] = dict(conn.execute(select(_ALIAS.c.alias_id, _ALIAS.c.evidence_id)).all())
            return [(r.src_id, aliases.get(r.target, r.target)) for r in conn.execute(select(_LINK))]

    def accounts(self) -> list[Account]:
        with self.engine.connect() as conn:
            return [_account_from_row(r._mapping) for r in conn.execute(select(_ACC).order_by(_ACC.c.key))]

    def account_inputs(self) -> list[tuple[str, str, str | None, str | None, str | None]]:
        """(id, source, account, account_ref, author_email) of every item: what account resolution reads."""
        columns = (_EV.c.id, _EV.c.source, _EV.c.account, _EV.c.account_ref, _EV.c.author_email)
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(select(*columns))]

    def account(self, key: str) -> Account | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_ACC).where(_ACC.c.key == key)).first()
        return _account_from_row(row._mapping) if row else None


def _aware(value: datetime) -> datetime:
    from caseline.timeparse import to_utc

    return to_utc(value)


def _account_from_row(row: Any) -> Account:
    return Account(
        key=row["key"],
        name=row["name"],
        plan=row["plan"],
        arr=row["arr"],
        domains=list(row["domains"] or []),
        external_ids=list(row["external_ids"] or []),
    )
