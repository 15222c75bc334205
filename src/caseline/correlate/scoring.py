"""Pair scores: explicit links, text similarity, time proximity and shared account, combined into one.

No run builds all pairs. Candidates come from blocks: items in the same time bucket (width = the
correlation window) or the one before it that share blocking keys, namely their rarest words (that some
other item also has) and their account. A pair must share two keys (fewer only when an item has fewer):
paraphrases of one problem share several of their rarer words, strangers share one by chance. Blocks are
expanded into pairs with numpy (no Python loop per block); in a crowded block (an incident, an everyday
question) each item is paired with the `neighbours` items just before it in time only, which keeps the
work linear in the number of items. The surviving pairs are scored with `rapidfuzz.process.cpdist` on all
cores, on sorted-token strings, so `fuzz.ratio` there is `token_sort_ratio` without re-tokenizing. Work
goes chunk by chunk (whole time buckets): the next chunk's pairs are found (counted compiled, in
`_scoring_kernel.py`) and its texts formed on a thread while this chunk's are scored.

The combined score of a pair (i, j):

    link between them (either direction)         -> link_score (near-certain; ignores the window)
    |t_i - t_j| > window                         -> no text pair at all (contract: correlate.window)
    otherwise  text + account_bonus * same_account - time_penalty * |t_i - t_j| / window

so the same text counts for less the further apart in time two items are, and a customer repeating
itself reads as related (it still counts once toward accounts). Only pairs with at least one report are
scored: context (Slack, Jira, Linear, HubSpot notes) joins through reports or links, never through other
context, which is what keeps chatter from forming incidents on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
from rapidfuzz import fuzz, process

from caseline.correlate.normalize import Words, sorted_tokens, words_of

__all__ = ["SCORERS", "Edges", "ScoreParams", "block_entries", "form_for", "score_pairs", "text_scores"]

SCORERS: dict[str, tuple[Callable[..., float], bool]] = {
    # name: (rapidfuzz scorer, compares sorted-token strings)
    "token_sort": (fuzz.ratio, True),
    "ratio": (fuzz.ratio, False),
    "token_set": (fuzz.token_set_ratio, False),
    "token": (fuzz.token_ratio, False),
    "wratio": (fuzz.WRatio, False),
}

_THREADED = 20_000  # pairs worth rapidfuzz's worker threads
_COMPILED_FROM = 30_000  # blocking entries in a chunk from which its pairs are counted compiled
_CHUNK_ITEMS = 10_000  # items whose pairs are generated and scored together (bounds memory)


@dataclass(frozen=True)
class ScoreParams:
    window_s: float
    threshold: float
    link_score: float = 100.0
    account_bonus: float = 8.0
    time_penalty: float = 10.0
    scorer: str = "token_sort"
    block_words: int = 8
    min_shared: int = 2
    max_block: int = 4000
    neighbours: int = 24


@dataclass
class Edges:
    """Scored pairs with i < j. `score` is the combined score; `text` the raw rapidfuzz score."""

    i: np.ndarray
    j: np.ndarray
    score: np.ndarray
    text: np.ndarray
    link: np.ndarray
    candidates: int = 0
    """How many text pairs were scored (after blocking): the work actually done."""

    @classmethod
    def empty(cls) -> Edges:
        z = np.zeros(0, dtype=np.int32)
        f = np.zeros(0, dtype=np.float32)
        return cls(z, z.copy(), f, f.copy(), np.zeros(0, dtype=bool))

    def __len__(self) -> int:
        return len(self.i)


def block_entries(words: Words, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each item's blocking keys: its `k` rarest words that some other item also has, and its account.
    `codes` number the items' accounts (-1: none). Returns (owner, key id) per key, owners ascending, and
    the number of keys per item."""
    n = len(words)
    owner, ids = words.flat()
    seen = np.bincount(ids, minlength=len(words.vocab)).astype(np.int32)[ids]
    shared = seen > 1
    owner, ids, seen = owner[shared], ids[shared], seen[shared]
    del shared
    # per item, rarest first (ties by word id): one sort of (owner, seen, id) packed into 64 bits beats a
    # three-key lexsort; each field takes the bits its largest value needs
    bits_id = max(1, len(words.vocab).bit_length())
    bits_seen = max(1, int(seen.max(initial=0)).bit_length())
    if max(1, n.bit_length()) + bits_seen + bits_id <= 63:
        packed = (owner.astype(np.int64) << (bits_seen + bits_id)) | (seen.astype(np.int64) << bits_id) | ids
        del seen
        packed.sort()
        owner = (packed >> (bits_seen + bits_id)).astype(np.int32)
        ids = (packed & ((1 << bits_id) - 1)).astype(np.int32)
        del packed
    else:
        order = np.lexsort((ids, seen, owner))
        del seen
        owner, ids = owner[order], ids[order]
        del order
    keep = (np.arange(len(owner), dtype=np.int32) - np.searchsorted(owner, owner, side="left")) < k
    owner, ids = owner[keep].astype(np.int64), ids[keep].astype(np.int64)
    del keep
    with_account = np.flatnonzero(codes >= 0)
    owner = np.concatenate([owner, with_account])
    ids = np.concatenate([ids, codes[with_account] + len(words.vocab)])
    order = np.argsort(owner, kind="stable")
    return owner[order], ids[order], np.bincount(owner, minlength=n)


def form_for(scorer: str) -> Callable[[str], str]:
    """What a match text becomes before `scorer` compares it (sorted tokens for token_sort)."""
    return sorted_tokens if SCORERS[scorer][1] else _same


def _same(text: str) -> str:
    return text


def text_scores(a: Sequence[str], b: Sequence[str], scorer: str, *, cutoff: float = 0) -> np.ndarray:
    """The matrix of text scores between two lists of match texts (for titles, baselines, benchmarks)."""
    fn, presort = SCORERS[scorer]
    if presort:
        a = [sorted_tokens(x) for x in a]
        b = [sorted_tokens(x) for x in b]
    workers = -1 if len(a) * len(b) >= _THREADED else 1
    return process.cdist(a, b, scorer=fn, score_cutoff=cutoff or None, dtype=np.uint8, workers=workers)


def score_pairs(
    *,
    t: np.ndarray,
    report: np.ndarray,
    match: Sequence[str],
    accounts: Sequence[str | None],
    links: Sequence[tuple[int, int]],
    params: ScoreParams,
    words: Words | None = None,
) -> Edges:
    """Every edge of the working set: link pairs, and blocked text pairs whose combined score passes.

    Items must be in time order (positions then follow time, and buckets are contiguous).
    """
    n = len(match)
    if n == 0:
        return Edges.empty()
    if words is None:
        words = words_of(match)
    codes = _account_codes(accounts)
    owner, key_ids, key_count = block_entries(words, codes, params.block_words)
    bucket = np.floor(t / params.window_s).astype(np.int64)
    fn, presort = SCORERS[params.scorer]
    cutoff = max(0.0, params.threshold - params.account_bonus)
    formed = _Formed(match, sorted_tokens if presort else None)
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    candidates = 0
    # chunks of whole buckets; each also sees the bucket before it
    bounds = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    chunks: list[tuple[int, int, int]] = []
    start = 0
    while start < n:
        at = int(np.searchsorted(bounds, start + _CHUNK_ITEMS))  # the first bucket start past the chunk size
        stop = int(bounds[at]) if at < len(bounds) else n
        chunks.append((int(np.searchsorted(bucket, bucket[start] - 1, side="left")), start, stop))
        start = stop

    pairs_of = partial(_chunk_pairs, owner, key_ids, key_count, bucket, report, t, params, formed)

    # the next chunk's pairs are found and its texts formed on a thread while this chunk's are scored
    with ThreadPoolExecutor(max_workers=1) as ahead:
        upcoming = ahead.submit(pairs_of, chunks[0]) if chunks else None
        for k in range(len(chunks)):
            assert upcoming is not None
            a, c, left, right = upcoming.result()
            upcoming = ahead.submit(pairs_of, chunks[k + 1]) if k + 1 < len(chunks) else None
            if not len(a):
                continue
            candidates += len(a)
            scores = process.cpdist(
                left, right, scorer=fn, score_cutoff=cutoff or None, dtype=np.uint8,
                workers=-1 if len(a) >= _THREADED else 1,
            )
            found.append(_combined(a, c, scores, t=t, codes=codes, params=params))
    del pairs_of, owner, key_ids, key_count, formed  # before the edges are put together (the peak of memory)
    text_edges = _finish_text(found)
    edges = _with_links(text_edges, links, n, params)
    edges.candidates = candidates
    return edges


class _Formed:
    """The texts as the scorer compares them, each formed once as the chunks move forward in time, and
    let go once no later chunk can reach them (below the bucket before the current chunk)."""

    def __init__(self, match: Sequence[str], form: Callable[[str], str] | None) -> None:
        self.match = match
        self.form = form
        self.texts = np.empty(len(match), dtype=object)
        self.lo = self.hi = 0  # texts[lo:hi] are formed

    def _fill(self, lo: int, hi: int) -> None:
        part = self.match[lo:hi]
        self.texts[lo:hi] = [self.form(m) for m in part] if self.form else list(part)

    def take(self, a: np.ndarray, c: np.ndarray, floor: int) -> tuple[np.ndarray, np.ndarray]:
        lo = min(int(a.min()), int(c.min()))
        hi = max(int(a.max()), int(c.max())) + 1
        if floor > self.lo:
            self.texts[self.lo : min(floor, self.hi)] = None
            self.lo = min(floor, self.hi)
        if self.lo == self.hi:
            self.lo = self.hi = lo
        if lo < self.lo:
            self._fill(lo, self.lo)
            self.lo = lo
        if hi > self.hi:
            self._fill(self.hi, hi)
            self.hi = hi
        return self.texts[a], self.texts[c]


def _chunk_pairs(
    owner: np.ndarray, key_ids: np.ndarray, key_count: np.ndarray, bucket: np.ndarray, report: np.ndarray,
    t: np.ndarray, params: ScoreParams, formed: _Formed, chunk: tuple[int, int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A chunk's candidate pairs, and their texts as the scorer compares them."""
    prev_lo, start, stop = chunk
    a, c = _candidates(owner, key_ids, key_count, bucket, report, t, prev_lo, start, stop, params)
    if not len(a):
        return a, c, a, c
    left, right = formed.take(a, c, floor=prev_lo)
    return a, c, left, right


def _candidates(
    owner: np.ndarray, key_ids: np.ndarray, key_count: np.ndarray, bucket: np.ndarray, report: np.ndarray,
    t: np.ndarray, prev_lo: int, start: int, stop: int, params: ScoreParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Deduplicated pairs (i < j) with an item in [start, stop) that share enough keys in the same or the
    previous bucket, lie within the window, and include a report."""
    first = int(np.searchsorted(owner, prev_lo, side="left"))
    last = int(np.searchsorted(owner, stop, side="left"))
    if last - first < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    items = owner[first:last]
    keys = key_ids[first:last]
    buckets = bucket[items]
    order = np.lexsort((items, buckets, keys))
    items, keys, buckets = items[order], keys[order], buckets[order]
    edge = np.r_[True, (keys[1:] != keys[:-1]) | (buckets[1:] != buckets[:-1])]
    seg_start = np.flatnonzero(edge)
    seg_len = np.diff(np.r_[seg_start, len(items)])
    seg_key = keys[seg_start]
    seg_bucket = buckets[seg_start]
    in_chunk = seg_bucket >= bucket[start]
    has_prev = np.r_[False, (seg_key[1:] == seg_key[:-1]) & (seg_bucket[1:] == seg_bucket[:-1] + 1)]
    prev_len = np.where(has_prev, np.r_[0, seg_len[:-1]], 0)
    usable = in_chunk & (seg_len <= params.max_block)
    prev_len = np.where(prev_len <= params.max_block, prev_len, 0)
    small = usable & (seg_len + prev_len <= params.neighbours)
    # every entry reaches back over its run (the same key's run one bucket earlier, then its own): all of
    # it in a small block, its `neighbours` just before it in a crowded one
    reach = np.where(small, -1, params.neighbours)
    run_lo = np.repeat(seg_start - prev_len, seg_len).astype(np.int64)
    entry_reach = np.repeat(reach, seg_len).astype(np.int64)
    entry_usable = np.repeat(usable, seg_len)
    if len(order) < _COMPILED_FROM:  # an incremental run: numpy alone (importing numba costs half a second)
        return _counted_pairs(items, run_lo, entry_reach, entry_usable, key_count, t, report, params, prev_lo, stop)
    from caseline.correlate._scoring_kernel import chunk_pairs  # numba: imported (and compiled) when used

    sorted_at = np.empty(len(order), dtype=np.int64)
    sorted_at[order] = np.arange(len(order), dtype=np.int64)
    lo, hi = chunk_pairs(
        start, stop, prev_lo,
        np.searchsorted(owner[first:last], np.arange(start, stop + 1, dtype=np.int64), side="left").astype(np.int64),
        sorted_at, items.astype(np.int64), run_lo, entry_reach, entry_usable,
        key_count, t, report, float(params.window_s), int(params.min_shared),
    )
    by_pair = np.lexsort((hi, lo))  # in pair order, as `_counted_pairs` gives them
    return lo[by_pair], hi[by_pair]


def _counted_pairs(
    items: np.ndarray, run_lo: np.ndarray, reach: np.ndarray, usable: np.ndarray, key_count: np.ndarray,
    t: np.ndarray, report: np.ndarray, params: ScoreParams, base: int, stop: int,
) -> tuple[np.ndarray, np.ndarray]:
    """What `_scoring_kernel.chunk_pairs` finds, with numpy: every (pair, shared key) generated from the
    later entry, then sorted so that equal pairs are runs whose lengths are the keys they share."""
    entries = np.flatnonzero(usable)
    first = np.where(reach[entries] >= 0, np.maximum(run_lo[entries], entries - reach[entries]), run_lo[entries])
    lens = entries - first
    total = int(lens.sum())
    if not total:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    later = np.repeat(entries, lens)
    earlier = np.repeat(first, lens) + (np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens))
    span = stop - base
    pairs = (items[earlier] - base) * span + (items[later] - base)  # earlier runs hold earlier items
    pairs.sort()
    starts = np.flatnonzero(np.r_[True, pairs[1:] != pairs[:-1]])
    shared = np.diff(np.r_[starts, len(pairs)])
    lo, hi = pairs[starts] // span + base, pairs[starts] % span + base
    need = np.minimum(params.min_shared, np.minimum(key_count[lo], key_count[hi]))
    keep = (shared >= need) & (np.abs(t[lo] - t[hi]) <= params.window_s) & (report[lo] | report[hi])
    return lo[keep], hi[keep]


def _combined(
    lo: np.ndarray, hi: np.ndarray, text: np.ndarray, *, t: np.ndarray, codes: np.ndarray, params: ScoreParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The combined score of scored pairs (module docstring); only the pairs that pass are kept."""
    s = text.astype(np.float32)
    dt = np.abs(t[lo] - t[hi])
    same = (codes[lo] == codes[hi]) & (codes[lo] >= 0)
    combined = (s + params.account_bonus * same - params.time_penalty * (dt / params.window_s)).astype(np.float32)
    keep = combined >= params.threshold
    return lo[keep].astype(np.int32), hi[keep].astype(np.int32), combined[keep], s[keep]


def _finish_text(found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> Edges:
    """The chunks' edges as one set of arrays, a column at a time (each column's parts let go as soon as
    it is joined: ten million edges are 180 MB, and twice that at once is what this avoids)."""
    if not found:
        return Edges.empty()
    columns = [list(parts) for parts in zip(*found, strict=True)]
    found.clear()
    joined: list[np.ndarray] = []
    for parts in columns:
        joined.append(np.concatenate(parts))
        parts.clear()
    lo, hi, score, text = joined
    return Edges(lo, hi, score, text, np.zeros(len(lo), dtype=bool))


def _with_links(text: Edges, links: Sequence[tuple[int, int]], n: int, params: ScoreParams) -> Edges:
    if not links:
        return text
    la = np.asarray([a for a, _ in links], dtype=np.int64)
    lb = np.asarray([b for _, b in links], dtype=np.int64)
    link_keys = la * n + lb
    text_keys = text.i.astype(np.int64) * n + text.j
    known = np.sort(link_keys)  # few links, millions of text pairs: search the links (`isin` sorts both)
    at = np.minimum(np.searchsorted(known, text_keys), len(known) - 1)
    overlap = known[at] == text_keys
    del at
    # a linked pair that also reads alike keeps its text score beside the link
    text_of_link = dict(zip(text_keys[overlap].tolist(), text.text[overlap].tolist(), strict=True))
    link_text = np.asarray([text_of_link.get(k, 0.0) for k in link_keys.tolist()], dtype=np.float32)
    text_only = ~overlap
    del text_keys, overlap
    # links first, then the text edges; built a column at a time, each old column let go as it is replaced
    text.i = np.concatenate([la.astype(np.int32), text.i[text_only]])
    text.j = np.concatenate([lb.astype(np.int32), text.j[text_only]])
    text.score = np.concatenate([np.full(len(la), params.link_score, dtype=np.float32), text.score[text_only]])
    text.text = np.concatenate([link_text, text.text[text_only]])
    text.link = np.concatenate([np.ones(len(la), dtype=bool), np.zeros(int(text_only.sum()), dtype=bool)])
    return text


def _account_codes(accounts: Sequence[str | None]) -> np.ndarray:
    codes: dict[str, int] = {}
    return np.fromiter(
        (-1 if a is None else codes.setdefault(a, len(codes)) for a in accounts), dtype=np.int64, count=len(accounts)
    )
