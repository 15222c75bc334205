"""Each signal of the pair score: links, text, time proximity, shared account; reports vs context."""

from __future__ import annotations

import numpy as np
import pytest

from caseline.correlate.normalize import match_text
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


@pytest.mark.parametrize("span", [1000, 70_000])
def test_pair_codes_round_trip_in_32_and_64_bits(span: int) -> None:
    from caseline.correlate.scoring import _PairCode

    code = _PairCode(500, span)
    rng = np.random.default_rng(span)
    a = rng.integers(500, 500 + span, 1000)
    b = rng.integers(500, 500 + span, 1000)
    coded = code.encode(a, b)
    assert coded.dtype == (np.uint32 if span * span < 2**32 else np.int64)
    lo, hi = code.decode(coded)
    assert lo.tolist() == np.minimum(a, b).tolist() and hi.tolist() == np.maximum(a, b).tolist()
