"""Correlation end to end: new and changed evidence → stored candidate incidents, incrementally.

A run

1. loads the working set (`load.py`): evidence changed since the watermark (`store_meta.correlate_seq`),
   everything within `window` of it in time, and everything linked to or from it;
2. scores pairs (`scoring.py`) and clusters them (`cluster.py`), starting from the stored incidents and
   obeying every responder decision;
3. turns groups into incidents: a group holding one or more existing incidents updates them (two or
   more are merged into the oldest, the others keep their row with `merged_into` set; ids are never
   reused); a group holding none becomes a new candidate incident only with `min_cluster_reports`
   reports from `min_cluster_accounts` distinct accounts, and only as a burst above its background
   (`baseline.py`);
4. takes deleted evidence out of its incident and recomputes every touched incident (`summary.py`);
5. writes incidents and the new watermark in one transaction, after checking that no other run or
   responder decision wrote in the meantime (else it starts over). The reports' match texts are written
   beside steps 2-4 in a transaction of their own (each only onto the version of the item it was
   computed from), so they cost no time of their own.

Stability: a run never splits an incident or renames one; items only join, and incidents only merge.
Empty incidents: when every member has been deleted, the incident row stays (alerts refer to its id, and
ids are never reused) without members or counts; a candidate becomes `dismissed`, while a confirmed or
resolved one keeps the status a person gave it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import func, select

from caseline.config import Settings
from caseline.config.models import CorrelateSettings
from caseline.correlate.baseline import Background, History, MemoryHistory, StoreHistory, day_of
from caseline.correlate.cluster import Constraints, cluster, members_by_label
from caseline.correlate.load import Items, load_working_set, write_match_texts
from caseline.correlate.normalize import Words, words_of
from caseline.correlate.scoring import Edges, ScoreParams, form_for, score_pairs
from caseline.correlate.summary import load_member_info, summarize
from caseline.errors import CaselineError
from caseline.incident import Incident, Member, Reason
from caseline.store import Store
from caseline.store.incidents import IncidentStore
from caseline.store.rows import EvidenceRow, IncidentRow, MetaRow
from caseline.timeparse import to_utc, utc_now

__all__ = ["EPOCH_KEY", "WATERMARK_KEY", "CorrelateResult", "correlate", "score_params", "survivors"]

log = logging.getLogger(__name__)

WATERMARK_KEY = "correlate_seq"
EPOCH_KEY = "correlate_epoch"
"""Bumped by every writer of incidents (runs and decisions): a run that sees it move starts over."""
_EVIDENCE_SEQ = "evidence_seq"
_INC = IncidentRow.__table__  # type: ignore[attr-defined]
_EV = EvidenceRow.__table__  # type: ignore[attr-defined]
_META = MetaRow.__table__  # type: ignore[attr-defined]
_MAX_LINK_REASONS = 5


@dataclass(frozen=True)
class CorrelateResult:
    scored: int = 0
    incidents_created: int = 0
    incidents_updated: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "scored": self.scored,
            "incidents_created": self.incidents_created,
            "incidents_updated": self.incidents_updated,
        }


class _Raced(Exception):
    """Someone else wrote incidents while this run computed: its view is stale."""


def score_params(cfg: CorrelateSettings) -> ScoreParams:
    return ScoreParams(
        window_s=cfg.window.total_seconds(),
        threshold=cfg.text_threshold,
        link_score=cfg.link_score,
        account_bonus=cfg.account_bonus,
        time_penalty=cfg.time_penalty,
        scorer=cfg.scorer,
    )


def correlate(store: Store, settings: Settings, *, now: datetime | None = None) -> CorrelateResult:
    """Cluster new and changed evidence into candidate incidents (the `caseline correlate` command)."""
    for _ in range(3):
        try:
            return _Run(store, settings, now or utc_now()).run()
        except _Raced:
            continue
    raise CaselineError("correlate: incidents kept changing during the run (another run or a decision); run it again")


def survivors(store: Store, ids: Sequence[str]) -> dict[str, str]:
    """Each incident id → the incident it now lives in (following `merged_into`); unknown ids map to themselves."""
    parent: dict[str, str | None] = {}
    frontier = set(ids)
    with store.engine.connect() as conn:
        while frontier:
            batch = list(frontier)
            frontier = set()
            for start in range(0, len(batch), 500):
                stmt = select(_INC.c.id, _INC.c.merged_into).where(_INC.c.id.in_(batch[start : start + 500]))
                for row in conn.execute(stmt):
                    parent[row.id] = row.merged_into
                    if row.merged_into and row.merged_into not in parent:
                        frontier.add(row.merged_into)
    out: dict[str, str] = {}
    for first in ids:
        current, seen = first, {first}
        while (nxt := parent.get(current)) and nxt not in seen:
            seen.add(nxt)
            current = nxt
        out[first] = current
    return out


class _Run:
    def __init__(self, store: Store, settings: Settings, now: datetime) -> None:
        self.store = store
        self.settings = settings
        self.cfg = settings.correlate
        self.params = score_params(settings.correlate)
        self.incidents = IncidentStore(store)
        self.now = now

    # ---- the run ---------------------------------------------------------------------------------
    def run(self) -> CorrelateResult:
        epoch = self.store.get_meta(EPOCH_KEY)
        watermark = self.store.get_meta(WATERMARK_KEY)
        high = self.store.get_meta(_EVIDENCE_SEQ)  # every write up to here is committed (seq order = commit order)
        if high <= watermark:
            return CorrelateResult()
        clock = _Clock()
        items = load_working_set(self.store, watermark=watermark, window=self.cfg.window)
        clock.lap(f"loaded {items.n} items ({len(items.fresh)} normalized)")
        membership = self.incidents.membership(None if items.full else [*items.ids, *items.deleted_changed])
        current = {i.id: i for i in self.incidents.many(sorted(set(membership.values())))}
        words = words_of(items.mt)
        edges = score_pairs(
            t=items.t, report=items.report, match=items.mt, accounts=items.account, links=items.links,
            params=self.params, words=words,
        )
        clock.lap(f"scored {edges.candidates} pairs: {len(edges)} edges")
        # match texts are written on a thread of their own while clustering and judging (pure Python,
        # one core) go on; it must be done before the run's own transaction below
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="caseline-match-texts") as beside:
            written = beside.submit(write_match_texts, self.store, items)
            rules = self._constraints(items, membership, current)
            labels = cluster(
                items.n, edges, t=items.t, report=items.report, window_s=self.params.window_s,
                min_density=self.cfg.min_density, linkage=self.cfg.linkage, constraints=rules,
                compared=self.params.neighbours,
            )
            clock.lap("clustered")
            plan = _Plan()
            self._apply_groups(items, words, edges, labels, membership, current, plan)
            clock.lap(f"judged groups: {len(plan.created)} new incidents")
            self._remove_deleted(items, membership, current, plan)
            self._touch_changed_members(items, membership, current, plan)
            touched = self._summaries(items, plan, current)
            clock.lap(f"summarized {len(touched)} incidents")
            written.result()
        clock.lap("match texts stored")
        with self.store.transaction() as conn:
            self.store.next_seq(conn, EPOCH_KEY)
            held: dict[str, int] = {
                r[0]: r[1] for r in conn.execute(
                    select(_META.c.key, _META.c.value).where(_META.c.key.in_([EPOCH_KEY, WATERMARK_KEY]))
                )
            }
            if int(held.get(EPOCH_KEY, 0)) != epoch + 1 or int(held.get(WATERMARK_KEY, 0)) != watermark:
                raise _Raced
            self.incidents.save(touched, conn)
            self.store.set_meta(WATERMARK_KEY, high, conn)
        clock.lap("stored")
        return CorrelateResult(
            scored=int(np.count_nonzero(items.changed)),
            incidents_created=len(plan.created),
            incidents_updated=len({i.id for i in touched} - plan.created),
        )

    # ---- decisions as constraints ------------------------------------------------------------------
    def _constraints(
        self, items: Items, membership: Mapping[str, str], current: Mapping[str, Incident]
    ) -> Constraints:
        decisions = self.incidents.decisions()
        if not membership and not decisions:
            return Constraints()
        wanted = set(membership) | {e for d in decisions for e in d["evidence_ids"] or []}
        index = {e: i for i, e in enumerate(items.ids) if e in wanted}
        named = sorted({d["incident_id"] for d in decisions} | {o for d in decisions for o in d["other_ids"] or []})
        alive = survivors(self.store, named) if named else {}
        apart: set[frozenset[str]] = set()
        banned: dict[int, set[str]] = {}
        for d in decisions:
            if d["action"] == "split":
                a = alive.get(d["incident_id"], d["incident_id"])
                for other in d["other_ids"] or []:
                    b = alive.get(other, other)
                    if a != b:
                        apart.add(frozenset((a, b)))
            elif d["action"] == "exclude":
                target = alive.get(d["incident_id"], d["incident_id"])
                for evidence_id in d["evidence_ids"] or []:
                    pos = index.get(evidence_id)
                    if pos is not None:
                        banned.setdefault(pos, set()).add(target)
        groups: dict[str, list[int]] = {}
        for evidence_id, incident_id in membership.items():
            pos = index.get(evidence_id)
            if pos is not None:
                groups.setdefault(incident_id, []).append(pos)
        dismissed = {i for i, inc in current.items() if inc.status == "dismissed"}
        return Constraints(groups=groups, dismissed=dismissed, apart=apart, banned=banned)

    # ---- groups → incidents ----------------------------------------------------------------------
    def _apply_groups(
        self,
        items: Items,
        words: Words,
        edges: Edges,
        labels: np.ndarray,
        membership: Mapping[str, str],
        current: Mapping[str, Incident],
        plan: _Plan,
    ) -> None:
        member_of = {i: membership[e] for i, e in enumerate(items.ids) if e in membership}
        groups = members_by_label(labels, min_size=2)  # an item alone changes nothing
        candidates: list[list[int]] = []
        for positions in groups.values():
            held = sorted({member_of[p] for p in positions if p in member_of},
                          key=lambda i: (current[i].created_at, i))
            free = [p for p in positions if p not in member_of]
            if held:
                survivor = held[0]
                for other in held[1:]:
                    plan.merge(current[other], into=current[survivor])
                if free:
                    plan.join(current[survivor], free)
            elif len(positions) > 1 and bool(items.changed[positions].any()) and self._big_enough(items, positions):
                candidates.append(positions)
        admitted: list[list[int]] = []
        if candidates:
            background = self._background(items, words, candidates)
            for positions in candidates:
                reps = [p for p in positions if items.report[p]]
                verdict = background.judge(
                    [items.mt[p] for p in reps],
                    words=_WordsOf(words, reps),
                    who=[items.who[p] for p in reps],
                    times=items.t[reps].tolist(),
                )
                if verdict.burst:
                    admitted.append(positions)
        if not admitted and not plan.joins:
            return
        need = np.zeros(items.n, dtype=bool)
        for positions in admitted:
            need[positions] = True
        for _, positions in plan.joins.values():
            need[positions] = True
        reasons = _reasons(items, edges, labels, need, self.params)
        for incident, positions in plan.joins.values():
            plan.add_members(incident, [self._member(items, p, reasons) for p in positions])
        taken: set[str] = set()
        for positions in admitted:
            new_id = self.incidents.allocate_id(taken=taken)
            taken.add(new_id)
            plan.create(Incident(
                id=new_id, created_at=self.now, updated_at=self.now,
                members=[self._member(items, p, reasons) for p in positions],
            ))

    def _big_enough(self, items: Items, positions: Sequence[int]) -> bool:
        reps = [p for p in positions if items.report[p]]
        if len(reps) < self.cfg.min_cluster_reports:
            return False
        return len({items.who[p] for p in reps if items.who[p]}) >= self.cfg.min_cluster_accounts

    def _background(
        self, items: Items, words: Words, candidates: Sequence[Sequence[int]]
    ) -> Background:
        source: History
        if items.full:
            source = MemoryHistory(t=items.t, texts=items.mt, words=words, report=items.report,
                                   form=form_for(self.cfg.scorer))
            report_t = items.t[items.report]
            first = day_of(float(report_t.min())) if len(report_t) else None
            last = day_of(float(report_t.max())) if len(report_t) else None
        else:
            source = StoreHistory(self.store, form_for(self.cfg.scorer))
            first, last = self._report_days()
        return Background(
            days=self.cfg.baseline_days, factor=self.cfg.burst_factor, threshold=self.cfg.text_threshold,
            scorer=self.cfg.scorer, source=source, first_day=first, last_day=last,
        )

    def _report_days(self) -> tuple[int | None, int | None]:
        with self.store.engine.connect() as conn:
            row = conn.execute(
                select(func.min(_EV.c.created_at), func.max(_EV.c.created_at)).where(_EV.c.is_report.is_(True))
            ).first()
        if row is None or row[0] is None:
            return None, None
        return day_of(to_utc(row[0]).timestamp()), day_of(to_utc(row[1]).timestamp())

    def _member(self, items: Items, pos: int, reasons: Mapping[int, list[Reason]]) -> Member:
        why = reasons.get(pos) or [Reason(kind="time", detail="within the correlation window of the incident")]
        return Member(evidence_id=items.ids[pos], reasons=why, added_at=self.now)

    # ---- deletions and changes ---------------------------------------------------------------------
    def _remove_deleted(
        self, items: Items, membership: Mapping[str, str], current: Mapping[str, Incident], plan: _Plan
    ) -> None:
        for evidence_id in items.deleted_changed:
            incident_id = membership.get(evidence_id)
            if incident_id and incident_id in current:
                target = plan.live(current[incident_id])
                while target.merged_into and target.merged_into in plan.changed:
                    target = plan.changed[target.merged_into]  # merged this run: the member moved along
                plan.remove(target, evidence_id)

    def _touch_changed_members(
        self, items: Items, membership: Mapping[str, str], current: Mapping[str, Incident], plan: _Plan
    ) -> None:
        for pos in np.flatnonzero(items.changed).tolist():
            incident_id = membership.get(items.ids[pos])
            if incident_id and incident_id in current:
                plan.touch(plan.live(current[incident_id]))

    def _summaries(self, items: Items, plan: _Plan, current: Mapping[str, Incident]) -> list[Incident]:
        touched = plan.result()
        live = [i for i in touched if not i.merged_into]
        if not live:
            return touched
        fresh = {items.ids[p]: items.mt[p] for p in items.fresh}
        infos = load_member_info(self.store, [m.evidence_id for i in live for m in i.members], fresh)
        accounts = {a.key: a for a in self.store.accounts()}
        out: list[Incident] = []
        for incident in touched:
            if incident.merged_into:
                out.append(incident.model_copy(update={"updated_at": self.now}))
                continue
            summary = summarize(
                incident, infos, accounts=accounts, min_reports=self.settings.alerts.min_reports,
                min_accounts=self.settings.alerts.min_accounts, alert_window=self.settings.alerts.window,
                scorer=self.cfg.scorer, text_of=self._text_of,
            )
            update: dict[str, object] = {"updated_at": self.now}
            if not summary.members and summary.status == "candidate":
                update["status"] = "dismissed"
            out.append(summary.model_copy(update=update))
        return out

    def _text_of(self, evidence_id: str) -> str:
        found = self.store.get_many([evidence_id], with_activities=False)
        return found[0].text if found else ""


class _WordsOf(Sequence[tuple[str, ...]]):
    """The content words of some items, looked up only for the ones asked for."""

    def __init__(self, words: Words, positions: Sequence[int]) -> None:
        self.words = words
        self.positions = positions

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, k: int) -> tuple[str, ...]:  # type: ignore[override]
        return self.words.of(self.positions[k])


class _Clock:
    """Phase timings for the debug log (wall and CPU seconds)."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def lap(self, what: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        log.debug("correlate: %s in %.2f s (cpu %.2f s)", what, wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu


class _Plan:
    """The incident changes a run will write, kept as fresh copies of the stored incidents."""

    def __init__(self) -> None:
        self.changed: dict[str, Incident] = {}
        self.created: set[str] = set()
        self.joins: dict[str, tuple[Incident, list[int]]] = {}

    def live(self, incident: Incident) -> Incident:
        held = self.changed.get(incident.id)
        if held is None:
            held = incident.model_copy(deep=True)
            self.changed[incident.id] = held
        return held

    def touch(self, incident: Incident) -> None:
        self.live(incident)

    def create(self, incident: Incident) -> None:
        self.changed[incident.id] = incident
        self.created.add(incident.id)

    def join(self, incident: Incident, positions: list[int]) -> None:
        target = self.live(incident)
        self.joins.setdefault(target.id, (target, []))[1].extend(positions)

    def add_members(self, incident: Incident, members: list[Member]) -> None:
        target = self.live(incident)
        have = set(target.evidence_ids)
        target.members = [*target.members, *(m for m in members if m.evidence_id not in have)]

    def merge(self, other: Incident, *, into: Incident) -> None:
        """Fold `other` into `into` (the older): members move, `other` points at the survivor."""
        survivor = self.live(into)
        gone = self.live(other)
        have = set(survivor.evidence_ids)
        survivor.members = [*survivor.members, *(m for m in gone.members if m.evidence_id not in have)]
        if gone.status == "confirmed" and survivor.status == "candidate":
            survivor.status = "confirmed"
        gone.members = []
        gone.merged_into = survivor.id
        gone.report_count = 0
        gone.accounts = []
        gone.sources = {}
        # later joins aimed at the merged incident land in the survivor
        if other.id in self.joins:
            _, positions = self.joins.pop(other.id)
            self.joins.setdefault(survivor.id, (survivor, []))[1].extend(positions)

    def remove(self, incident: Incident, evidence_id: str) -> None:
        incident.members = [m for m in incident.members if m.evidence_id != evidence_id]

    def result(self) -> list[Incident]:
        return list(self.changed.values())


def _reasons(
    items: Items, edges: Edges, labels: np.ndarray, need: np.ndarray, params: ScoreParams
) -> dict[int, list[Reason]]:
    """Why each needed item belongs: its links (up to five), and its best text match, inside its group."""
    if not len(edges):
        return {}
    sel = (labels[edges.i] == labels[edges.j]) & (need[edges.i] | need[edges.j])
    me = np.concatenate([edges.i[sel], edges.j[sel]])
    other = np.concatenate([edges.j[sel], edges.i[sel]])
    score = np.concatenate([edges.score[sel], edges.score[sel]])
    text = np.concatenate([edges.text[sel], edges.text[sel]])
    link = np.concatenate([edges.link[sel], edges.link[sel]])
    mine = need[me]
    me, other, score, text, link = me[mine], other[mine], score[mine], text[mine], link[mine]
    out: dict[int, list[Reason]] = {}
    # links first, at most five per item
    lm, lo = me[link], other[link]
    order = np.lexsort((lo, lm))
    lm, lo = lm[order], lo[order]
    rank = np.arange(len(lm)) - np.searchsorted(lm, lm, side="left")
    for a, b in zip(lm[rank < _MAX_LINK_REASONS].tolist(), lo[rank < _MAX_LINK_REASONS].tolist(), strict=True):
        out.setdefault(a, []).append(
            Reason(kind="link", with_=items.ids[b], score=params.link_score, detail="explicit link"))
    # then the best text match of each item
    tm, to, ts, tt = me[~link], other[~link], score[~link], text[~link]
    order = np.lexsort((-ts, tm))
    tm, to, tt = tm[order], to[order], tt[order]
    _, first = np.unique(tm, return_index=True)
    for a, b, x in zip(tm[first].tolist(), to[first].tolist(), tt[first].tolist(), strict=True):
        dt = abs(float(items.t[a] - items.t[b]))
        why = [
            Reason(kind="text", with_=items.ids[b], score=round(float(x), 1), detail=f"{params.scorer} similarity"),
            Reason(kind="time", with_=items.ids[b], score=round(max(0.0, 1 - dt / params.window_s), 3),
                   detail=f"{round(dt / 60)} min apart"),
        ]
        if items.account[a] and items.account[a] == items.account[b]:
            why.append(Reason(kind="account", with_=items.ids[b], score=1.0, detail=items.account[a]))
        out.setdefault(a, []).extend(why)
    return out
