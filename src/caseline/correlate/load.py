"""Loading the working set: new and changed evidence, plus what is near it in time or linked to it.

Correlation reads plain columns into flat lists and numpy arrays indexed by position, never model
objects, and reads the JSON body only of items whose `match_text` must be (re)computed. A first run
over a large store streams rows in storage order (a sequential scan: reading through the time index
costs a seek per row) and sorts them by time in memory; batches of texts are normalized in worker
processes while the next rows are read, so a million items load in seconds within a few hundred
megabytes.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
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
    seq: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """The change sequence each item was read at (a match text is written back only for that version)."""
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


class _Builder:
    """Appends rows column by column, a batch at a time, normalizing the ones that need it in worker
    processes while the next rows are read (reading and normalizing overlap)."""

    def __init__(
        self, items: Items, watermark: int, bodies: Callable[[list[str]], dict[str, str | None]]
    ) -> None:
        self.items = items
        self.bodies = bodies
        self.watermark = watermark
        self.report: list[bool] = []
        self.t: list[float] = []
        self.changed: list[bool] = []
        self.seq: list[int] = []
        self.strings: dict[str, str] = {}
        self.pending: list[tuple[int, str | None, str | None]] = []
        self.pool: ProcessPoolExecutor | None = None
        self.cores = os.cpu_count() or 1
        self.in_flight: deque[tuple[list[int], Future[list[str]]]] = deque()

    def add_many(self, rows: Sequence[Any], keys: Sequence[str]) -> None:
        """Rows whose columns `keys` names, read column-wise (a million attribute lookups on row objects
        cost seconds)."""
        if not rows:
            return
        items = self.items
        at = {k: n for n, k in enumerate(keys)}
        columns = list(zip(*rows, strict=True))

        def col(name: str) -> Sequence[Any]:
            return columns[at[name]]

        first = len(items.ids)
        intern = self.strings.setdefault
        ids = col("id")
        items.ids.extend(ids)
        items.source.extend(intern(s or "", s or "") for s in col("source"))
        self.report.extend(bool(r) for r in col("is_report"))
        self.t.extend(float(e) for e in col("epoch"))
        accounts = [None if a is None else intern(a, a) for a in col("account")]
        items.account.extend(accounts)
        who = (
            f"account:{a}" if a else (f"person:{e.strip().lower()}" if e and e.strip() else None)
            for a, e in zip(accounts, col("author_email"), strict=True)
        )
        items.who.extend(None if w is None else intern(w, w) for w in who)
        seqs = col("seq")
        fresh_run = self.watermark <= 0
        changed = [True] * len(rows) if fresh_run else [int(q) > self.watermark for q in seqs]
        self.changed.extend(changed)
        self.seq.extend(int(q) for q in seqs)
        items.max_seq = max(items.max_seq, max(self.seq[first:]))
        mts = col("match_text")
        items.mt.extend(m or "" for m in mts)
        if "row_key" in at:
            items.row_keys.extend(int(k) for k in col("row_key"))
        titles = col("title")
        bodies = col("body") if "body" in at else [None] * len(rows)
        for k, (mt, is_changed) in enumerate(zip(mts, changed, strict=True)):
            if mt is None or (is_changed and not fresh_run):
                self.pending.append((first + k, titles[k], bodies[k]))
        if len(self.pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        missing = [p for p, _, body in batch if body is None]
        bodies = self.bodies([self.items.ids[p] for p in missing]) if missing else {}
        pairs = [(title, body if body is not None else bodies.get(self.items.ids[p])) for p, title, body in batch]
        positions = [p for p, _, _ in batch]
        if len(pairs) < _PARALLEL_MIN or self.cores < 2:
            self._apply(positions, [match_text(a, b) for a, b in pairs])
            return
        if self.pool is None:
            self.pool = ProcessPoolExecutor(max_workers=self.cores)
        size = -(-len(pairs) // self.cores)
        for lo in range(0, len(pairs), size):
            part = self.pool.submit(_normalize_batch, pairs[lo : lo + size])
            self.in_flight.append((positions[lo : lo + size], part))
        while len(self.in_flight) > 2 * self.cores:  # bounded: bodies waiting in the queue cost memory
            self._collect()

    def _collect(self) -> None:
        positions, future = self.in_flight.popleft()
        self._apply(positions, future.result())

    def _apply(self, positions: list[int], texts: list[str]) -> None:
        mt = self.items.mt
        for pos, text in zip(positions, texts, strict=True):
            mt[pos] = text
        self.items.fresh.extend(positions)

    def finish(self) -> None:
        self.flush()
        while self.in_flight:
            self._collect()
        if self.pool is not None:
            self.pool.shutdown()
        items = self.items
        items.report = np.asarray(self.report, dtype=bool)
        items.t = np.asarray(self.t, dtype=np.float64)
        items.changed = np.asarray(self.changed, dtype=bool)
        items.seq = np.asarray(self.seq, dtype=np.int64)
        order = _time_order(items.t, items.ids)
        if not bool((order == np.arange(len(order))).all()):
            _reorder(items, order)
        items.fresh.sort()


def _time_order(t: np.ndarray, ids: Sequence[str]) -> np.ndarray:
    """Positions by (time, id): numpy sorts the times, ties (rare) are put in id order in Python."""
    order = np.argsort(t, kind="stable")
    ts = t[order]
    tied = np.flatnonzero(ts[1:] == ts[:-1])
    if len(tied):
        run_starts = tied[np.r_[True, tied[1:] != tied[:-1] + 1]]
        for first in run_starts.tolist():
            last = first + 1
            while last + 1 < len(ts) and ts[last + 1] == ts[first]:
                last += 1
            order[first : last + 1] = sorted(order[first : last + 1].tolist(), key=lambda k: ids[k])
    return order


def _reorder(items: Items, order: np.ndarray) -> None:
    """Put every column of `items` into `order` (positions in `fresh` follow their items)."""
    picks = order.tolist()
    items.ids = [items.ids[k] for k in picks]
    items.source = [items.source[k] for k in picks]
    items.account = [items.account[k] for k in picks]
    items.who = [items.who[k] for k in picks]
    items.mt = [items.mt[k] for k in picks]
    if items.row_keys:
        items.row_keys = [items.row_keys[k] for k in picks]
    items.report, items.t, items.changed, items.seq = (
        items.report[order], items.t[order], items.changed[order], items.seq[order])
    new_position = np.empty(len(order), dtype=np.int64)
    new_position[order] = np.arange(len(order))
    items.fresh = new_position[np.asarray(items.fresh, dtype=np.int64)].tolist()


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
            # read in storage order (a sequential scan; the time index would seek once per row), sorted after
            stream = _stream_sqlite_all(conn) if store.dialect == "sqlite" else _stream(
                conn, _select(store, with_body=True).where(_EV.c.deleted.is_(False)))
            for keys, rows in stream:
                builder.add_many(rows, keys)
            for row in conn.execute(_select(store).where(_EV.c.deleted.is_(True))):
                items.deleted_changed[row.id] = (row.match_text, float(row.epoch), bool(row.is_report))
                items.max_seq = max(items.max_seq, int(row.seq))
        else:
            rows = sorted(_incremental_rows(store, conn, items, watermark, window), key=lambda r: (r.epoch, r.id))
            if rows:
                builder.add_many(rows, list(rows[0]._fields))
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


def _stream(conn: Connection, stmt: Any) -> Iterator[tuple[list[str], Sequence[Any]]]:
    """(column names, rows) in batches of 10,000."""
    result = conn.execution_options(stream_results=True, yield_per=10_000).execute(stmt)
    keys = list(result.keys())
    for part in result.partitions():
        yield keys, part


_SQLITE_ALL = f"""
    SELECT {", ".join(c.name for c in _COLUMNS)}, (julianday(created_at) - 2440587.5) * 86400.0 AS epoch,
           rowid AS row_key, CASE WHEN match_text IS NULL THEN json_extract(doc, '$.body') END AS body
    FROM evidence WHERE deleted = 0
"""


def _stream_sqlite_all(conn: Connection) -> Iterator[tuple[list[str], Sequence[Any]]]:
    """`_select(with_body=True)` of every live item through the DB-API cursor: SQLAlchemy's per-row
    processing costs seconds over a million rows. Same columns, same values."""
    driver = conn.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        cursor.execute(_SQLITE_ALL)
        keys = [d[0] for d in cursor.description]
        while part := cursor.fetchmany(10_000):
            yield keys, part
    finally:
        cursor.close()


def _bodies(conn: Connection, ids: Sequence[str]) -> dict[str, str | None]:
    body = _EV.c.doc["body"].as_string()
    out: dict[str, str | None] = {}
    for chunk in _chunks(list(ids)):
        for row in conn.execute(select(_EV.c.id, body.label("body")).where(_EV.c.id.in_(chunk))):
            out[row.id] = row.body
    return out


def write_match_texts(store: Store, items: Items) -> None:
    """Store the match texts of reports computed this run (what later runs read back for the background
    rate; context is cheap to recompute when it is needed); deleted items lose theirs.

    Its own transaction, so it can run beside the rest of the run: a match text is a function of the
    item's content alone, and is written only where the item is still the version that was read (same
    `seq`); a newer version is a changed item, which the next run normalizes again anyway."""
    fresh = [i for i in items.fresh if items.report[i]]
    if not fresh and not items.deleted_changed:
        return
    with store.transaction() as conn:
        if store.dialect == "sqlite" and len(items.row_keys) == items.n:
            raw = conn.connection.driver_connection
            assert raw is not None
            by_row = sorted((items.row_keys[i], items.mt[i], int(items.seq[i])) for i in fresh)
            raw.executemany("UPDATE evidence SET match_text = ? WHERE rowid = ? AND seq = ?",
                            [(m, k, q) for k, m, q in by_row])
            raw.executemany("UPDATE evidence SET match_text = NULL WHERE id = ?",
                            [(e,) for e in items.deleted_changed])
            return
        stmt = update(_EV).where(_EV.c.id == bindparam("b_id"), _EV.c.seq == bindparam("b_seq")).values(
            match_text=bindparam("b_mt"))
        params = [{"b_mt": items.mt[i], "b_id": items.ids[i], "b_seq": int(items.seq[i])} for i in fresh]
        for start in range(0, len(params), 5000):
            conn.execute(stmt, params[start : start + 5000])
        forget = update(_EV).where(_EV.c.id == bindparam("b_id")).values(match_text=None)
        gone = [{"b_id": evidence_id} for evidence_id in items.deleted_changed]
        for start in range(0, len(gone), 5000):
            conn.execute(forget, gone[start : start + 5000])


def _links_among(conn: Connection, items: Items, *, full: bool) -> list[tuple[int, int]]:
    """Explicit links between working-set items, as index pairs (targets resolved through aliases)."""
    aliases: dict[str, str] = {r[0]: r[1] for r in conn.execute(select(_ALIAS.c.alias_id, _ALIAS.c.evidence_id))}
    found: list[tuple[str, str]] = []
    if full:
        found = [(row.src_id, aliases.get(row.target, row.target))
                 for row in conn.execute(select(_LINK.c.src_id, _LINK.c.target))]
    else:
        for chunk in _chunks(items.ids):
            for row in conn.execute(select(_LINK.c.src_id, _LINK.c.target).where(_LINK.c.src_id.in_(chunk))):
                found.append((row.src_id, aliases.get(row.target, row.target)))
    if not found:
        return []
    named = {name for pair in found for name in pair}
    index = {evidence_id: i for i, evidence_id in enumerate(items.ids) if evidence_id in named}  # not all million
    pairs: set[tuple[int, int]] = set()
    for src, target in found:
        a = index.get(src)
        b = index.get(target)
        if a is not None and b is not None and a != b:
            pairs.add((a, b) if a < b else (b, a))
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
