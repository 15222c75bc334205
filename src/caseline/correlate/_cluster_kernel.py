"""`cluster.cluster`'s merge loop compiled with numba, for big working sets without constraints.

A first run over a million items makes half a million merges and as many merge checks; in Python each
costs tens of microseconds of interpreter overhead, in numba well under one. The rule is the one
`cluster.py` documents and implements in Python (that version also handles responder decisions and
any item order); `tests/correlate/test_cluster_kernel.py` checks that both give the same labels.

Differences of means, not of result:
- members of a group are a linked list (`following`), the group's root at its head;
- the comparable pairs of a member are counted by scanning the items within the window of it (items
  are in time order, so they are one run of positions), stopping at `compared`: the Python version
  keeps each group's member times sorted instead, which here would cost a copy per merge.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["AVERAGE", "CORE", "SINGLE", "merge_loop"]

SINGLE, AVERAGE, CORE = 0, 1, 2
_SUPPORT = 2
_RETRY_GROWTH = 1.25


@njit(cache=True, nogil=True)
def merge_loop(
    n: int,
    ea: np.ndarray,
    eb: np.ndarray,
    el: np.ndarray,
    indptr: np.ndarray,
    neighbours: np.ndarray,
    report: np.ndarray,
    window_lo: np.ndarray,
    window_hi: np.ndarray,
    min_density: float,
    linkage: int,
    compared: int,
) -> np.ndarray:
    """Root labels after taking the edges (`ea`, `eb`, `el` = is a link) in the order given."""
    label = np.arange(n)
    size = np.ones(n, dtype=np.int64)
    following = np.full(n, -1, dtype=np.int64)
    tail = np.arange(n)
    stamp = np.zeros(n, dtype=np.int64)  # marks items reached in the current check (core linkage)
    failed = dict()  # (root, root) as one int → their combined size when a merge was refused
    failed[-1] = 0
    check = linkage != SINGLE
    checks = 0
    for k in range(len(ea)):
        ra = label[ea[k]]
        rb = label[eb[k]]
        if ra == rb:
            continue
        if check and not el[k]:
            size_a = size[ra]
            size_b = size[rb]
            if size_a > 1 or size_b > 1:
                key = min(ra, rb) * n + max(ra, rb)
                refused = failed.get(key, -1)
                if refused >= 0 and size_a + size_b < refused * _RETRY_GROWTH:
                    continue
                checks += 1
                if not _may_merge(ra, rb, label, size, following, indptr, neighbours, report, window_lo,
                                  window_hi, min_density, linkage, compared, stamp, checks):
                    failed[key] = size_a + size_b
                    continue
        # union, the smaller group into the larger (the larger's root names the result)
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        size[ra] += size[rb]
        m = rb
        while m != -1:
            label[m] = ra
            m = following[m]
        following[tail[ra]] = rb
        tail[ra] = tail[rb]
    return label


@njit(cache=True, nogil=True)
def _may_merge(
    ra: int, rb: int, label: np.ndarray, size: np.ndarray, following: np.ndarray, indptr: np.ndarray,
    neighbours: np.ndarray, report: np.ndarray, window_lo: np.ndarray, window_hi: np.ndarray,
    min_density: float, linkage: int, compared: int, stamp: np.ndarray, check: int,
) -> bool:
    if size[ra] <= size[rb]:
        small, large = ra, rb
    else:
        small, large = rb, ra
    members = size[small]
    support = linkage == CORE and members > 1
    bound = members * min(compared, size[large])
    need_at_most = max(1, math.ceil(min_density * bound - 1e-9))
    if need_at_most <= 1 and not support:
        return True
    hits = 0
    owners = 0
    reached = 0
    m = small
    while m != -1:
        touched = False
        for e in range(indptr[m], indptr[m + 1]):
            y = neighbours[e]
            if label[y] == large:
                hits += 1
                if support:
                    touched = True
                    if stamp[y] != check:
                        stamp[y] = check
                        reached += 1
        if touched:
            owners += 1
        if hits >= need_at_most and (not support or (owners >= _SUPPORT and reached >= _SUPPORT)):
            return True
        m = following[m]
    pairs = _comparable(small, large, label, size, following, report, window_lo, window_hi, compared)
    need = max(1, math.ceil(min_density * pairs - 1e-9))
    if need <= 1 and not support:
        return True
    return hits >= need and (not support or (owners >= _SUPPORT and reached >= _SUPPORT))


@njit(cache=True, nogil=True)
def _comparable(
    small: int, large: int, label: np.ndarray, size: np.ndarray, following: np.ndarray, report: np.ndarray,
    window_lo: np.ndarray, window_hi: np.ndarray, compared: int,
) -> int:
    """Pairs between the members of `small` and group `large` within the window of each other (at least
    one a report), at most `compared` per member. Either each member's window is scanned (cheap when
    the small group is small) or the large group's positions are sorted once and searched (cheap when
    the windows are many); whichever costs less."""
    scan_cost = 0
    m = small
    while m != -1:
        scan_cost += window_hi[m] - window_lo[m]
        m = following[m]
    members = size[large]
    if scan_cost <= 4 * members * (math.log2(members + 1) + 2):
        pairs = 0
        m = small
        while m != -1:
            near = 0
            reports_only = not report[m]
            for p in range(window_lo[m], window_hi[m]):
                if label[p] == large and (report[p] or not reports_only):
                    near += 1
                    if near >= compared:
                        break
            pairs += near
            m = following[m]
        return pairs
    every = np.empty(members, dtype=np.int64)
    reports = np.empty(members, dtype=np.int64)
    k = 0
    r = 0
    m = large
    while m != -1:
        every[k] = m
        k += 1
        if report[m]:
            reports[r] = m
            r += 1
        m = following[m]
    every.sort()  # positions follow time
    reports = np.sort(reports[:r])
    pairs = 0
    m = small
    while m != -1:
        among = every if report[m] else reports
        near = np.searchsorted(among, window_hi[m]) - np.searchsorted(among, window_lo[m])
        pairs += min(compared, near)
        m = following[m]
    return pairs


@njit(cache=True, nogil=True)
def adjacency(n: int, ea: np.ndarray, eb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Neighbours of each item as CSR, filled in one pass (no sort, no temporary copies of the edges;
    the order within an item's neighbours does not matter to `merge_loop`)."""
    counts = np.zeros(n + 1, dtype=np.int64)
    for k in range(len(ea)):
        counts[ea[k] + 1] += 1
        counts[eb[k] + 1] += 1
    indptr = np.cumsum(counts)
    cursor = indptr[:-1].copy()
    neighbours = np.empty(indptr[-1], dtype=np.int32)
    for k in range(len(ea)):
        a = ea[k]
        b = eb[k]
        neighbours[cursor[a]] = b
        cursor[a] += 1
        neighbours[cursor[b]] = a
        cursor[b] += 1
    return indptr, neighbours
