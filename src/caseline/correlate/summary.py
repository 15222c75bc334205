"""What an incident says about itself: title, severity, counts, times, and `detected_at`.

Recomputed from the members every time an incident changes, so it never drifts from them.

**Title**: a headline from the most representative reports, ranked by how similar each report's text
is to all the others (up to 200 reports, spread over the incident): the concise title (≤ 90 characters,
such as a ticket's subject) of the most central report that has one; failing that, the medoid's title
or first line, greeting dropped, cut to its first sentence. Never an id.

**Severity** (sev1 most severe). Points, added up:

    distinct accounts affected     3+ → 1,  10+ → 2,  25+ → 3
    ARR of affected accounts       100k+ → 1,  1M+ → 2       (store.accounts(): HubSpot/ARR data)
    an enterprise plan affected    1                          (plan name contains "enterprise")
    escalated to Jira or Linear    1                          (an issue is a member)
    outage words in the members    2   ("down", "outage", "500/502/503/504", "cannot log in",
                                        "not loading", "unavailable", "internal server error", ...)
    data-loss words                2   ("data loss", "lost data", "missing data", "corrupted", ...)

    7+ points → sev1,  5–6 → sev2,  3–4 → sev3,  0–2 → sev4

so a widespread outage touching big customers is sev1, and a couple of accounts asking about a
glitch stays sev4. Distinct accounts follow the contract (reports without an account count their
reporter's email once).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select

from caseline.correlate.scoring import text_scores
from caseline.correlate.threshold import detected_at, distinct_accounts
from caseline.evidence import Account, Evidence, Person
from caseline.incident import Incident, Severity
from caseline.store import Store
from caseline.store.rows import EvidenceRow
from caseline.text.clean import strip_greeting

__all__ = ["MemberInfo", "load_member_info", "severity", "summarize"]

_EV = EvidenceRow.__table__  # type: ignore[attr-defined]
_CHUNK = 500
_MEDOID_SAMPLE = 200
_CONCISE = 90  # a title this short reads as a headline
_HEADLINE_MAX = 120
_SENTENCE_END = re.compile(r"[.?!](?=\s|$)")

OUTAGE = re.compile(
    r"\b(?:outage|down|downtime|unavailable|unreachable|5(?:00|02|03|04)|internal server error|"
    r"(?:cannot|can ?not|can't|cant|unable to) (?:log ?in|sign ?in|access|load)|not loading|won't load|"
    r"doesn't load|nothing loads|completely broken|site is down|service unavailable|timed? ?out|timeouts?)\b"
)
DATA_LOSS = re.compile(
    r"\b(?:data loss|lost (?:all )?(?:our |my )?data|missing data|data (?:is |was )?missing|data (?:got |was )?deleted|"
    r"corrupt(?:ed|ion)?)\b"
)


@dataclass(frozen=True)
class MemberInfo:
    """The columns a summary needs for one member (no JSON documents)."""

    id: str
    source: str
    kind: str
    report: bool
    deleted: bool
    created_at: datetime
    account: str | None
    email: str | None
    title: str
    search_text: str
    match_text: str

    def as_evidence(self) -> Evidence:
        """A light `Evidence` for the shared threshold code (no validation: the row already passed it).

        Every field is given: pydantic's `model_construct` is slow when it must fill in defaults."""
        return Evidence.model_construct(
            id=self.id, source=self.source, kind=self.kind, native_id=self.id.split(":", 2)[-1],
            vendor_id=None, aliases=[], url=None, title=self.title, body="",
            author=Person.model_construct(name=None, email=self.email) if self.email else None,
            author_role=None, account=self.account, account_ref=None, created_at=self.created_at,
            updated_at=self.created_at, status=None, priority=None, tags=[], links=[], deleted=self.deleted,
            bot=False, raw={}, activities=[],
        )


def load_member_info(store: Store, ids: Iterable[str], match: Mapping[str, str] | None = None) -> dict[str, MemberInfo]:
    """Member columns by id; `match` supplies match texts computed this run (fresher than the column)."""
    wanted = list(dict.fromkeys(ids))
    out: dict[str, MemberInfo] = {}
    cols = (
        _EV.c.id, _EV.c.source, _EV.c.kind, _EV.c.is_report, _EV.c.deleted, _EV.c.created_at, _EV.c.account,
        _EV.c.author_email, _EV.c.title, _EV.c.search_text, _EV.c.match_text,
    )
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), _CHUNK):
            for row in conn.execute(select(*cols).where(_EV.c.id.in_(wanted[start : start + _CHUNK]))):
                out[row.id] = MemberInfo(
                    id=row.id,
                    source=row.source,
                    kind=row.kind,
                    report=bool(row.is_report),
                    deleted=bool(row.deleted),
                    created_at=row.created_at,
                    account=row.account,
                    email=row.author_email,
                    title=row.title or "",
                    search_text=row.search_text or "",
                    match_text=(match or {}).get(row.id, row.match_text or ""),
                )
    return out


def severity(
    *, accounts: int, arr: float, enterprise: bool, escalated: bool, outage: bool, data_loss: bool
) -> Severity:
    """The rule in the module docstring."""
    points = (3 if accounts >= 25 else 2 if accounts >= 10 else 1 if accounts >= 3 else 0)
    points += 2 if arr >= 1_000_000 else 1 if arr >= 100_000 else 0
    points += int(enterprise) + int(escalated) + 2 * int(outage) + 2 * int(data_loss)
    if points >= 7:
        return "sev1"
    if points >= 5:
        return "sev2"
    if points >= 3:
        return "sev3"
    return "sev4"


def _by_centrality(reports: Sequence[MemberInfo], scorer: str) -> list[MemberInfo]:
    """Reports (up to `_MEDOID_SAMPLE`, spread over the incident), most central first: the medoid, then
    the ones whose text is next most similar to all the others."""
    if len(reports) <= 2:
        return list(reports)
    sample = list(reports)
    if len(sample) > _MEDOID_SAMPLE:
        step = len(sample) / _MEDOID_SAMPLE
        sample = [sample[int(k * step)] for k in range(_MEDOID_SAMPLE)]
    texts = [m.match_text or m.title.lower() for m in sample]
    matrix = text_scores(texts, texts, scorer).astype(np.float64)
    totals = matrix.sum(axis=1) - np.diag(matrix)
    return [sample[k] for k in np.argsort(-totals, kind="stable").tolist()]


def _title(reports: Sequence[MemberInfo], scorer: str, text_of: Callable[[str], str] | None) -> str:
    """A headline: the concise title (a ticket's subject, say) of the most central report that has one,
    else the medoid's title or first line cut to its first sentence, greeting dropped. A chat has no
    subject, and its opening message makes a poor headline."""
    ranked = _by_centrality(reports, scorer)
    for member in ranked:
        title = member.title.strip()
        if title and len(title) <= _CONCISE:
            return _headline(title)
    medoid = ranked[0]
    title = medoid.title.strip() or (_first_line(text_of(medoid.id)) if text_of else "") or medoid.match_text[:80]
    return _headline(title)


def _headline(text: str) -> str:
    """Greeting dropped, first letter capital, cut to its first sentence when long."""
    text = strip_greeting(text) or text
    text = text[:1].upper() + text[1:]
    if len(text) <= _CONCISE:
        return text
    end = _SENTENCE_END.search(text, 20)
    if end and end.start() < _HEADLINE_MAX:
        return text[: end.start() + 1]
    cut = text.rfind(" ", 0, _HEADLINE_MAX)
    return text[: cut if cut > 0 else _HEADLINE_MAX].rstrip(" ,;:") + "…"


def summarize(
    incident: Incident,
    members: Mapping[str, MemberInfo],
    *,
    accounts: Mapping[str, Account],
    min_reports: int,
    min_accounts: int,
    alert_window: timedelta,
    scorer: str,
    text_of: Callable[[str], str] | None = None,
) -> Incident:
    """`incident` with every derived field recomputed from its (non-deleted) members."""
    present = [members[m.evidence_id] for m in incident.members if m.evidence_id in members]
    present = [m for m in present if not m.deleted]
    present.sort(key=lambda m: (m.created_at, m.id))
    reports = [m for m in present if m.report]
    if not present:
        return incident.model_copy(update={"report_count": 0, "accounts": [], "sources": {}})
    evidence = [m.as_evidence() for m in reports]
    keys = sorted({m.account for m in reports if m.account})
    affected = [accounts[k] for k in keys if k in accounts]
    arr = sum(a.arr or 0.0 for a in affected)
    enterprise = any("enterprise" in (a.plan or "").lower() for a in affected)
    escalated = any(m.source in ("jira", "linear") for m in present)
    text = "\n".join(m.search_text for m in present)
    sev = severity(
        accounts=distinct_accounts(evidence),
        arr=arr,
        enterprise=enterprise,
        escalated=escalated,
        outage=bool(OUTAGE.search(text)),
        data_loss=bool(DATA_LOSS.search(text)),
    )
    title = _title(reports or present, scorer, text_of)
    return incident.model_copy(
        update={
            "title": title[:200],
            "severity": sev,
            "report_count": len(reports),
            "accounts": keys,
            "sources": dict(sorted(Counter(m.source for m in present).items())),
            "first_seen": present[0].created_at,
            "last_seen": present[-1].created_at,
            "detected_at": detected_at(
                evidence, min_reports=min_reports, min_accounts=min_accounts, window=alert_window
            ),
        }
    )


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:120]
    return ""
