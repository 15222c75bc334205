"""Loading the working set: new and changed evidence, plus what is near it in time or linked to it.

Correlation reads plain columns into flat lists and numpy arrays indexed by position, never model
objects, and reads the JSON body only of items whose `match_text` must be (re)computed. A first run
over a large store streams rows in time order and normalizes them in batches on all cores, so a
million items stay within a few hundred megabytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Connection, Float, bindparam, case, cast, func, literal_column, select, update

from caseline.correlate.normalize import match_text
from caseline.store import Store
from caseline.store.rows import AliasRow, EvidenceRow, LinkRow

__all__ = ["Items", "epoch_expr", "load_working_set", "write_match_texts"]

_EV = EvidenceRow.__table__  # type: ignore[attr-defined]
_LINK = LinkRow.__table__  # type: ignore[attr-defined]
_ALIAS = AliasRow.__table__  # type: ignore[attr-defined]
_CHUNK = 500
_BATCH = 40_000  # items normalized per batch (bounded memory for bodies)
_PARALLEL_MIN = 20_000


def epoch_expr(store: Store) -> Any:
    """`created_at` as float epoch seconds, computed by the database (no per-row datetime objects)."""
    if store.dialect == "sqlite":
        return ((func.julianday(_EV.c.created_at) - 2440587.5) * 86400.0).label("epoch")
    return cast(func.extract("epoch", _EV.c.created_at), Float).label("epoch")


@dataclass
class Items:
    """The working set, column-wise and in time order. Position `i` is one evidence item."""

    ids: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    report: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    t: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    account: list[str | None] = field(default_factory=list)
    who: list[str | None] = field(default_factory=list)
    mt: list[str] = field(default_factory=list)
    changed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    fresh: list[int] = field(default_factory=list)
    """Items whose match text was computed in this run (reports' are stored)."""
    row_keys: list[int] = field(default_factory=list)
    """SQLite rowids (empty on PostgreSQL)."""
    links: list[tuple[int, int]] = field(default_factory=list)
    deleted_changed: dict[str, tuple[str | None, float, bool]] = field(default_factory=dict)
    """Changed items that are now deleted: id → (previously stored match text, time, is a report)."""
    max_seq: int = 0
    full: bool = False

    @property
    def n(self) -> int:
        return len(self.ids)

    def index(self) -> dict[str, int]:
        return {evidence_id: i for i, evidence_id in enumerate(self.ids)}


class _Builder:
    """Appends rows column by column, normalizing the ones that need it in batches."""

    def __init__(
        self, items: Items, watermark: int, bodies: Callable[[list[str]], dict[str, str | None]]
    ) -> None:
        self.items = items
        self.bodies = bodies
        self.watermark = watermark
        self.report: list[bool] = []
        self.t: list[float] = []
        self.changed: list[bool] = []
        self.strings: dict[str, str] = {}
        self.pending: list[tuple[int, str | None, str | None]] = []
        self.pool: ProcessPoolExecutor | None = None

    def _intern(self, value: str | None) -> str | None:
        if value is None:
            return None
        return self.strings.setdefault(value, value)

    def add(self, row: Any) -> None:
        items = self.items
        pos = len(items.ids)
        items.ids.append(row.id)
        items.source.append(self._intern(row.source) or "")
        self.report.append(bool(row.is_report))
        self.t.append(float(row.epoch))
        account = self._intern(row.account)
        items.account.append(account)
        email = (row.author_email or "").strip().lower() or None
        items.who.append(self._intern(f"account:{account}" if account else f"person:{email}" if email else None))
        changed = self.watermark <= 0 or int(row.seq) > self.watermark
        self.changed.append(changed)
        items.max_seq = max(items.max_seq, int(row.seq))
        items.mt.append(row.match_text or "")
        row_key = getattr(row, "row_key", None)
        if row_key is not None:
            items.row_keys.append(int(row_key))
        if row.match_text is None or (changed and self.watermark > 0):
            self.pending.append((pos, row.title, getattr(row, "body", None)))
            if len(self.pending) >= _BATCH:
                self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        missing = [p for p, _, body in batch if body is None]
        bodies = self.bodies([self.items.ids[p] for p in missing]) if missing else {}
        pairs = [(title, body if body is not None else bodies.get(self.items.ids[p])) for p, title, body in batch]
        texts = self._normalize(pairs)
        for (pos, _, _), text in zip(batch, texts, strict=True):
            self.items.mt[pos] = text
            self.items.fresh.append(pos)

    def _normalize(self, pairs: list[tuple[str | None, str | None]]) -> list[str]:
        cores = os.cpu_count() or 1
        if len(pairs) < _PARALLEL_MIN or cores < 2:
            return [match_text(a, b) for a, b in pairs]
        if self.pool is None:
            self.pool = ProcessPoolExecutor(max_workers=cores)
        size = -(-len(pairs) // cores)
        out: list[str] = []
        for part in self.pool.map(_normalize_batch, [pairs[i : i + size] for i in range(0, len(pairs), size)]):
            out.extend(part)
        return out

    def finish(self) -> None:
        self.flush()
        if self.pool is not None:
            self.pool.shutdown()
        items = self.items
        items.report = np.asarray(self.report, dtype=bool)
        items.t = np.asarray(self.t, dtype=np.float64)
        items.changed = np.asarray(self.changed, dtype=bool)
        items.fresh.sort()


def _normalize_batch(pairs: list[tuple[str | None, str | None]]) -> list[str]:
    return [match_text(a, b) for a, b in pairs]


_COLUMNS = (
    _EV.c.id,
    _EV.c.source,
    _EV.c.is_report,
    _EV.c.deleted,
    _EV.c.account,
    _EV.c.author_email,
    _EV.c.title,
    _EV.c.match_text,
    _EV.c.seq,
)


def _select(store: Store, *, with_body: bool = False) -> Any:
    cols = [*_COLUMNS, epoch_expr(store)]
    if store.dialect == "sqlite":
        cols.append(literal_column("evidence.rowid").label("row_key"))  # updates by rowid are the cheapest
    if with_body:
        body = _EV.c.doc["body"].as_string()
        cols.append(case((_EV.c.match_text.is_(None), body), else_=None).label("body"))
    return select(*cols)


def load_working_set(store: Store, *, watermark: int, window: timedelta) -> Items:
    """Everything a run must look at: changed items (seq > watermark), their time neighbours within
    `window`, and items linked to or from them. A zero watermark means the whole store."""
    items = Items(full=watermark <= 0)
    with store.engine.connect() as conn:
        builder = _Builder(items, watermark, lambda ids: _bodies(conn, ids))
        if watermark <= 0:
            stmt = _select(store, with_body=True).where(_EV.c.deleted.is_(False)).order_by(_EV.c.created_at, _EV.c.id)
            for row in _stream(conn, stmt):
                builder.add(row)
            for row in conn.execute(_select(store).where(_EV.c.deleted.is_(True))):
                items.deleted_changed[row.id] = (row.match_text, float(row.epoch), bool(row.is_report))
                items.max_seq = max(items.max_seq, int(row.seq))
        else:
            for row in sorted(_incremental_rows(store, conn, items, watermark, window), key=lambda r: (r.epoch, r.id)):
                builder.add(row)
        builder.finish()
        items.links = _links_among(conn, items, full=watermark <= 0)
    return items


def _incremental_rows(
    store: Store, conn: Connection, items: Items, watermark: int, window: timedelta
) -> list[Any]:
    rows: dict[str, Any] = {}
    w = window.total_seconds()
    spans: list[tuple[float, float]] = []
    changed_ids: list[str] = []
    for row in conn.execute(_select(store).where(_EV.c.seq > watermark)):
        items.max_seq = max(items.max_seq, int(row.seq))
        if row.deleted:
            items.deleted_changed[row.id] = (row.match_text, float(row.epoch), bool(row.is_report))
            continue
        rows[row.id] = row
        changed_ids.append(row.id)
        spans.append((row.epoch - w, row.epoch + w))
    for lo, hi in _merge_spans(spans):
        stmt = _select(store).where(
            _EV.c.deleted.is_(False), _EV.c.created_at >= _from_epoch(lo - 1), _EV.c.created_at <= _from_epoch(hi + 1)
        )
        for row in conn.execute(stmt):
            rows.setdefault(row.id, row)
    # items linked to or from a changed item join the working set wherever they are in time
    missing = [i for i in _linked_ids(conn, changed_ids) if i not in rows]
    for chunk in _chunks(missing):
        for row in conn.execute(_select(store).where(_EV.c.id.in_(chunk), _EV.c.deleted.is_(False))):
            rows[row.id] = row
    return list(rows.values())


def _stream(conn: Connection, stmt: Any) -> Iterator[Any]:
    result = conn.execution_options(stream_results=True, yield_per=10_000).execute(stmt)
    yield from result


def _bodies(conn: Connection, ids: Sequence[str]) -> dict[str, str | None]:
    body = _EV.c.doc["body"].as_string()
    out: dict[str, str | None] = {}
    for chunk in _chunks(list(ids)):
        for row in conn.execute(select(_EV.c.id, body.label("body")).where(_EV.c.id.in_(chunk))):
            out[row.id] = row.body
    return out


def write_match_texts(store: Store, conn: Connection, items: Items) -> None:
    """Store the match texts of reports computed this run (what later runs read back for the background
    rate; context is cheap to recompute when it is needed); deleted items lose theirs."""
    fresh = [i for i in items.fresh if items.report[i]]
    if store.dialect == "sqlite" and len(items.row_keys) == items.n:
        raw = conn.connection.driver_connection
        assert raw is not None
        by_row = sorted((items.row_keys[i], items.mt[i]) for i in fresh)
        raw.executemany("UPDATE evidence SET match_text = ? WHERE rowid = ?", [(m, k) for k, m in by_row])
        raw.executemany("UPDATE evidence SET match_text = NULL WHERE id = ?", [(e,) for e in items.deleted_changed])
        return
    params: list[tuple[str | None, str]] = [(items.mt[i], items.ids[i]) for i in fresh]
    params += [(None, evidence_id) for evidence_id in items.deleted_changed]
    if not params:
        return
    stmt = update(_EV).where(_EV.c.id == bindparam("b_id")).values(match_text=bindparam("b_mt"))
    for start in range(0, len(params), 5000):
        conn.execute(stmt, [{"b_mt": m, "b_id": i} for m, i in params[start : start + 5000]])


def _links_among(conn: Connection, items: Items, *, full: bool) -> list[tuple[int, int]]:
    """Explicit links between working-set items, as index pairs (targets resolved through aliases)."""
    index = items.index()
    aliases: dict[str, str] = {r[0]: r[1] for r in conn.execute(select(_ALIAS.c.alias_id, _ALIAS.c.evidence_id))}
    pairs: set[tuple[int, int]] = set()

    def add(src: str, target: str) -> None:
        a = index.get(src)
        b = index.get(aliases.get(target, target))
        if a is not None and b is not None and a != b:
            pairs.add((a, b) if a < b else (b, a))

    if full:
        for row in conn.execute(select(_LINK.c.src_id, _LINK.c.target)):
            add(row.src_id, row.target)
    else:
        for chunk in _chunks(items.ids):
            for row in conn.execute(select(_LINK.c.src_id, _LINK.c.target).where(_LINK.c.src_id.in_(chunk))):
                add(row.src_id, row.target)
    return sorted(pairs)


def _linked_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Ids that link to, or are linked from, any of `ids` (through aliases both ways)."""
    found: set[str] = set()
    if not ids:
        return found
    aliases: dict[str, str] = {r[0]: r[1] for r in conn.execute(select(_ALIAS.c.alias_id, _ALIAS.c.evidence_id))}
    known_as: dict[str, list[str]] = {}
    for alias, canonical in aliases.items():
        known_as.setdefault(canonical, []).append(alias)
    targets = list({name for i in ids for name in [i, *known_as.get(i, [])]})
    for chunk in _chunks(list(ids)):
        for row in conn.execute(select(_LINK.c.target).where(_LINK.c.src_id.in_(chunk))):
            found.add(aliases.get(row.target, row.target))
    for chunk in _chunks(targets):
        for row in conn.execute(select(_LINK.c.src_id).where(_LINK.c.target.in_(chunk))):
            found.add(row.src_id)
    return found - set(ids)


def _merge_spans(spans: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _from_epoch(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
