"""Clustering: no chaining through a vague bridge, long incidents stay one, decisions as constraints."""

from __future__ import annotations

import numpy as np
import pytest

from caseline.correlate.cluster import Constraints, cluster
from caseline.correlate.normalize import match_text
from caseline.correlate.scoring import ScoreParams, score_pairs

from .helpers import EXPORT, LOGIN

HOUR = 3600.0
PARAMS = ScoreParams(window_s=2 * HOUR, threshold=55.0)


def _groups(texts: list[str], minutes: list[float], *, linkage: str, links: list[tuple[int, int]] | None = None,
            rules: Constraints | None = None, reports: list[bool] | None = None) -> list[set[int]]:
    t = np.asarray(minutes, dtype=np.float64) * 60
    report = np.asarray(reports if reports is not None else [True] * len(texts))
    edges = score_pairs(t=t, report=report, match=[match_text(x, "") for x in texts],
                        accounts=[f"a{k}.com" for k in range(len(texts))], links=links or [], params=PARAMS)
    labels = cluster(len(texts), edges, t=t, report=report, window_s=PARAMS.window_s, min_density=0.05,
                     linkage=linkage, constraints=rules)
    found: dict[int, set[int]] = {}
    for k, label in enumerate(labels.tolist()):
        found.setdefault(label, set()).add(k)
    return sorted((g for g in found.values() if len(g) > 1), key=min)


def _two_incidents_and_a_bridge() -> tuple[list[str], list[float]]:
    export = [EXPORT[k % len(EXPORT)] for k in range(10)]
    login = [LOGIN[k % len(LOGIN)] for k in range(10)]
    bridge = ["anyone else seeing errors? CSV export fails with error 500 and users cannot sign in with Okta SSO"]
    texts = export + login + bridge
    minutes = [3.0 * k for k in range(10)] + [1.5 + 3.0 * k for k in range(10)] + [15.0]
    return texts, minutes


@pytest.mark.parametrize("linkage", ["average", "core"])
def test_two_clusters_and_a_vague_bridge_stay_two(linkage: str) -> None:
    texts, minutes = _two_incidents_and_a_bridge()
    groups = _groups(texts, minutes, linkage=linkage)
    export, login = set(range(10)), set(range(10, 20))
    assert len(groups) == 2
    assert export <= groups[0] and login <= groups[1]
    assert not (groups[0] & login) and not (groups[1] & export)


def test_single_link_fuses_them_through_the_bridge() -> None:
    texts, minutes = _two_incidents_and_a_bridge()
    groups = _groups(texts, minutes, linkage="single")
    assert len(groups) == 1 and set(range(20)) <= groups[0]


@pytest.mark.parametrize("linkage", ["average", "core", "single"])
def test_a_six_hour_outage_reported_every_half_hour_stays_one_group(linkage: str) -> None:
    texts = [EXPORT[k % len(EXPORT)] for k in range(13)]
    groups = _groups(texts, [30.0 * k for k in range(13)], linkage=linkage)
    assert groups == [set(range(13))]


def test_an_explicit_link_joins_across_any_time_gap() -> None:
    texts = [EXPORT[0], EXPORT[1], "Engineering ticket for the export incident"]
    groups = _groups(texts, [0.0, 10.0, 900.0], linkage="average", links=[(1, 2)], reports=[True, True, False])
    assert groups == [{0, 1, 2}]


def test_constraints_keep_dismissed_split_and_excluded_apart() -> None:
    texts = [EXPORT[k % len(EXPORT)] for k in range(6)]
    minutes = [5.0 * k for k in range(6)]
    # two existing incidents that read alike: they merge unless a decision says otherwise
    base = {"inc-a": [0, 1], "inc-b": [2, 3]}
    assert _groups(texts, minutes, linkage="average", rules=Constraints(groups=base)) == [set(range(6))]
    apart = Constraints(groups=base, apart={frozenset(("inc-a", "inc-b"))})
    assert len(_groups(texts, minutes, linkage="average", rules=apart)) == 2
    dismissed = Constraints(groups=base, dismissed={"inc-b"})
    assert len(_groups(texts, minutes, linkage="average", rules=dismissed)) == 2
    banned = Constraints(groups={"inc-a": [0, 1, 2, 3, 4]}, banned={5: {"inc-a"}})
    groups = _groups(texts, minutes, linkage="average", rules=banned)
    assert groups == [{0, 1, 2, 3, 4}]


def test_members_by_label_keeps_groups_in_order_of_their_first_item() -> None:
    from caseline.correlate.cluster import members_by_label

    labels = np.asarray([3, 1, 3, 3, 1, 5, 6, 6])
    assert members_by_label(labels) == {3: [0, 2, 3], 1: [1, 4], 5: [5], 6: [6, 7]}
    assert list(members_by_label(labels, min_size=2).items()) == [(3, [0, 2, 3]), (1, [1, 4]), (6, [6, 7])]
