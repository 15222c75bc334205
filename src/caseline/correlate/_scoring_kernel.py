"""The candidate pairs of one chunk, counted compiled (numba): `scoring._candidates` without a sort.

`_candidates` lays the chunk's blocking keys out as runs (one per key and time bucket, the same key's
run one bucket earlier right before it) and knows, for every entry, how far back in its run its
partners reach. Each pair is reached once per key the two share, from the later item's entry; this
counts those per later item with a marker array instead of generating every (pair, key) and sorting
them (a million items make some 180 million of those), and keeps the pairs that share enough keys, lie
within the window and include a report. The keep rule is `_counted_pairs`'s too; it is applied here,
inside the count, because most pairs share one key only, and carrying them all out to filter them
with numpy costs more than counting them (7 s of 11 at 1M items, measured).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["chunk_pairs"]


@njit(cache=True, nogil=True)
def chunk_pairs(
    start: int,
    stop: int,
    base: int,
    offsets: np.ndarray,
    sorted_at: np.ndarray,
    sorted_items: np.ndarray,
    run_lo: np.ndarray,
    reach: np.ndarray,
    usable: np.ndarray,
    key_count: np.ndarray,
    t: np.ndarray,
    report: np.ndarray,
    window_s: float,
    min_shared: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (lo, hi), lo < hi, hi an item in [start, stop). Item x's entries are `offsets[x - start]`
    up to `offsets[x - start + 1]`; entry j sits at `sorted_at[j]` among the runs; an entry at e reaches
    back to `max(run_lo[e], e - reach[e])` (no limit where `reach` is negative), if `usable`."""
    span = stop - base
    shared = np.zeros(span, dtype=np.int32)
    stamp = np.full(span, -1, dtype=np.int64)
    touched = np.empty(span, dtype=np.int64)
    out_lo = np.empty(1024, dtype=np.int64)
    out_hi = np.empty(1024, dtype=np.int64)
    found = 0
    for x in range(start, stop):
        many = 0
        for j in range(offsets[x - start], offsets[x - start + 1]):
            e = sorted_at[j]
            if not usable[e]:
                continue
            first = run_lo[e]
            if reach[e] >= 0:
                first = max(first, e - reach[e])
            for p in range(first, e):
                k = sorted_items[p] - base
                if stamp[k] != x:
                    stamp[k] = x
                    shared[k] = 0
                    touched[many] = k
                    many += 1
                shared[k] += 1
        for q in range(many):
            k = touched[q]
            y = k + base
            need = min(min_shared, min(key_count[y], key_count[x]))
            if shared[k] >= need and abs(t[x] - t[y]) <= window_s and (report[x] or report[y]):
                if found == len(out_lo):
                    out_lo = np.concatenate((out_lo, np.empty(found, dtype=np.int64)))
                    out_hi = np.concatenate((out_hi, np.empty(found, dtype=np.int64)))
                out_lo[found] = y
                out_hi[found] = x
                found += 1
    return out_lo[:found], out_hi[:found]
