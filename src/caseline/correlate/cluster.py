"""Clustering scored pairs into groups without chaining, obeying responder decisions.

Edges are taken strongest first (links, then combined score), as single-link clustering would. The
difference is the merge rule ("average" linkage): two groups join only when enough of the pairs between
them that *could* have matched (within the correlation window of each other, at least one a report) did,
i.e. when the share of those pairs that are edges is at least `min_density`. That is average linkage
over a binary similarity, restricted to comparable pairs:

- a vague message ("anyone else seeing errors?") that matches a few items in each of two unrelated
  groups cannot fuse them: between the groups almost no comparable pair matches;
- a six-hour outage reported every half hour still grows into one group: only pairs within the
  window are compared, so the first and last reports never need to match each other.

Comparable pairs are counted per item up to the number scoring compares it with (`compared`), so a
crowded incident is not held to pairs nobody scored. "core" linkage adds that on each side at least two
members take part in the matches. Explicit links merge unconditionally (a person said these belong
together). "single" linkage merges on any edge (kept for the benchmark that chose the rule); a refused
merge is reconsidered once the two groups have grown by a quarter.

Decisions enter as constraints: existing incidents start as groups; a dismissed incident merges with
no other incident; parts of a split never merge again; an excluded item never joins the incident it was
excluded from (or whatever that incident was merged into).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from caseline.correlate.scoring import Edges

__all__ = ["LINKAGES", "Constraints", "cluster", "members_by_label"]

LINKAGES = ("core", "average", "single")
_SUPPORT = 2  # "core": members on each side that must take part in the matches between two groups
_RETRY_GROWTH = 1.25  # a refused merge is reconsidered once the two groups have grown by a quarter
_SLICE = 250_000  # edges handled per Python-level pass (bounded memory; settled edges dropped in bulk)


@dataclass
class Constraints:
    """What earlier runs and responders have settled. Incident ids are current (merges followed)."""

    groups: Mapping[str, list[int]] = field(default_factory=dict)
    """Existing incident id → its members' positions in the working set."""
    dismissed: set[str] = field(default_factory=set)
    apart: set[frozenset[str]] = field(default_factory=set)
    """Pairs of incident ids that must stay apart (the two parts of a split)."""
    banned: Mapping[int, set[str]] = field(default_factory=dict)
    """Item position → incident ids it may never join (exclusions)."""


class _Groups:
    """Union-find with explicit member lists (small into large, so a label always names its root).

    Plain Python lists: almost every group is tiny, where numpy's per-call cost would dominate."""

    def __init__(self, n: int, t: np.ndarray, report: np.ndarray, window_s: float) -> None:
        self.label: list[int] = list(range(n))
        self.members: dict[int, list[int]] = {}
        self.t: list[float] = t.tolist()
        self.report: list[bool] = report.tolist()
        self.window_s = window_s
        self._times: dict[int, tuple[list[float], list[float]]] = {}
        self.incidents: dict[int, set[str]] = {}
        self.bans: dict[int, set[str]] = {}
        self.compared = 24

    def of(self, root: int) -> list[int]:
        return self.members.get(root) or [root]

    def size(self, root: int) -> int:
        held = self.members.get(root)
        return len(held) if held else 1

    def times(self, root: int) -> tuple[list[float], list[float]]:
        """Sorted times of all members, and of report members."""
        cached = self._times.get(root)
        if cached is None:
            members = self.of(root)
            cached = (sorted(self.t[m] for m in members), sorted(self.t[m] for m in members if self.report[m]))
            self._times[root] = cached
        return cached

    def union(self, a: int, b: int) -> int:
        if self.size(a) < self.size(b):
            a, b = b, a
        moved = self.of(b)
        keep = self.members.setdefault(a, [a])
        keep.extend(moved)
        self.members.pop(b, None)
        label = self.label
        for m in moved:
            label[m] = a
        held = self._times.get(a)
        if held is not None:
            all_times, report_times = held
            if len(moved) <= 16:
                for m in moved:
                    insort(all_times, self.t[m])
                    if self.report[m]:
                        insort(report_times, self.t[m])
            else:
                self._times[a] = (
                    sorted(all_times + [self.t[m] for m in moved]),
                    sorted(report_times + [self.t[m] for m in moved if self.report[m]]),
                )
        self._times.pop(b, None)
        for table in (self.incidents, self.bans):
            extra = table.pop(b, None)
            if extra:
                table.setdefault(a, set()).update(extra)
        return a


def _adjacency(n: int, edges: Edges) -> tuple[np.ndarray, np.ndarray]:
    """Neighbours of each item (CSR, numpy: a Python list of millions of ints would cost far more)."""
    src = np.concatenate([edges.i, edges.j])
    dst = np.concatenate([edges.j, edges.i])
    order = np.argsort(src, kind="stable")
    counts = np.bincount(src, minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, dst[order].astype(np.int32 if n < 2**31 else np.int64)


def cluster(
    n: int,
    edges: Edges,
    *,
    t: np.ndarray,
    report: np.ndarray,
    window_s: float,
    min_density: float,
    linkage: str = "core",
    constraints: Constraints | None = None,
    compared: int = 24,
) -> np.ndarray:
    """A root label per item: items with the same label form one group. `compared` is how many items
    scoring compares one item with at most (crowded blocks): the density counts no more pairs than that."""
    rules = constraints or Constraints()
    groups = _Groups(n, t, report, window_s)
    groups.compared = compared
    label = groups.label
    for incident_id, positions in rules.groups.items():
        if not positions:
            continue
        root = label[positions[0]]
        for other in positions[1:]:
            if label[other] != root:
                root = groups.union(root, label[other])
        groups.incidents.setdefault(label[positions[0]], set()).add(incident_id)
    for position, banned in rules.banned.items():
        groups.bans.setdefault(label[position], set()).update(banned)
    if not len(edges):
        return np.asarray(label, dtype=np.int64)
    indptr, neighbours = _adjacency(n, edges)
    order = np.lexsort((-edges.score, ~edges.link))
    failed: dict[tuple[int, int], int] = {}  # (root, root) → their combined size when a merge was refused
    check = linkage != "single"
    for lo in range(0, len(order), _SLICE):
        part = order[lo : lo + _SLICE]
        ea, eb, el = edges.i[part], edges.j[part], edges.link[part]
        if lo:  # edges inside one group already are most of a dense graph: drop them in bulk
            now = np.asarray(label, dtype=np.int64)
            apart = now[ea] != now[eb]
            ea, eb, el = ea[apart], eb[apart], el[apart]
        for a, b, is_link in zip(ea.tolist(), eb.tolist(), el.tolist(), strict=True):
            ra = label[a]
            rb = label[b]
            if ra == rb:
                continue
            if (groups.incidents or groups.bans) and not _allowed(groups, rules, ra, rb):
                continue
            if check and not is_link:
                size_a, size_b = groups.size(ra), groups.size(rb)
                if size_a > 1 or size_b > 1:
                    key = (ra, rb) if ra < rb else (rb, ra)
                    refused = failed.get(key)
                    if refused is not None and size_a + size_b < refused * _RETRY_GROWTH:
                        continue  # asked again only once the two have grown noticeably
                    if not _may_merge(groups, indptr, neighbours, ra, rb, linkage, min_density):
                        failed[key] = size_a + size_b
                        continue
            groups.union(ra, rb)
    return np.asarray(label, dtype=np.int64)


def _allowed(groups: _Groups, rules: Constraints, ra: int, rb: int) -> bool:
    ia = groups.incidents.get(ra)
    ib = groups.incidents.get(rb)
    if ia and ib:
        if (ia & rules.dismissed) or (ib & rules.dismissed):
            return False
        if rules.apart and any(frozenset((x, y)) in rules.apart for x in ia for y in ib):
            return False
    if ia and (ia & groups.bans.get(rb, set())):
        return False
    return not (ib and (ib & groups.bans.get(ra, set())))


def _may_merge(
    groups: _Groups, indptr: np.ndarray, neighbours: np.ndarray, ra: int, rb: int, linkage: str, min_density: float
) -> bool:
    """The merge rule of `linkage` for two groups (see the module docstring). The comparable pairs are
    counted first, so the matches need only be counted until there are enough."""
    small, large = (ra, rb) if groups.size(ra) <= groups.size(rb) else (rb, ra)
    members = groups.of(small)
    pairs = _comparable(groups, members, large)
    need_hits = max(1, math.ceil(min_density * pairs - 1e-9))
    support = linkage == "core" and len(members) > 1
    if need_hits <= 1 and not support:
        return True  # the edge at hand is match enough
    label = groups.label
    hits = 0
    owners: set[int] = set()
    reached: set[int] = set()
    for m in members:
        for y in neighbours[indptr[m] : indptr[m + 1]].tolist():
            if label[y] == large:
                hits += 1
                if support:
                    owners.add(m)
                    reached.add(y)
                    if hits >= need_hits and len(owners) >= _SUPPORT and len(reached) >= _SUPPORT:
                        return True
                elif hits >= need_hits:
                    return True
    return False  # too few matches between them, or (core) all through one item on a side


def _comparable(groups: _Groups, members: list[int], large: int) -> int:
    """Pairs between `members` and group `large` that could have matched: within the window of each
    other, at least one a report, and no more per member than scoring compares."""
    all_times, report_times = groups.times(large)
    w = groups.window_s
    cap = groups.compared
    pairs = 0
    for m in members:
        times = all_times if groups.report[m] else report_times
        tm = groups.t[m]
        pairs += min(cap, bisect_right(times, tm + w) - bisect_left(times, tm - w))
    return pairs


def members_by_label(labels: np.ndarray, positions: Iterable[int] | None = None) -> dict[int, list[int]]:
    """Group positions by their label."""
    out: dict[int, list[int]] = {}
    for i in positions if positions is not None else range(len(labels)):
        out.setdefault(int(labels[i]), []).append(i)
    return out
