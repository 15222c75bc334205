"""The compiled merge loop (numba) gives exactly the labels of the Python one it stands in for."""

from __future__ import annotations

import numpy as np
import pytest

from caseline.correlate.cluster import cluster
from caseline.correlate.scoring import Edges

WINDOW = 7200.0


def random_world(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, Edges]:
    """Items in time order with dense topics (groups that merge and refuse), chatter and a few links."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 10 * 86400, n))
    report = rng.random(n) < 0.7
    topic = rng.integers(0, max(2, n // 40), n)
    pairs: dict[tuple[int, int], tuple[float, bool]] = {}
    for i in range(n):
        # time neighbours: the same topic reads alike, others now and then
        hi = int(np.searchsorted(t, t[i] + WINDOW, side="right"))
        for j in range(i + 1, min(hi, i + 60)):
            if not (report[i] or report[j]):
                continue
            alike = topic[i] == topic[j]
            if rng.random() < (0.6 if alike else 0.03):
                pairs[(i, j)] = (float(rng.uniform(60, 100) if alike else rng.uniform(55, 70)), False)
    for _ in range(n // 50):
        i, j = sorted(rng.choice(n, 2, replace=False).tolist())
        pairs[(i, j)] = (100.0, True)
    keys = list(pairs)
    score = np.asarray([pairs[k][0] for k in keys], dtype=np.float32)
    score[rng.random(len(score)) < 0.2] = 70.0  # ties: the order among equal scores must agree too
    edges = Edges(
        np.asarray([k[0] for k in keys], dtype=np.int32),
        np.asarray([k[1] for k in keys], dtype=np.int32),
        score,
        score.copy(),
        np.asarray([pairs[k][1] for k in keys], dtype=bool),
    )
    return t, report, edges


@pytest.mark.parametrize("linkage", ["average", "core", "single"])
@pytest.mark.parametrize(("seed", "min_density", "compared"), [(1, 0.05, 24), (2, 0.3, 8), (3, 0.6, 4), (4, 0.15, 12)])
def test_compiled_and_python_merge_loops_agree(linkage: str, seed: int, min_density: float, compared: int) -> None:
    t, report, edges = random_world(seed, 1500)
    common = {"t": t, "report": report, "window_s": WINDOW, "min_density": min_density, "linkage": linkage,
              "compared": compared}
    python = cluster(len(t), edges, compiled=False, **common)
    compiled = cluster(len(t), edges, compiled=True, **common)
    assert len(np.unique(python)) < len(t) - 100  # the world really forms groups (and the test can fail)
    if linkage != "single":
        assert len(np.unique(python)) > len(np.unique(cluster(len(t), edges, compiled=False, **{
            **common, "linkage": "single"})))  # and refuses some merges single-link would make
    np.testing.assert_array_equal(compiled, python)


def test_items_out_of_time_order_take_the_python_loop() -> None:
    t, report, edges = random_world(5, 400)
    shuffled = t[::-1].copy()  # the compiled loop needs time order (its windows are runs of positions)
    common = {"report": report, "window_s": WINDOW, "min_density": 0.05, "linkage": "average", "compared": 24}
    np.testing.assert_array_equal(
        cluster(len(t), edges, t=shuffled, compiled=True, **common),
        cluster(len(t), edges, t=shuffled, compiled=False, **common),
    )
