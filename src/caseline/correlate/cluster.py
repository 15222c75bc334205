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

Speed: a first run over a million items makes about half a million merges and as many merge checks.
Without constraints (no incidents yet) and with items in time order, the loop runs compiled
(`_cluster_kernel.py`, numba; tested to give the same labels); otherwise it runs here in Python, which
an incremental run's few thousand items never notice.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from caseline.correlate.scoring import Edges

__all__ = ["LINKAGES", "Constraints", "cluster", "members_by_label"]

LINKAGES = ("core", "average", "single")
_SUPPORT = 2  # "core": members on each side that must take part in the matches between two groups
_RETRY_GROWTH = 1.25  # a refused merge is reconsidered once the two groups have grown by a quarter
_COMPILED_FROM = 100_000  # edges from which the compiled merge loop pays for importing numba
_SLICE = 20_000  # edges handled per Python-level pass (bounded memory; settled edges dropped in bulk)


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
        self.labels = np.arange(n, dtype=np.int64)  # the same, for numpy (kept in step by `union`)
        self.members: dict[int, list[int]] = {}
        self.sizes: list[int] = [1] * n  # by root
        self.t: list[float] = t.tolist()
        self.report: list[bool] = report.tolist()
        self.window_s = window_s
        self._times: dict[int, tuple[list[float], list[float]]] = {}
        self.incidents: dict[int, set[str]] = {}
        self.bans: dict[int, set[str]] = {}
        self.compared = 24

    def of(self, root: int) -> list[int]:
        return self.members.get(root) or [root]

    def times(self, root: int) -> tuple[list[float], list[float]]:
        """Sorted times of all members, and of report members."""
        cached = self._times.get(root)
        if cached is None:
            members = self.of(root)
            cached = (sorted(self.t[m] for m in members), sorted(self.t[m] for m in members if self.report[m]))
            self._times[root] = cached
        return cached

    def union(self, a: int, b: int) -> int:
        sizes = self.sizes
        if sizes[a] < sizes[b]:
            a, b = b, a
        sizes[a] += sizes[b]
        moved = self.of(b)
        keep = self.members.setdefault(a, [a])
        keep.extend(moved)
        self.members.pop(b, None)
        label = self.label
        for m in moved:
            label[m] = a
        self.labels[moved] = a
        held = self._times.get(a)
        if held is not None:  # kept up to date: the exact count is asked of the same big groups again and again
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
        if self.incidents or self.bans:
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
    compiled: bool | None = None,
) -> np.ndarray:
    """A root label per item: items with the same label form one group. `compared` is how many items
    scoring compares one item with at most (crowded blocks): the density counts no more pairs than that.

    `compiled`: take the merges in numba (`_cluster_kernel.py`; same result) when there are no
    constraints and the items are in time order; by default from `_COMPILED_FROM` edges on."""
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
    if compiled is None:
        compiled = len(edges) >= _COMPILED_FROM
    if compiled and not rules.groups and not rules.banned and bool(np.all(t[1:] >= t[:-1])):
        return _compiled(n, edges, t=t, report=report, window_s=window_s, min_density=min_density,
                         linkage=linkage, compared=compared)
    indptr, neighbours = _adjacency(n, edges)
    order = np.lexsort((-edges.score, ~edges.link))
    # in processing order once (slices are then contiguous: gathering them at random costs seconds)
    all_a, all_b, all_link = edges.i[order], edges.j[order], edges.link[order]
    del order
    failed: dict[tuple[int, int], int] = {}  # (root, root) → their combined size when a merge was refused
    check = linkage != "single"
    sizes = groups.sizes
    for lo in range(0, len(all_a), _SLICE):
        ea, eb, el = all_a[lo : lo + _SLICE], all_b[lo : lo + _SLICE], all_link[lo : lo + _SLICE]
        if lo:  # edges inside one group already are most of a dense graph: drop them in bulk
            now = groups.labels
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
                size_a, size_b = sizes[ra], sizes[rb]
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


def _compiled(
    n: int, edges: Edges, *, t: np.ndarray, report: np.ndarray, window_s: float, min_density: float, linkage: str,
    compared: int,
) -> np.ndarray:
    from caseline.correlate import _cluster_kernel as kernel  # numba: imported (and compiled) only when needed

    with ThreadPoolExecutor(max_workers=1) as beside:  # the big sort beside the adjacency (both let go of the GIL)
        ordering = beside.submit(np.lexsort, (-edges.score, ~edges.link))
        indptr, neighbours = kernel.adjacency(n, edges.i, edges.j)
        order = ordering.result()
    t = np.asarray(t, dtype=np.float64)
    labels: np.ndarray = kernel.merge_loop(
        n,
        edges.i[order],
        edges.j[order],
        np.ascontiguousarray(edges.link[order], dtype=np.bool_),
        indptr,
        neighbours,
        np.ascontiguousarray(report, dtype=np.bool_),
        np.searchsorted(t, t - window_s, side="left").astype(np.int64),
        np.searchsorted(t, t + window_s, side="right").astype(np.int64),
        float(min_density),
        {"single": kernel.SINGLE, "average": kernel.AVERAGE, "core": kernel.CORE}[linkage],
        int(compared),
    )
    return labels


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
    """The merge rule of `linkage` for two groups (see the module docstring).

    Counting the comparable pairs exactly costs two binary searches per member, so the matches are
    counted first against an upper bound of what could be needed (every member compared as often as
    scoring compares at most): most merges in a crowded store pass that, and the exact count is only
    taken for the rest. The answer is the same either way."""
    small, large = (ra, rb) if groups.sizes[ra] <= groups.sizes[rb] else (rb, ra)
    members = groups.of(small)
    support = linkage == "core" and len(members) > 1
    bound = len(members) * min(groups.compared, groups.sizes[large])
    need_at_most = max(1, math.ceil(min_density * bound - 1e-9))
    if need_at_most <= 1 and not support:
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
                    if hits >= need_at_most and len(owners) >= _SUPPORT and len(reached) >= _SUPPORT:
                        return True
                elif hits >= need_at_most:
                    return True
    # every match between them is counted now: compare with what the comparable pairs really ask
    need_hits = max(1, math.ceil(min_density * _comparable(groups, members, large) - 1e-9))
    if need_hits <= 1 and not support:
        return True
    return hits >= need_hits and (not support or (len(owners) >= _SUPPORT and len(reached) >= _SUPPORT))


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


def members_by_label(labels: np.ndarray, *, min_size: int = 1) -> dict[int, list[int]]:
    """Positions grouped by their label, for groups of `min_size` or more: positions ascending within a
    group, groups in the order of their first position."""
    labels = np.asarray(labels)
    if not len(labels):
        return {}
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, len(labels)])
    keep = sizes >= min_size
    starts, sizes = starts[keep], sizes[keep]
    by_first = np.argsort(order[starts], kind="stable")  # groups in the order of their earliest member
    starts, sizes = starts[by_first], sizes[by_first]
    out: dict[int, list[int]] = {}
    for first, size, label in zip(starts.tolist(), sizes.tolist(), ordered[starts].tolist(), strict=True):
        out[label] = order[first : first + size].tolist()
    return out
