"""Bursts, not background: is a group of reports unusual for this store?

Everyday questions recur ("how do I invite a user?", "question about our invoice"), and five customers
asking one on the same afternoon is not an incident. The store's own history says what is normal, and it
is measured the way the group itself was found, by text similarity.

1. The group's *core*: its reports that match at least a third of its most central reports (probes). A
   group whose reports mostly do not (under a quarter) is not about one thing (everyday messages the
   window chained together over days) and is never a burst.
2. Observed: the distinct accounts of the core in its busiest 24 hours (reports holding one of the
   group's topic words, as history is looked up by them).
3. Normal: per day over `baseline_days` of history, the reports that hold a topic word and match a third
   of the probes, the group's own reports on other days included. History is the days before the
   busiest day, or, where the store does not reach that far back (a first run over a fresh backfill),
   the days after it; never the busiest day itself. The two busiest history days are dropped (a past
   incident must not make the next one look normal); of the rest, the busiest is the *normal level* and
   the mean the *rate*.
4. A burst: observed reaches `burst_factor` times the normal level, and that many would be unlikely at
   the rate (Poisson tail below 1%): two customers asking an everyday question on one day is common
   even when it happens every other day, two reporting something never seen before is worth a look.
   With no history at all, every group counts as a burst.

History reports are found through the topic words: in memory on a first run (the whole store is loaded
anyway); in an incremental run, the reports of the days needed are read once per run (an even sample on
a big store, counts scaled back up) and indexed the same way. Look-alike counts are kept per topic for
the run, so a topic that forms a group most days is counted once.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
from rapidfuzz import process
from sqlalchemy import Float, cast, func, literal_column, select

from caseline.correlate.normalize import Words, content_words, words_of
from caseline.correlate.scoring import SCORERS, form_for, text_scores
from caseline.store import Store
from caseline.store.rows import EvidenceRow

__all__ = ["DAY", "Background", "BurstVerdict", "MemoryHistory", "StoreHistory", "day_of", "topic_words"]

DAY = 86_400.0
_EV = EvidenceRow.__table__  # type: ignore[attr-defined]
_TRIM_DAYS = 2  # busiest days left out of the average (past incidents, one-off spikes)
_TOPIC_WORDS = 4
_PROBES = 9  # the group's most central reports compared with history
_PROBE_SHARE = 0.34  # a past report reads like the group when it matches this share of them
_CHANCE = 0.01  # a burst must be this unlikely under the normal rate (Poisson tail)
_MAX_PAST = 500  # past reports compared per topic at most (an even sample stands for more)
_CORE_SAMPLE = 200  # a group's reports checked against its probes at most (an even sample beyond)
_CENTRAL_SAMPLE = 60  # a group's reports among which its most central ones are picked
_MIN_CORE_SHARE = 0.25  # a group less alike than this is not about one thing: never a burst


def day_of(t: float) -> int:
    return int(t // DAY)


@dataclass(frozen=True)
class BurstVerdict:
    burst: bool
    rate_per_day: float
    expected: float
    observed: int
    words: tuple[str, ...] = ()


class History(Protocol):
    """Where past reports come from: times and comparable texts of up to `limit` reports (an even
    sample when there are more) on `days` holding any of `words`; and how many there were in all."""

    def reports(self, words: Sequence[str], days: Sequence[int], *, limit: int) -> tuple[np.ndarray, list[str], int]:
        ...


@dataclass
class MemoryHistory:
    """History from the loaded working set (a first run loads the whole store, in time order)."""

    t: np.ndarray
    texts: Sequence[str]
    words: Words
    report: np.ndarray
    form: Callable[[str], str]
    _vocab: dict[str, int] = field(default_factory=dict)
    _indptr: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    _postings: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    _formed: list[str | None] = field(default_factory=list)

    def prepare(self) -> None:
        """Index every report by its words once (CSR: word → report positions, ascending, so in time)."""
        if self._vocab:
            return
        self._vocab = {w: i for i, w in enumerate(self.words.vocab)}
        owners, ids = self.words.flat()
        reports = self.report[owners]
        owners, ids = owners[reports].astype(np.int64), ids[reports]
        order = np.argsort(ids, kind="stable")  # stable: positions stay ascending within a word
        self._postings = owners[order]
        self._indptr = np.zeros(len(self._vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(ids, minlength=len(self._vocab)), out=self._indptr[1:])

    def posting(self, word: str) -> np.ndarray:
        self.prepare()
        k = self._vocab.get(word)
        return self._postings[self._indptr[k] : self._indptr[k + 1]] if k is not None else self._postings[:0]

    def reports(self, words: Sequence[str], days: Sequence[int], *, limit: int) -> tuple[np.ndarray, list[str], int]:
        spans = [(int(np.searchsorted(self.t, lo * DAY)), int(np.searchsorted(self.t, (hi + 1) * DAY)))
                 for lo, hi in _day_spans(days)]
        parts: list[np.ndarray] = []
        for word in words:
            posting = self.posting(word)  # positions follow time, so a day range is a slice
            for lo, hi in spans:
                parts.append(posting[np.searchsorted(posting, lo) : np.searchsorted(posting, hi)])
        found = _union(parts, len(self.t))
        total = len(found)
        if total > limit:
            found = found[(np.arange(limit) * (total / limit)).astype(np.int64)]
        if not self._formed:
            self._formed = [None] * len(self.texts)
        cache, form, texts = self._formed, self.form, self.texts
        out: list[str] = []
        for p in found.tolist():
            formed = cache[p]
            if formed is None:
                formed = cache[p] = form(texts[p])
            out.append(formed)
        return self.t[found], out, total


class StoreHistory:
    """History from the store, for incremental runs: the reports of the days a run needs are read once
    (their stored match texts), as an even sample when those days hold more than `budget` items (counts
    are scaled back up), and indexed in memory like a first run's."""

    def __init__(self, store: Store, form: Callable[[str], str], *, budget: int = 30_000) -> None:
        self.store = store
        self.form = form
        self.budget = budget
        self._span: tuple[int, int] | None = None
        self._memory: MemoryHistory | None = None
        self._scale = 1.0
        epoch = (
            (func.julianday(_EV.c.created_at) - 2440587.5) * 86400.0
            if store.dialect == "sqlite"
            else cast(func.extract("epoch", _EV.c.created_at), Float)
        )
        self._epoch = epoch.label("epoch")

    def reports(self, words: Sequence[str], days: Sequence[int], *, limit: int) -> tuple[np.ndarray, list[str], int]:
        if not words or not days:
            return np.zeros(0), [], 0
        times, texts, total = self._load(min(days), max(days)).reports(words, days, limit=limit)
        return times, texts, round(total * self._scale)

    def _load(self, lo: int, hi: int) -> MemoryHistory:
        if self._memory is not None and self._span is not None and self._span[0] <= lo and hi <= self._span[1]:
            return self._memory
        if self._span is not None:  # a later group needs more days: read the union once more
            lo, hi = min(lo, self._span[0]), max(hi, self._span[1])
        start, stop = datetime.fromtimestamp(lo * DAY, UTC), datetime.fromtimestamp((hi + 1) * DAY, UTC)
        in_range = (_EV.c.created_at >= start, _EV.c.created_at < stop)
        with self.store.engine.connect() as conn:
            # counted on the created_at index alone (reading every row to count reports costs seconds)
            count = int(conn.execute(select(func.count()).select_from(_EV).where(*in_range)).scalar_one())
            stmt = select(_EV.c.id, self._epoch, _EV.c.match_text).where(
                *in_range, _EV.c.is_report.is_(True), _EV.c.deleted.is_(False), _EV.c.match_text.is_not(None)
            )
            every = max(1, math.ceil(count / self.budget))
            if every > 1:  # an even sample; each row read stands for `every`
                stmt = stmt.where(
                    (literal_column("evidence.rowid") % every == 0) if self.store.dialect == "sqlite"
                    else (func.random() < 1.0 / every)
                )
            rows = sorted(conn.execute(stmt), key=lambda r: float(r.epoch))
        self._scale = float(every)
        texts = [r.match_text for r in rows]
        self._span = (lo, hi)
        self._memory = MemoryHistory(
            t=np.asarray([float(r.epoch) for r in rows], dtype=np.float64), texts=texts, words=words_of(texts),
            report=np.ones(len(rows), dtype=bool), form=self.form,
        )
        return self._memory


def _union(parts: Sequence[np.ndarray], n: int) -> np.ndarray:
    """The sorted union of position arrays below `n`; a bitmap once they are long (a common topic word's
    postings run to hundreds of thousands, where sorting them costs far more than marking them)."""
    total = sum(len(p) for p in parts)
    if not total:
        return np.zeros(0, dtype=np.int64)
    if total < 4096 or total * 16 < n:
        return np.unique(np.concatenate(parts))
    seen = np.zeros(n, dtype=bool)
    for part in parts:
        seen[part] = True
    return np.flatnonzero(seen)


def _day_spans(days: Sequence[int]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for d in sorted(set(days)):
        if spans and d == spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], d)
        else:
            spans.append((d, d))
    return spans


@dataclass
class Background:
    """Judges groups against the store's history (see the module docstring)."""

    days: int
    factor: float
    threshold: float
    scorer: str
    source: History
    first_day: int | None = None
    last_day: int | None = None
    _counts: dict[frozenset[str], tuple[set[int], dict[int, int]]] = field(default_factory=dict)

    def history(self, day0: int) -> list[int]:
        """The days `day0` is judged against: before it, topped up with days after it if the store is young."""
        if self.first_day is None:
            return []
        days = list(range(max(self.first_day, day0 - self.days), day0))
        if len(days) < self.days and self.last_day is not None:
            days += list(range(day0 + 1, min(self.last_day, day0 + self.days - len(days)) + 1))
        return days

    def judge(
        self, texts: Sequence[str], *, words: Sequence[Sequence[str]] | None = None, who: Sequence[str | None],
        times: Sequence[float],
    ) -> BurstVerdict:
        """Is a group a burst? `texts`, `words` (content words, if at hand), `who` (account identity) and
        `times` describe its reports.

        Observed and expected are measured alike: the group counts the accounts of its *core* (the
        reports that read like its most central ones) in its busiest 24 hours, and history counts the
        look-alikes of those per day, the group's own reports on other days included. So a group that
        chained everyday messages over weeks (the window lets a group grow as long as messages keep
        coming) is judged by what it is about on its busiest day, against its own ordinary days.
        The daily look-alike counts are kept per topic for the run: everyday questions form a group
        most days, and all of them are judged against one count."""
        probes = [form_for(self.scorer)(p) for p in central(texts, self.scorer, _PROBES)]
        core, share = self._core(probes, texts)
        if share < _MIN_CORE_SHARE:  # mostly unlike its own center: everyday messages chained together
            return BurstVerdict(False, 0.0, 0.0, 0, ())
        core_words = [words[k] if words is not None else tuple(content_words(texts[k])) for k in core]
        topic = topic_words([texts[k] for k in core], core_words)
        # counted as history counts look-alikes: reading like the probes, and holding a topic word
        held_topic = set(topic)
        alike = [k for k, held in zip(core, core_words, strict=True) if held_topic.intersection(held)] or core
        accounts, start = _busiest_day([times[k] for k in alike], [who[k] for k in alike])
        if len(texts) > _CORE_SAMPLE:  # the core was found in a sample: scale up to the whole group
            accounts = round(accounts * len(texts) / _CORE_SAMPLE)
        peak = {day_of(start), day_of(start + DAY - 1)}
        days = [d for d in self.history(day_of(start)) if d not in peak]
        if not days or not topic:
            return BurstVerdict(True, 0.0, 0.0, accounts, tuple(topic))
        key = frozenset(topic)
        held = self._counts.get(key)
        if held is None or not set(days) <= held[0]:
            wanted = self.all_days() if isinstance(self.source, MemoryHistory) else days
            past_times, past, total = self.source.reports(topic, wanted, limit=_MAX_PAST)
            held = (set(wanted), self._similar(probes, past_times, past, total))
            self._counts[key] = held
        daily = sorted((held[1].get(d, 0) for d in days), reverse=True)
        kept = daily[min(_TRIM_DAYS, max(0, len(daily) - 3)) :]
        rate = sum(kept) / len(kept)
        busiest = kept[0]  # the busiest ordinary day: routine questions come in clumps too
        burst = accounts >= self.factor * busiest and poisson_tail(accounts, rate) < _CHANCE
        return BurstVerdict(burst, rate, rate, accounts, tuple(topic))

    def _core(self, probes: list[str], texts: Sequence[str]) -> tuple[list[int], float]:
        """The group's reports (or an even sample of them) that match a third of the probes, and their share
        of those looked at; all of them when none does (a group held together by links, say)."""
        picked = list(range(len(texts)))
        if len(picked) > _CORE_SAMPLE:
            picked = [int(k * len(texts) / _CORE_SAMPLE) for k in range(_CORE_SAMPLE)]
        form = form_for(self.scorer)
        need = max(1, math.ceil(_PROBE_SHARE * len(probes)))
        matrix = process.cdist(probes, [form(texts[k]) for k in picked], scorer=SCORERS[self.scorer][0],
                               score_cutoff=self.threshold, dtype=np.uint8,
                               workers=-1 if len(picked) * len(probes) > 20_000 else 1)
        hits = ((matrix > 0).sum(axis=0) >= need).tolist()
        core = [k for k, hit in zip(picked, hits, strict=True) if hit]
        return (core, len(core) / len(picked)) if core else (picked, 1.0)

    def all_days(self) -> list[int]:
        if self.first_day is None or self.last_day is None:
            return []
        return list(range(self.first_day, self.last_day + 1))

    def _similar(self, probes: list[str], times: np.ndarray, past: list[str], total: int) -> dict[int, int]:
        """Look-alikes per day: past reports that match at least a third of the probes."""
        if not past:
            return {}
        need = max(1, math.ceil(_PROBE_SHARE * len(probes)))
        matrix = process.cdist(probes, past, scorer=SCORERS[self.scorer][0], score_cutoff=self.threshold,
                               dtype=np.uint8, workers=-1 if len(past) * len(probes) > 20_000 else 1)
        matched = (matrix > 0).sum(axis=0) >= need
        scale = total / len(past)  # a sample stands for all the look-alike candidates
        days = Counter((times[matched] // DAY).astype(np.int64).tolist())
        return {day: round(count * scale) for day, count in days.items()}


def _busiest_day(times: Sequence[float], who: Sequence[str | None]) -> tuple[int, float]:
    """Distinct accounts in the busiest 24 hours of `times`, and when those hours start."""
    order = sorted(range(len(times)), key=lambda k: times[k])
    counts: Counter[str] = Counter()
    best, best_start, lo = 0, times[order[0]] if order else 0.0, 0
    for hi in order:
        arriving = who[hi]
        if arriving:
            counts[arriving] += 1
        while times[order[lo]] < times[hi] - DAY:
            gone = who[order[lo]]
            if gone:
                counts[gone] -= 1
                if not counts[gone]:
                    del counts[gone]
            lo += 1
        if len(counts) > best:
            best, best_start = len(counts), times[order[lo]]
    return best, best_start


def poisson_tail(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam)."""
    if k <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    term = math.exp(-lam)
    below = term
    for i in range(1, k):
        term *= lam / i
        below += term
    return max(0.0, 1.0 - below)


def topic_words(texts: Sequence[str], words: Sequence[Sequence[str]] | None = None) -> list[str]:
    """What a group is about: the words in the most of its texts (two at least), most common first, then
    longest. `words` are the texts' content words when already at hand."""
    counts: Counter[str] = Counter()
    for text_words in words if words is not None else (content_words(t) for t in texts):
        counts.update(text_words)
    need = 2 if len(texts) > 1 else 1
    found = [w for w, c in counts.items() if c >= need]
    found.sort(key=lambda w: (-counts[w], -len(w), w))
    return found[:_TOPIC_WORDS]


def central(texts: Sequence[str], scorer: str, k: int) -> list[str]:
    """The `k` texts most similar to the others (the medoid first)."""
    if len(texts) <= k:
        return list(texts)
    sample = list(texts)
    if len(sample) > _CENTRAL_SAMPLE:
        sample = [sample[int(k * len(texts) / _CENTRAL_SAMPLE)] for k in range(_CENTRAL_SAMPLE)]
    matrix = text_scores(sample, sample, scorer).astype(np.float64)
    order = np.argsort(-(matrix.sum(axis=1) - np.diag(matrix)), kind="stable")
    return [sample[i] for i in order[:k].tolist()]
