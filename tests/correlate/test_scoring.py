"""Each signal of the pair score: links, text, time proximity, shared account; reports vs context."""

from __future__ import annotations

import numpy as np
import pytest

from caseline.correlate.normalize import Words, match_text
from caseline.correlate.scoring import Edges, ScoreParams, score_pairs

HOUR = 3600.0
PARAMS = ScoreParams(window_s=2 * HOUR, threshold=55.0)


def _score(texts: list[str], times_h: list[float], *, accounts: list[str | None] | None = None,
           reports: list[bool] | None = None, links: list[tuple[int, int]] | None = None,
           params: ScoreParams = PARAMS) -> Edges:
    return score_pairs(
        t=np.asarray(times_h, dtype=np.float64) * HOUR,
        report=np.asarray(reports if reports is not None else [True] * len(texts)),
        match=[match_text(x, "") for x in texts],
        accounts=accounts or [f"a{k}.com" for k in range(len(texts))],
        links=links or [],
        params=params,
    )


def _pairs(edges: Edges) -> dict[tuple[int, int], tuple[float, float, bool]]:
    return {(int(a), int(b)): (float(s), float(x), bool(k))
            for a, b, s, x, k in zip(edges.i, edges.j, edges.score, edges.text, edges.link, strict=True)}


def test_similar_reports_within_the_window_are_an_edge_and_unrelated_ones_are_not() -> None:
    edges = _pairs(_score(
        ["CSV export fails with error 500", "Export to CSV fails with a 500 error", "How do I change my avatar"],
        [0.0, 0.5, 0.7],
    ))
    assert (0, 1) in edges and not edges[(0, 1)][2]
    assert (0, 2) not in edges and (1, 2) not in edges


def test_text_never_joins_items_further_apart_than_the_window() -> None:
    same = "CSV export fails with error 500 on the report page"
    assert (0, 1) in _pairs(_score([same, same], [0.0, 1.9]))
    assert _pairs(_score([same, same], [0.0, 2.1])) == {}


def test_the_same_text_scores_less_the_further_apart_in_time() -> None:
    same = "CSV export fails with error 500 on the report page"
    near = _pairs(_score([same, same], [0.0, 0.1]))[(0, 1)][0]
    far = _pairs(_score([same, same], [0.0, 1.9]))[(0, 1)][0]
    assert near > far


def test_a_shared_account_adds_to_the_score() -> None:
    texts = ["CSV export fails with error 500", "Export to CSV fails with a 500 error"]
    apart = _pairs(_score(texts, [0.0, 0.5], accounts=["a.com", "b.com"]))[(0, 1)][0]
    together = _pairs(_score(texts, [0.0, 0.5], accounts=["a.com", "a.com"]))[(0, 1)][0]
    assert together == apart + PARAMS.account_bonus


def test_an_explicit_link_is_near_certain_and_ignores_the_window() -> None:
    edges = _pairs(_score(["Export endpoint returning errors", "My invoice address is wrong"], [0.0, 30.0],
                          links=[(0, 1)]))
    assert edges[(0, 1)] == (PARAMS.link_score, 0.0, True)


def test_context_is_compared_with_reports_but_never_with_other_context() -> None:
    text = "customers report CSV export fails with error 500"
    edges = _pairs(_score([text, text, text], [0.0, 0.2, 0.4], reports=[False, False, True]))
    assert set(edges) == {(0, 2), (1, 2)}


def test_blocking_still_finds_pairs_when_a_word_is_everywhere_and_caps_crowded_blocks() -> None:
    texts = [f"CSV export fails with error {k} on report page number {k}" for k in range(300)]
    edges = _score(texts, [k / 300 for k in range(300)], params=ScoreParams(window_s=2 * HOUR, threshold=55.0,
                                                                          neighbours=40))
    assert len(edges) > 0
    degree = np.bincount(np.concatenate([edges.i, edges.j]), minlength=300)
    assert degree.max() <= 2 * 40  # each item compared with its nearest 40 per block, in both directions


def test_items_without_any_blocking_key_score_nothing() -> None:
    edges = _score(["ok", "hi", "CSV export fails with error 500"], [0.0, 0.1, 0.2], accounts=[None, None, None])
    assert len(edges) == 0


def test_blocking_keys_are_each_items_rarest_shared_words_then_its_account() -> None:
    from caseline.correlate.normalize import words_of
    from caseline.correlate.scoring import block_entries

    texts = ["alpha beta gamma delta", "alpha beta gamma", "alpha beta", "alpha epsilon", "zeta"]
    words = words_of(texts)
    owner, keys, count = block_entries(words, np.asarray([0, -1, 0, 1, -1]), 2)
    vocab = words.vocab
    held = {}
    for o, k in zip(owner.tolist(), keys.tolist(), strict=True):
        held.setdefault(o, []).append(vocab[k] if k < len(vocab) else f"account{k - len(vocab)}")
    # rarest first among words some other text has too (delta, epsilon, zeta are nobody else's)
    assert held == {0: ["gamma", "beta", "account0"], 1: ["gamma", "beta"], 2: ["beta", "alpha", "account0"],
                    3: ["alpha", "account1"]}
    assert count.tolist() == [3, 2, 3, 2, 0]


def _reference_candidates(
    words: Words, codes: np.ndarray, t: np.ndarray, report: np.ndarray, params: ScoreParams
) -> set[tuple[int, int]]:
    """Candidate pairs by the definition in scoring's docstring, the slow way: per key and time bucket,
    each item is paired with the earlier items of its run (the same key one bucket earlier, then its
    own bucket): all of them in a small block, its `neighbours` just before it in a crowded one."""
    from collections import Counter, defaultdict

    from caseline.correlate.scoring import block_entries

    owner, keys, count = block_entries(words, codes, params.block_words)
    bucket = np.floor(t / params.window_s).astype(np.int64)
    runs: dict[tuple[int, int], list[int]] = defaultdict(list)
    for item, key in zip(owner.tolist(), keys.tolist(), strict=True):
        runs[(key, int(bucket[item]))].append(item)
    shared: Counter[tuple[int, int]] = Counter()
    for (key, b), members in runs.items():
        if len(members) > params.max_block:
            continue
        prev = runs.get((key, b - 1), [])
        prev = sorted(prev) if len(prev) <= params.max_block else []
        run = prev + sorted(members)
        small = len(run) <= params.neighbours
        for at in range(len(prev), len(run)):
            for other in run[0 if small else max(0, at - params.neighbours) : at]:
                shared[(other, run[at])] += 1
    return {
        (a, b) for (a, b), n in shared.items()
        if n >= min(params.min_shared, count[a], count[b]) and abs(t[a] - t[b]) <= params.window_s
        and (report[a] or report[b])
    }


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize(("neighbours", "max_block", "chunk"), [(24, 4000, 10_000), (6, 4000, 150), (4, 14, 90)])
def test_candidate_pairs_are_the_blocking_definition_whatever_the_chunks(
    neighbours: int, max_block: int, chunk: int, compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from caseline.correlate import scoring
    from caseline.correlate.normalize import words_of

    monkeypatch.setattr(scoring, "_CHUNK_ITEMS", chunk)
    monkeypatch.setattr(scoring, "_COMPILED_FROM", 0 if compiled else 10**9)  # numba, or numpy alone
    rng = np.random.default_rng(neighbours)
    n = 2500
    t = np.sort(rng.uniform(0, 3 * 86400, n))
    common = [f"common{k}" for k in range(6)]  # crowded blocks
    rare = [f"rare{k}" for k in range(400)]
    texts = [" ".join([*rng.choice(common, rng.integers(0, 4)), *rng.choice(rare, rng.integers(0, 5))])
             for _ in range(n)]
    report = rng.random(n) < 0.6
    accounts = [None if rng.random() < 0.3 else f"a{rng.integers(0, 40)}.com" for _ in range(n)]
    # no threshold, no bonus, no penalty: every candidate pair comes out as an edge
    params = ScoreParams(window_s=7200.0, threshold=-1000.0, account_bonus=0.0, time_penalty=0.0,
                         neighbours=neighbours, max_block=max_block, block_words=4)
    words = words_of(texts)
    edges = score_pairs(t=t, report=report, match=texts, accounts=accounts, links=[], params=params, words=words)
    found = set(zip(edges.i.tolist(), edges.j.tolist(), strict=True))
    expected = _reference_candidates(words, scoring._account_codes(accounts), t, report, params)
    assert len(expected) > 500
    assert found == expected
    assert edges.candidates == len(expected)
