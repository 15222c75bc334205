"""Assembly: an incident's evidence and activities from every tool, merged into one typed, ordered list.

Place in the flow: `store → correlate → timeline (here) → export/render`. This module reads incidents
and evidence, never writes them. `assemble()` loads from the store; `assemble_items()` is the pure part
(typing, deduplication, milestones, metrics, gaps, impact) so it can be tested and benchmarked alone.

Typing rules (one entry per evidence creation and per activity):

- a report's creation (Zendesk ticket, Intercom conversation, HubSpot ticket, imported) → `report`
- a Jira/Linear issue's creation → `escalation` (the engineering side got involved)
- any other context item's creation (Slack message, HubSpot note) → `message`
- a public agent reply on a report (Zendesk public comment by an agent, Intercom admin comment) →
  `customer_update`; bots and automations are not updates (nobody told the customer anything new)
- internal notes, customer follow-ups, Slack thread replies, Jira/Linear comments, anything else →
  `comment`
- a status change → `escalation` when it enters an escalated status (`escalated…`); `resolution` when
  a Jira/Linear issue reaches solved/closed/done/completed/resolved, or when a report's change makes
  *all* the incident's reports solved; otherwise `status_change`. A status counts as solved by its first
  word, so vendor labels qualify it freely ("Closed: Won't fix", a HubSpot closed pipeline stage)

Deduplication: the same words often appear twice (a Zendesk comment mirrored into Slack by an
integration, a customer's text pasted into a Jira description, a Slack thread synced into Linear).
Entries from *different sources* whose normalized text (`caseline.text.for_matching`) is near-identical
(rapidfuzz ratio ≥ `DEDUP_THRESHOLD`) within `timeline.dedup_window` collapse into one entry; the most
significant entry of the group stays (ties: the earliest) and the others' links go to its `also` list.
Two same-source items never collapse: two customers writing the same words are two reports. When both
entries mark different milestones (a report and the escalation that pasted its words) both stay, and
the later one shows its own title instead of repeating the words.

Milestones and metrics follow the contract's Definitions; they are computed from the entries before
deduplication so a collapsed mirror never hides a customer update or an escalation:

- first_seen / last_seen: the first and latest report's `created_at` (the stored incident's values
  when it has no reports); detected_at: `correlate.threshold.detected_at` with the `[alerts]` settings,
  whether or not any sink is configured
- escalated_at: the first escalation entry (a Jira/Linear issue created, or an escalated status)
- resolved_at: when the incident last became resolved (every Jira/Linear issue done, or every report
  solved), provided it still is; null when it is not or when we never saw the change happen
- communication gaps: from the first report to resolution (or now while open; or the last known
  entry for an incident closed without a resolution time), the stretches longer than
  `timeline.update_cadence` between customer updates
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Literal

import numpy as np
from rapidfuzz import fuzz
from threadpoolctl import threadpool_limits

from caseline.config.models import AlertSettings, Settings, TimelineSettings
from caseline.correlate.threshold import detected_at as threshold_detected_at
from caseline.correlate.threshold import distinct_accounts, reports_of
from caseline.errors import NotFound
from caseline.evidence import Account, Activity, ActorRole, Evidence, Person
from caseline.incident import Incident, Reason
from caseline.store import Store
from caseline.store.incidents import IncidentStore
from caseline.text.clean import for_matching
from caseline.timeparse import utc_now

__all__ = [
    "DEDUP_THRESHOLD",
    "ENGINEERING_SOURCES",
    "ENTRY_TYPES",
    "ESCALATED_PREFIX",
    "RESOLVED_STATUSES",
    "AccountImpact",
    "Assembly",
    "Entry",
    "EntryType",
    "Gap",
    "Link",
    "Milestone",
    "MilestoneKind",
    "assemble",
    "assemble_items",
    "communication_gaps",
    "deduplicate",
    "excerpt",
    "is_escalated_status",
    "is_resolved_status",
    "type_entries",
]

EntryType = Literal["report", "message", "comment", "status_change", "escalation", "customer_update", "resolution"]
ENTRY_TYPES: tuple[EntryType, ...] = (
    "report", "message", "comment", "status_change", "escalation", "customer_update", "resolution",
)
MilestoneKind = Literal["first_report", "detection", "escalation", "customer_update", "resolution"]

ENGINEERING_SOURCES: frozenset[str] = frozenset({"jira", "linear"})
RESOLVED_STATUSES: frozenset[str] = frozenset({"solved", "closed", "done", "completed", "resolved"})
_FIRST_WORD = re.compile(r"[a-z]+")
ESCALATED_PREFIX = "escalat"  # "escalated", "Escalated to engineering", "escalation"
DEDUP_THRESHOLD = 90.0
_MIN_MATCH_CHARS = 15  # "thanks", "+1", "any update?" are not mirrors of each other
EXCERPT_CHARS = 300

# Which entry of a duplicate group stays: the most significant; milestone types never swallow each other.
_RANK: dict[str, int] = {
    "resolution": 6, "escalation": 5, "report": 4, "customer_update": 3, "status_change": 2, "comment": 1,
    "message": 0,
}
_PROTECTED = frozenset({"report", "escalation", "resolution"})


def _norm_status(value: str | None) -> str:
    return " ".join((value or "").strip().lower().replace("_", " ").replace("-", " ").split())


def is_resolved_status(value: str | None) -> bool:
    """A status is resolved when its first word is one of `RESOLVED_STATUSES`: "Solved", "closed", "Done",
    and also labels that qualify it, such as "Closed: Won't fix" or "Resolved (duplicate)"."""
    first = _FIRST_WORD.match(_norm_status(value))
    return first is not None and first.group() in RESOLVED_STATUSES


def is_escalated_status(value: str | None) -> bool:
    return _norm_status(value).startswith(ESCALATED_PREFIX)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """Whitespace folded to single spaces, cut at `limit` characters with an ellipsis."""
    folded = " ".join(text.split())
    return folded if len(folded) <= limit else folded[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class Link:
    """Another place the same words appeared (kept when duplicates collapse)."""

    source: str
    evidence_id: str
    url: str | None


@dataclass(slots=True)
class Entry:
    """One typed happening on the timeline; `url` points at the original item (activity, else evidence)."""

    at: datetime
    source: str
    evidence_id: str
    type: EntryType
    actor: Person | None
    text: str
    url: str | None
    actor_role: ActorRole | None = None
    also: list[Link] = field(default_factory=list)
    headline: str = ""  # the evidence title, shown instead of repeated words
    match: tuple[str, ...] = ()  # normalized texts deduplication compares
    seq: int = 0  # stable tie-break: creation before its activities, then input order
    status: tuple[str | None, str | None] | None = None  # (from, to) of a status change


@dataclass(frozen=True, slots=True)
class Milestone:
    kind: MilestoneKind
    at: datetime
    evidence_id: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Gap:
    """Customers waited from `start` to `end` without a customer update (longer than the cadence)."""

    start: datetime
    end: datetime
    ongoing: bool = False

    @property
    def minutes(self) -> float:
        return round((self.end - self.start).total_seconds() / 60, 1)


@dataclass(frozen=True, slots=True)
class AccountImpact:
    key: str
    name: str | None
    domain: str | None
    plan: str | None
    arr: float | None
    reports: int


@dataclass(slots=True)
class Assembly:
    """Everything the export and the renderings need, computed once."""

    incident: Incident
    evidence: list[Evidence]
    entries: list[Entry]
    why: list[tuple[str, list[Reason]]]
    first_seen: datetime | None
    last_seen: datetime | None
    detected_at: datetime | None
    escalated_at: datetime | None
    resolved_at: datetime | None
    milestones: list[Milestone]
    gaps: list[Gap]
    accounts: list[AccountImpact]
    reports: int
    accounts_affected: int
    arr_affected: float | None
    sources: dict[str, int]
    now: datetime

    @property
    def time_to_detect_s(self) -> float | None:
        return _seconds(self.first_seen, self.detected_at)

    @property
    def time_to_escalate_s(self) -> float | None:
        return _seconds(self.first_seen, self.escalated_at)

    @property
    def time_to_resolve_s(self) -> float | None:
        return _seconds(self.first_seen, self.resolved_at)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    """`end − start` in seconds; None when either end is unknown (never a made-up 0)."""
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


# ---- loading -------------------------------------------------------------------------------------
def assemble(store: Store, incident_id: str, settings: Settings, *, now: datetime | None = None) -> Assembly:
    """Load an incident (following merges) with its evidence and accounts, then assemble it."""
    incidents = IncidentStore(store)
    incident = incidents.get(incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    members = store.get_many(incident.evidence_ids)
    linked, linked_why = _linked_engineering(store, incidents, incident, members)
    evidence = members + linked
    keys = sorted({e.account for e in reports_of(evidence) if e.account})
    accounts = {key: account for key in keys if (account := store.account(key)) is not None}
    return assemble_items(
        incident,
        evidence,
        accounts=accounts,
        timeline=settings.timeline,
        alerts=settings.alerts,
        now=now,
        extra_why=linked_why,
    )


def _linked_engineering(
    store: Store, incidents: IncidentStore, incident: Incident, members: Sequence[Evidence]
) -> tuple[list[Evidence], dict[str, list[Reason]]]:
    """Jira/Linear issues a member links to but that correlation has not (yet) made a member.

    The engineering issue is where escalation and resolution happen, so a stored issue a report links
    to belongs on its timeline, unless it is a member of another incident.
    """
    from caseline.text.refs import url_to_evidence_id

    member_ids = {m.id for m in members}
    wanted: dict[str, str] = {}
    for src, targets in store.links(member_ids).items():
        for target in targets:
            target_id = url_to_evidence_id(target) if "://" in target else target
            if not target_id or target_id in member_ids or target_id in wanted:
                continue
            if target_id.split(":", 1)[0] in ENGINEERING_SOURCES:
                wanted[target_id] = src
    if not wanted:
        return [], {}
    owner = incidents.membership(wanted)
    found = [e for e in store.get_many(wanted) if owner.get(e.id, incident.id) == incident.id]
    why = {
        e.id: [Reason(kind="link", with_=wanted[e.id], detail="linked from a member, not yet a member")]
        for e in found
    }
    return found, why


# ---- the pure part -------------------------------------------------------------------------------
def assemble_items(
    incident: Incident,
    evidence: Sequence[Evidence],
    *,
    accounts: Mapping[str, Account],
    timeline: TimelineSettings,
    alerts: AlertSettings,
    now: datetime | None = None,
    extra_why: Mapping[str, list[Reason]] | None = None,
) -> Assembly:
    """Type, deduplicate and order the entries; compute milestones, metrics, gaps and impact."""
    now = now or utc_now()
    evidence = sorted(evidence, key=lambda e: (e.created_at, e.id))
    live = [e for e in evidence if not e.deleted]
    reports = reports_of(live)
    typed = type_entries(live)

    first_seen = reports[0].created_at if reports else (incident.first_seen or _first(e.created_at for e in live))
    last_seen = reports[-1].created_at if reports else (incident.last_seen or _last(e.created_at for e in live))
    detected = threshold_detected_at(
        reports, min_reports=alerts.min_reports, min_accounts=alerts.min_accounts, window=alerts.window
    )
    escalation = next((e for e in typed if e.type == "escalation"), None)
    resolution_at, resolution = _resolution(typed, live)
    updates = [e for e in typed if e.type == "customer_update"]

    milestones: list[Milestone] = []
    if reports:
        milestones.append(Milestone("first_report", reports[0].created_at, reports[0].id, reports[0].url))
    if detected is not None:
        crossing = next((r for r in reports if r.created_at == detected), None)
        milestones.append(
            Milestone("detection", detected, crossing.id if crossing else None, crossing.url if crossing else None)
        )
    if escalation is not None:
        milestones.append(Milestone("escalation", escalation.at, escalation.evidence_id, escalation.url))
    milestones.extend(Milestone("customer_update", u.at, u.evidence_id, u.url) for u in updates)
    if resolution_at is not None:
        milestones.append(
            Milestone(
                "resolution", resolution_at, resolution.evidence_id if resolution else None,
                resolution.url if resolution else None,
            )
        )
    milestones.sort(key=lambda m: m.at)

    entries = deduplicate(typed, window=timeline.dedup_window)
    end = _gap_end(incident, resolution_at, entries, now)
    gaps = communication_gaps(first_seen, end, [u.at for u in updates], timeline.update_cadence,
                              ongoing=resolution_at is None and incident.status not in ("resolved", "dismissed"))
    impact = _impact(reports, accounts)
    known_arr = [a.arr for a in impact if a.arr is not None]
    why = [(m.evidence_id, list(m.reasons)) for m in incident.members]
    why.extend((eid, list(reasons)) for eid, reasons in (extra_why or {}).items())
    return Assembly(
        incident=incident,
        evidence=evidence,
        entries=entries,
        why=why,
        first_seen=first_seen,
        last_seen=last_seen,
        detected_at=detected,
        escalated_at=escalation.at if escalation else None,
        resolved_at=resolution_at,
        milestones=milestones,
        gaps=gaps,
        accounts=impact,
        reports=len(reports),
        accounts_affected=distinct_accounts(reports),
        arr_affected=sum(known_arr) if known_arr else None,
        sources=dict(sorted(Counter(e.source for e in live).items())),
        now=now,
    )


def _first(values: Iterable[datetime]) -> datetime | None:
    return min(values, default=None)


def _last(values: Iterable[datetime]) -> datetime | None:
    return max(values, default=None)


def _gap_end(incident: Incident, resolved_at: datetime | None, entries: Sequence[Entry], now: datetime) -> datetime:
    """Customers wait until resolution; for an incident closed without a known resolution time, until
    the last thing we know happened (never "now": that would invent a wait); otherwise until now."""
    if resolved_at is not None:
        return resolved_at
    if incident.status in ("resolved", "dismissed") and entries:
        return max(e.at for e in entries)
    return now


# ---- typing --------------------------------------------------------------------------------------
def type_entries(evidence: Sequence[Evidence]) -> list[Entry]:
    """One typed entry per evidence creation and per activity, ordered by time (see module docstring)."""
    entries: list[Entry] = []
    seq = 0
    for item in evidence:
        if item.deleted:
            continue
        if item.is_report:
            created: EntryType = "report"
        elif item.source in ENGINEERING_SOURCES:
            created = "escalation"
        else:
            created = "message"
        entries.append(
            Entry(
                at=item.created_at, source=item.source, evidence_id=item.id, type=created, actor=item.author,
                text=excerpt(_created_text(item)), url=item.url, actor_role=item.author_role,
                headline=excerpt(item.title),
                match=_match_texts(item.text, item.body), seq=seq,
            )
        )
        seq += 1
        for act in item.activities:
            entries.append(
                Entry(
                    at=act.at, source=item.source, evidence_id=item.id, type=_activity_type(item, act),
                    actor=act.actor, text=excerpt(act.text or _status_text(act)), url=act.url or item.url,
                    actor_role=act.actor_role,
                    match=() if act.type == "status_change" else _match_texts(act.text),
                    seq=seq,
                    status=(act.from_status, act.to_status) if act.type == "status_change" else None,
                )
            )
            seq += 1
    entries.sort(key=lambda e: (e.at, e.seq))
    _type_status_changes(entries, evidence)
    return entries


def _created_text(item: Evidence) -> str:
    """`title — body` (or whichever exists): what the item said when it was created. A title that is just
    the start of the body (a Slack message's first line, cut with "…") is not said twice."""
    title, body = item.title.strip(), item.body.strip()
    if title and body and not _starts_with(body, title):
        return f"{title} — {body}"
    return body or title


def _starts_with(body: str, title: str) -> bool:
    """Whether `title`, less a trailing ellipsis, begins `body` (whitespace folded in both)."""
    stem = " ".join(title.removesuffix("…").removesuffix("...").split())
    return bool(stem) and " ".join(body.split()).startswith(stem)


def _match_texts(*texts: str) -> tuple[str, ...]:
    out: list[str] = []
    for text in texts:
        norm = for_matching(text) if text else ""
        if len(norm) >= _MIN_MATCH_CHARS and norm not in out:
            out.append(norm)
    return tuple(out)


def _status_text(act: Activity) -> str:
    if act.type == "status_change":
        return f"status: {act.from_status or '—'} → {act.to_status or '—'}"
    return ""


def _activity_type(item: Evidence, act: Activity) -> EntryType:
    if act.type == "status_change":
        return "status_change"  # refined by `_type_status_changes`, which sees every item's state
    if item.is_report and act.type == "comment" and act.actor_role == "agent" and act.public is not False:
        return "customer_update"
    return "comment"


def _type_status_changes(entries: list[Entry], evidence: Sequence[Evidence]) -> None:
    """Escalations and resolutions among status changes; needs every report's state over time."""
    by_id = {e.id: e for e in evidence}
    solved = _initial_states(e for e in evidence if e.is_report)
    for entry in entries:
        if entry.status is None:
            continue
        from_status, to_status = entry.status
        item = by_id[entry.evidence_id]
        if item.is_report:
            before = all(solved.values())
            solved[item.id] = is_resolved_status(to_status)
            if all(solved.values()) and not before:
                entry.type = "resolution"
                continue
        elif item.source in ENGINEERING_SOURCES and is_resolved_status(to_status) and not is_resolved_status(
            from_status
        ):
            entry.type = "resolution"
            continue
        if is_escalated_status(to_status) and not is_escalated_status(from_status):
            entry.type = "escalation"


def _initial_states(items: Iterable[Evidence]) -> dict[str, bool]:
    """Each item's resolved state before its first recorded change (its current status if none)."""
    states: dict[str, bool] = {}
    for item in items:
        if item.deleted:
            continue
        first = min((a for a in item.activities if a.type == "status_change"), key=lambda a: a.at, default=None)
        states[item.id] = is_resolved_status(first.from_status if first else item.status)
    return states


def _resolution(entries: Sequence[Entry], evidence: Sequence[Evidence]) -> tuple[datetime | None, Entry | None]:
    """When the incident last became resolved (all its Jira/Linear issues done, or all reports solved),
    if it still is; None when it is not, or when we never saw it happen."""
    reports = _initial_states(e for e in evidence if e.is_report)
    eng = _initial_states(e for e in evidence if e.source in ENGINEERING_SOURCES)

    def resolved() -> bool:
        return bool(eng and all(eng.values())) or bool(reports and all(reports.values()))

    state = resolved()
    at: datetime | None = None
    which: Entry | None = None
    for entry in entries:
        if entry.status is None:
            continue
        states = reports if entry.evidence_id in reports else eng if entry.evidence_id in eng else None
        if states is None:
            continue
        states[entry.evidence_id] = is_resolved_status(entry.status[1])
        now_resolved = resolved()
        if now_resolved and not state:
            at, which = entry.at, entry
        elif not now_resolved:
            at, which = None, None
        state = now_resolved
    return (at, which) if state else (None, None)


# ---- deduplication -------------------------------------------------------------------------------
def deduplicate(entries: Sequence[Entry], *, window: timedelta, threshold: float = DEDUP_THRESHOLD) -> list[Entry]:
    """Collapse near-identical entries from different sources within `window` (see module docstring).

    Entries are taken in time order; each joins the best-scoring earlier group (among the recent texts of
    other sources, the best 8 per source and text, ties to the first seen) that has no item of its source
    yet. The scores are found up front for the whole list (`_Texts`), so a busy window costs one pass of
    matrix arithmetic instead of a comparison per pair. The input entries are not changed: a changed entry
    is a copy."""
    ordered = sorted(entries, key=lambda e: (e.at, e.seq))
    texts = _Texts(ordered, window, threshold)
    kept: list[Entry] = []
    sources: list[set[str]] = []  # per kept entry: the sources already in its group
    group_of: dict[int, int] = {}  # text position → its group, for the texts later entries may match
    seen: dict[str, int] = {}  # sources in order of first appearance: the order they are searched in
    for i, entry in enumerate(ordered):
        group = _find_group(i, entry, texts, group_of, sources, seen) if entry.match else None
        seen.setdefault(entry.source, len(seen))
        if group is None:
            kept.append(entry)
            sources.append({entry.source})
            group_of.update(dict.fromkeys(texts.positions(i), len(kept) - 1))
            continue
        held = kept[group]
        if held.type != entry.type and held.type in _PROTECTED and entry.type in _PROTECTED:
            # two milestones carrying the same words: keep both, say the words once
            mine = entry.headline and not _similar(entry.headline, held, threshold)
            text = entry.headline if mine else f"(same words as {held.source} {held.evidence_id})"
            kept.append(replace(entry, text=text, match=()))
            sources.append({entry.source})
            continue
        primary, other = (entry, held) if _RANK[entry.type] > _RANK[held.type] else (held, entry)
        kept[group] = replace(
            primary, also=[*primary.also, Link(other.source, other.evidence_id, other.url), *other.also]
        )
        sources[group].add(entry.source)
        group_of.update(dict.fromkeys(texts.positions(i), group))
    kept.sort(key=lambda e: (e.at, e.seq))
    return kept


def _find_group(
    i: int, entry: Entry, texts: _Texts, group_of: Mapping[int, int], sources: Sequence[set[str]],
    seen: Mapping[str, int],
) -> int | None:
    """The best-matching group, among other sources' recent texts, that has no item of this source yet."""
    per_source: dict[str, list[list[tuple[float, int]]]] = {}
    for k, position in enumerate(texts.positions(i)):
        for other, score in texts.hits[position]:
            if other in group_of:  # only texts that were kept or joined a group are matched against
                per_source.setdefault(texts.sources[other], [[] for _ in entry.match])[k].append((-score, other))
    best: tuple[float, int] | None = None
    for source in sorted(per_source, key=seen.__getitem__):
        for found in per_source[source]:
            for negative, other in sorted(found)[:8]:  # best score first, ties: the first seen
                group = group_of[other]
                if entry.source in sources[group]:
                    continue
                if best is None or -negative > best[0]:
                    best = (-negative, group)
                break
    return best[1] if best else None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BIN = np.full(128, 28, dtype=np.intp)  # character → bin: a–z one each, digits, space, everything else
_BIN[np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)] = np.arange(26)
_BIN[np.frombuffer(b"0123456789", dtype=np.uint8)] = 26
_BIN[ord(" ")] = 27
_BINS, _MAX_LEVELS, _APART = 29, 32, 1e9
_ROWS, _COLUMNS = 512, 8192  # block of the pair matrix computed at once


class _Texts:
    """Every entry's match texts, numbered in time order, and for each text the earlier texts of other
    sources within the window that score at least the threshold: `hits[position] = [(other, score)]`.

    Candidates are pruned exactly before rapidfuzz scores them. `fuzz.ratio` is 200·LCS/(|a|+|b|), and
    the longest common subsequence of two texts can use each character at most as often as the rarer
    text has it, so LCS ≤ Σ_c min(count_a(c), count_b(c)) (over any grouping of characters into bins).
    That sum is a dot product of "ladder" vectors (bin c at level k is 1 when the text has more than k
    of c), so one matrix product bounds a whole block of pairs; counts above a bin's last level add at
    most half their total. Pairs whose bound is below threshold/200·(|a|+|b|) cannot reach the
    threshold and are never scored; the rest are scored exactly as before."""

    def __init__(self, ordered: Sequence[Entry], window: timedelta, threshold: float) -> None:
        self.starts = [0]
        texts: list[str] = []
        owners: list[int] = []
        for i, entry in enumerate(ordered):
            texts.extend(entry.match)
            owners.extend([i] * len(entry.match))
            self.starts.append(len(texts))
        self.texts = texts
        self.sources = [ordered[o].source for o in owners]
        self.hits: list[list[tuple[int, float]]] = [[] for _ in texts]
        if len(texts) > 1:
            self._score(ordered, owners, window, threshold)

    def positions(self, i: int) -> range:
        return range(self.starts[i], self.starts[i + 1])

    def _score(self, ordered: Sequence[Entry], owners: list[int], window: timedelta, threshold: float) -> None:
        step = timedelta(microseconds=1)
        at = np.array([(ordered[o].at - _EPOCH) // step for o in owners], dtype=np.int64)
        lo = np.searchsorted(at, at - window // step, side="left")  # the first text inside the window
        hi = np.array([self.starts[o] for o in owners], dtype=np.int64)  # earlier entries' texts end here
        rows, columns = self._ladders(threshold)
        with threadpool_limits(limits=1, user_api="blas"):  # blocks this size gain little from threads,
            self._blocks(rows, columns, lo, hi, threshold)  # and lose a lot when the CPUs are busy

    def _blocks(self, rows: np.ndarray, columns: np.ndarray, lo: np.ndarray, hi: np.ndarray, threshold: float) -> None:
        for q0 in range(0, len(self.texts), _ROWS):
            q1 = min(len(self.texts), q0 + _ROWS)
            for c0 in range(int(lo[q0]), int(hi[q1 - 1]), _COLUMNS):
                c1 = min(int(hi[q1 - 1]), c0 + _COLUMNS)
                qs, ps = np.nonzero(rows[q0:q1] @ columns[c0:c1].T >= -1.0)  # margin ≥ 0, less rounding
                qs += q0
                ps += c0
                inside = (ps >= lo[qs]) & (ps < hi[qs])
                for q, p in zip(qs[inside].tolist(), ps[inside].tolist(), strict=True):
                    score = fuzz.ratio(self.texts[q], self.texts[p], score_cutoff=threshold)
                    if score >= threshold:
                        self.hits[q].append((p, score))

    def _ladders(self, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """Row and column vectors whose product is `bound − threshold/200·(|a|+|b|)` for two texts of
        different sources, and hugely negative for two of the same source."""
        n = len(self.texts)
        lengths = np.fromiter(map(len, self.texts), dtype=np.int64, count=n)
        codes = np.frombuffer("".join(self.texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        cells = np.repeat(np.arange(n), lengths) * _BINS + _BIN[np.minimum(codes, 127)]
        counts = np.bincount(cells, minlength=n * _BINS).reshape(n, _BINS)
        levels = np.clip(np.percentile(counts, 95, axis=0).astype(np.int64), 1, _MAX_LEVELS)
        capped = np.minimum(counts, levels)
        level = np.arange(int(levels.sum())) - np.repeat(np.cumsum(levels) - levels, levels)
        ladder = (capped[:, np.repeat(np.arange(_BINS), levels)] > level).astype(np.float32)
        linear = ((counts - capped).sum(axis=1) / 2 - threshold / 200 * lengths).astype(np.float32)[:, None]
        names = {s: k for k, s in enumerate(dict.fromkeys(self.sources))}
        source = np.eye(len(names), dtype=np.float32)[[names[s] for s in self.sources]]
        ones = np.ones((n, 1), dtype=np.float32)
        return np.hstack([ladder, linear, ones, -_APART * source]), np.hstack([ladder, ones, linear, source])


def _similar(text: str, held: Entry, threshold: float) -> bool:
    norm = for_matching(text)
    return any(fuzz.ratio(norm, other) >= threshold for other in held.match)


# ---- gaps and impact -----------------------------------------------------------------------------
def communication_gaps(
    start: datetime | None,
    end: datetime | None,
    updates: Iterable[datetime],
    cadence: timedelta,
    *,
    ongoing: bool = False,
) -> list[Gap]:
    """Stretches longer than `cadence` between the first report, each customer update, and `end`.

    `ongoing` marks the last stretch when `end` is "now" (the incident is still open)."""
    if start is None or end is None or end <= start:
        return []
    points = [start, *sorted(u for u in updates if start < u < end), end]
    gaps: list[Gap] = []
    for index, (a, b) in enumerate(pairwise(points)):
        if b - a > cadence:
            gaps.append(Gap(a, b, ongoing=ongoing and index == len(points) - 2))
    return gaps


def _impact(reports: Sequence[Evidence], accounts: Mapping[str, Account]) -> list[AccountImpact]:
    counts = Counter(r.account for r in reports if r.account)
    out: list[AccountImpact] = []
    for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        account = accounts.get(key)
        out.append(
            AccountImpact(
                key=key,
                name=account.name if account else None,
                domain=(account.domains[0] if account and account.domains else key),
                plan=account.plan if account else None,
                arr=account.arr if account else None,
                reports=n,
            )
        )
    return out
