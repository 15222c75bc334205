"""Correlation quality against labeled scenarios, beside two baselines computed in the same run.

    .venv/bin/python benchmarks/bench_correlate_quality.py [--seeds 11 12 13 14 15] [--incremental]

For each seed, `scenario.generate(seed)` gives evidence with labels. Measured over reports (context is
not scored): pairwise precision/recall/F1 (pairs put together vs pairs that belong together) and B-cubed
precision/recall/F1. A report outside every incident is its own singleton, in the prediction and in the
truth (noise, routine questions, look-alikes and vague reports are labeled as no incident).

Systems:
- caseline: `caseline.correlate` on a SQLite store, one pass over everything, with its default average
  linkage and with `linkage = "single"`; with `--incremental` also as deployed: a first run over a
  ten-day backfill, then one sync and one correlation run per hour for the remaining days (where the
  incidents are);
- baseline A: rapidfuzz (same normalized text and scorer) above a threshold + single-link clustering of
  reports within the correlation window;
- baseline B: scikit-learn TF-IDF cosine + DBSCAN (min_samples=2) over the normalized reports.
Both baselines get the same admission rule as caseline (2 reports from 2 accounts); their thresholds are
picked by a grid on the tuning seeds (1, 2, 3), the evaluation seeds are separate.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenario import Scenario, generate

from caseline.config.models import Settings
from caseline.correlate import correlate
from caseline.correlate.normalize import match_text
from caseline.correlate.scoring import text_scores
from caseline.correlate.threshold import account_identity
from caseline.store import open_store
from caseline.store.incidents import IncidentStore

TUNE_SEEDS = (1, 2, 3)
EVAL_SEEDS = (11, 12, 13, 14, 15)
Clusters = dict[str, str]  # report id -> cluster name (absent: singleton)


# ---- metrics -----------------------------------------------------------------------------------------
def metrics(truth: dict[str, str | None], predicted: Clusters) -> dict[str, float]:
    """Pairwise and B-cubed figures over every report, and B-cubed over the reports that are in a true or
    a predicted incident (`b3i_*`: leaves out the many reports both sides agree are no incident)."""
    out = _metrics(truth, predicted)
    involved = {i: v for i, v in truth.items() if v or predicted.get(i)}
    if involved:
        inner = _metrics(involved, predicted)
        out.update({"b3i_p": inner["b3_p"], "b3i_r": inner["b3_r"], "b3i_f1": inner["b3_f1"]})
    return out


def _metrics(truth: dict[str, str | None], predicted: Clusters) -> dict[str, float]:
    ids = list(truth)
    t_of = {i: truth[i] or f"~{i}" for i in ids}
    p_of = {i: predicted.get(i) or f"~{i}" for i in ids}
    t_groups: dict[str, set[str]] = defaultdict(set)
    p_groups: dict[str, set[str]] = defaultdict(set)
    for i in ids:
        t_groups[t_of[i]].add(i)
        p_groups[p_of[i]].add(i)
    # B-cubed
    bp = br = 0.0
    for i in ids:
        both = len(t_groups[t_of[i]] & p_groups[p_of[i]])
        bp += both / len(p_groups[p_of[i]])
        br += both / len(t_groups[t_of[i]])
    bp, br = bp / len(ids), br / len(ids)
    # pairwise
    joint: dict[tuple[str, str], int] = defaultdict(int)
    for i in ids:
        joint[(t_of[i], p_of[i])] += 1
    tp = sum(n * (n - 1) / 2 for n in joint.values())
    pp = sum(len(g) * (len(g) - 1) / 2 for g in p_groups.values())
    tt = sum(len(g) * (len(g) - 1) / 2 for g in t_groups.values())
    pprec = tp / pp if pp else 1.0
    prec_rec = tp / tt if tt else 1.0
    return {
        "pair_p": pprec,
        "pair_r": prec_rec,
        "pair_f1": _f1(pprec, prec_rec),
        "b3_p": bp,
        "b3_r": br,
        "b3_f1": _f1(bp, br),
    }


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


# ---- caseline ----------------------------------------------------------------------------------------
def run_caseline(scenario: Scenario, settings: Settings, *, hourly: bool = False) -> tuple[Clusters, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{tmp}/q.db")
        store.upsert_accounts(scenario.accounts)
        start = time.perf_counter()
        runs = 0
        if hourly:
            # as deployed: the first sync backfills history (here the first ten days, one run), then a
            # sync and a correlation run every hour
            cut = scenario.evidence[0].created_at + timedelta(days=10)
            store.upsert_evidence([e for e in scenario.evidence if e.created_at < cut])
            correlate(store, settings)
            start = time.perf_counter()
            by_hour: dict[int, list] = defaultdict(list)
            for e in scenario.evidence:
                if e.created_at >= cut:
                    by_hour[int(e.created_at.timestamp() // 3600)].append(e)
            for hour in sorted(by_hour):
                store.upsert_evidence(by_hour[hour])
                correlate(store, settings)
                runs += 1
        else:
            store.upsert_evidence(scenario.evidence)
            start = time.perf_counter()
            correlate(store, settings)
            runs = 1
        elapsed = time.perf_counter() - start
        clusters: Clusters = {}
        for incident in IncidentStore(store).list(statuses=None):
            for evidence_id in incident.evidence_ids:
                clusters[evidence_id] = incident.id
        store.engine.dispose()
    return clusters, elapsed, runs


# ---- baselines -----------------------------------------------------------------------------------------
def _admit(groups: Iterable[list[int]], reports: Sequence, min_reports: int = 2, min_accounts: int = 2) -> Clusters:
    out: Clusters = {}
    for k, members in enumerate(groups):
        accounts = {account_identity(reports[m]) for m in members} - {None}
        if len(members) >= min_reports and len(accounts) >= min_accounts:
            for m in members:
                out[reports[m].id] = f"c{k}"
    return out


def baseline_fuzz(reports: Sequence, texts: list[str], *, threshold: float, window: timedelta, scorer: str) -> Clusters:
    t = np.array([r.created_at.timestamp() for r in reports])
    parent = list(range(len(reports)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    w = window.total_seconds()
    step = 400
    for lo in range(0, len(reports), step):
        hi = min(len(reports), lo + step)
        right = int(np.searchsorted(t, t[hi - 1] + w, side="right"))
        scores = text_scores(texts[lo:hi], texts[lo:right], scorer, cutoff=threshold)
        rows, cols = np.nonzero(scores)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            a, b = lo + r, lo + c
            if a < b and abs(t[a] - t[b]) <= w:
                parent[find(a)] = find(b)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(reports)):
        groups[find(i)].append(i)
    return _admit(groups.values(), reports)


def baseline_tfidf(reports: Sequence, texts: list[str], *, eps: float) -> Clusters:
    from sklearn.cluster import DBSCAN
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer(min_df=1, sublinear_tf=True).fit_transform(texts)
    labels = DBSCAN(eps=eps, min_samples=2, metric="cosine").fit_predict(matrix)
    groups: dict[int, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        if label >= 0:
            groups[int(label)].append(i)
    return _admit(groups.values(), reports)


# ---- the run --------------------------------------------------------------------------------------------
def _prepared(seed: int) -> tuple[Scenario, list, list[str], dict[str, str | None]]:
    scenario = generate(seed)
    reports = sorted(scenario.reports, key=lambda e: (e.created_at, e.id))
    texts = [match_text(r.title, r.body) for r in reports]
    truth = {r.id: scenario.labels[r.id] for r in reports}
    return scenario, reports, texts, truth


def _row(name: str, values: list[dict[str, float]], extra: str = "") -> None:
    mean = {k: statistics.mean(v[k] for v in values) for k in values[0]}
    low = min(v["b3i_f1"] for v in values)
    print(f"| {name} | {mean['pair_p']:.3f} | {mean['pair_r']:.3f} | {mean['pair_f1']:.3f} | {mean['b3_f1']:.3f} | "
          f"{mean['b3i_p']:.3f} | {mean['b3i_r']:.3f} | **{mean['b3i_f1']:.3f}** | {low:.3f} | {extra} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(EVAL_SEEDS))
    parser.add_argument("--incremental", action="store_true", help="also feed hourly syncs (slower)")
    parser.add_argument("--no-baselines", action="store_true")
    args = parser.parse_args()

    settings = Settings()
    single = Settings(correlate=settings.correlate.model_copy(update={"linkage": "single"}))
    window = settings.correlate.window
    scorer = settings.correlate.scorer

    fuzz_grid = [55, 60, 62, 65, 70, 75, 80, 85]
    eps_grid = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    best_fuzz, best_eps = settings.correlate.text_threshold, 0.5
    if not args.no_baselines:
        tune = [_prepared(s) for s in TUNE_SEEDS]
        fuzz_f1 = {th: statistics.mean(metrics(tr, baseline_fuzz(r, tx, threshold=th, window=window, scorer=scorer))
                                       ["b3i_f1"] for _, r, tx, tr in tune) for th in fuzz_grid}
        eps_f1 = {e: statistics.mean(metrics(tr, baseline_tfidf(r, tx, eps=e))["b3i_f1"] for _, r, tx, tr in tune)
                  for e in eps_grid}
        best_fuzz = max(fuzz_f1, key=lambda k: fuzz_f1[k])
        best_eps = max(eps_f1, key=lambda k: eps_f1[k])
        print(f"tuning seeds {TUNE_SEEDS}: baseline A threshold {best_fuzz} (B3 F1 {fuzz_f1[best_fuzz]:.3f}), "
              f"baseline B eps {best_eps} (B3 F1 {eps_f1[best_eps]:.3f})")

    results: dict[str, list[dict[str, float]]] = defaultdict(list)
    timing: dict[str, list[float]] = defaultdict(list)
    sizes: list[tuple[int, int, int]] = []
    for seed in args.seeds:
        scenario, reports, texts, truth = _prepared(seed)
        sizes.append((len(scenario.evidence), len(reports), sum(1 for v in truth.values() if v)))
        clusters, seconds, _ = run_caseline(scenario, settings)
        results["caseline (average linkage)"].append(metrics(truth, clusters))
        timing["caseline (average linkage)"].append(seconds)
        clusters, seconds, _ = run_caseline(scenario, single)
        results["caseline, single-link"].append(metrics(truth, clusters))
        timing["caseline, single-link"].append(seconds)
        if args.incremental:
            clusters, seconds, runs = run_caseline(scenario, settings, hourly=True)
            results["caseline, backfill + hourly incremental runs"].append(metrics(truth, clusters))
            timing["caseline, backfill + hourly incremental runs"].append(seconds / runs)
        if not args.no_baselines:
            results[f"baseline A: rapidfuzz ≥ {best_fuzz} + single-link in window"].append(
                metrics(truth, baseline_fuzz(reports, texts, threshold=best_fuzz, window=window, scorer=scorer)))
            results[f"baseline B: TF-IDF cosine + DBSCAN eps {best_eps}"].append(
                metrics(truth, baseline_tfidf(reports, texts, eps=best_eps)))
        m = results["caseline (average linkage)"][-1]
        print(f"seed {seed}: caseline B3 F1 {m['b3i_f1']:.3f} (P {m['b3i_p']:.3f} R {m['b3i_r']:.3f}; all reports "
              f"{m['b3_f1']:.3f}), pair F1 {m['pair_f1']:.3f}", flush=True)
    items = statistics.mean(s[0] for s in sizes)
    reps = statistics.mean(s[1] for s in sizes)
    inc = statistics.mean(s[2] for s in sizes)
    print(f"\nseeds {args.seeds}: {items:.0f} evidence items, {reps:.0f} reports ({inc:.0f} in incidents) per seed\n")
    print("| system | pair P | pair R | pair F1 | B3 F1, all reports | B3 P | B3 R | B3 F1 | B3 F1 worst seed | time |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, values in results.items():
        extra = ""
        if name in timing:
            extra = f"{statistics.mean(timing[name]):.2f} s" + (" per run" if "hourly" in name else "")
        _row(name, values, extra)


if __name__ == "__main__":
    main()
