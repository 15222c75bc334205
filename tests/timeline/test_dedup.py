"""Deduplication at scale: the same groups as the rule written out pair by pair, while scoring only
the pairs that can reach the threshold (a busy window must not cost a comparison per pair)."""

from __future__ import annotations

import importlib
import random
from collections.abc import Sequence
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from rapidfuzz import fuzz

from caseline.timeline.assemble import DEDUP_THRESHOLD, Entry, EntryType, deduplicate
from tests.timeline.world import at

assemble = importlib.import_module("caseline.timeline.assemble")  # the module (the package exports a function)

WORDS = ("checkout", "payment", "card", "gateway", "error", "timeout", "declined", "page", "order", "cart", "login",
         "export", "invoice", "sync", "slow", "broken", "failing", "customers", "since", "morning", "deploy",
         "release", "rollback", "service", "queue")
TYPES: tuple[EntryType, ...] = ("report", "message", "comment", "escalation", "resolution", "customer_update")


def _reference(entries: Sequence[Entry], window: timedelta, threshold: float) -> list[tuple[str, list[str]]]:
    """The rule, pair by pair: each entry (in time order) joins the best group among other sources' texts
    within the window (per source and text the best 8, ties to the first seen) that has no item of its
    source; two different milestones both stay. Returns (evidence id, ids folded into it) per entry kept."""
    ordered = sorted(entries, key=lambda e: (e.at, e.seq))
    kept: list[list[Any]] = []  # [entry, rank, folded ids, sources]
    texts: list[tuple[str, Any, str, int]] = []  # (source, at, text, group) of every text matched against
    order: dict[str, int] = {}
    for entry in ordered:
        best: tuple[float, int] | None = None
        for source in sorted({s for s, *_ in texts} - {entry.source}, key=order.__getitem__):
            for text in entry.match:
                scored = [(-fuzz.ratio(text, t), n, g) for n, (s, when, t, g) in enumerate(texts)
                          if s == source and when >= entry.at - window]  # fmt: skip
                hits = sorted(h for h in scored if -h[0] >= threshold)[:8]
                for negative, _, group in hits:
                    if entry.source in kept[group][3]:
                        continue
                    if best is None or -negative > best[0]:
                        best = (-negative, group)
                    break
        order.setdefault(entry.source, len(order))
        rank = assemble._RANK[entry.type]
        if best is None:
            kept.append([entry, rank, [], {entry.source}])
            texts += [(entry.source, entry.at, t, len(kept) - 1) for t in entry.match]
            continue
        held = kept[best[1]]
        if held[0].type != entry.type and {held[0].type, entry.type} <= assemble._PROTECTED:
            kept.append([entry, rank, [], {entry.source}])
            continue
        if rank > held[1]:
            held[0], held[1], held[2] = entry, rank, [held[0].evidence_id, *held[2]]
        else:
            held[2].append(entry.evidence_id)
        held[3].add(entry.source)
        texts += [(entry.source, entry.at, t, best[1]) for t in entry.match]
    return sorted(((k[0].evidence_id, k[2]) for k in kept), key=lambda k: k[0])


def _entries(rng: random.Random, n: int, minutes: float, sources: str = "abcd") -> list[Entry]:
    """Sentences of a small vocabulary (everything looks alike), a third of them copies, lightly edited, of
    an earlier one (mirrors), over `minutes`."""
    out: list[Entry] = []
    for seq in range(n):
        if out and rng.random() < 0.33:
            words = rng.choice(out).match[0].split()
            words[rng.randrange(len(words))] = rng.choice(WORDS)
        else:
            words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
        text = " ".join(words)
        out.append(Entry(at=at(rng.uniform(0, minutes)), source=rng.choice(sources), evidence_id=f"e{seq}",
                         type=rng.choice(TYPES), actor=None, text=text, url=None, headline=f"headline {seq}",
                         match=(text, text + " again") if rng.random() < 0.2 else (text,), seq=seq))  # fmt: skip
    return out


def _summary(entries: Sequence[Entry]) -> list[tuple[str, list[str]]]:
    return sorted(((e.evidence_id, [link.evidence_id for link in e.also]) for e in entries), key=lambda k: k[0])


@pytest.mark.parametrize("seed", range(6))
def test_same_groups_as_the_rule_pair_by_pair(seed: int) -> None:
    rng = random.Random(seed)
    entries = _entries(rng, rng.randint(20, 120), minutes=rng.choice([5, 30, 120]))
    window = timedelta(minutes=rng.choice([1, 10]))
    threshold = rng.choice([DEDUP_THRESHOLD, 80.0])
    result = deduplicate(entries, window=window, threshold=threshold)
    assert _summary(result) == _reference(entries, window, threshold)
    assert any(e.also for e in result)  # the mirrors did collapse: the comparison is not vacuous


def test_a_busy_window_scores_only_pairs_that_can_match(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = _entries(random.Random(7), 400, minutes=5, sources="abc")  # everything inside one window
    window = timedelta(minutes=10)
    expected = _reference(entries, window, DEDUP_THRESHOLD)
    scored: list[tuple[str, str]] = []

    def counting_ratio(a: str, b: str, **kwargs: Any) -> float:
        scored.append((a, b))
        return float(fuzz.ratio(a, b, **kwargs))

    monkeypatch.setattr(assemble, "fuzz", SimpleNamespace(ratio=counting_ratio))
    assert _summary(deduplicate(entries, window=window)) == expected
    texts = [(e.source, t) for e in entries for t in e.match]
    cross = sum(1 for i, (s, _) in enumerate(texts) for (r, _) in texts[:i] if r != s)
    assert 0 < len(scored) < cross / 20  # the bound ruled out more than 95% of the cross-source pairs
