"""The background rate: routine look-alikes every day make a group ordinary; something new is a burst."""

from __future__ import annotations

import numpy as np
import pytest

from caseline.correlate.baseline import DAY, Background, MemoryHistory, poisson_tail, topic_words
from caseline.correlate.normalize import match_text, words_of
from caseline.correlate.scoring import form_for

from .helpers import EXPORT, INVITE


def _background(history: list[tuple[float, str]]) -> tuple[Background, list[str]]:
    texts = [match_text(x, "") for _, x in history]
    t = np.asarray([day * DAY for day, _ in history], dtype=np.float64)
    memory = MemoryHistory(t=t, texts=texts, words=words_of(texts), report=np.ones(len(texts), dtype=bool),
                           form=form_for("token_sort"))
    days = [int(d) for d, _ in history]
    return Background(days=14, factor=3.0, threshold=55.0, scorer="token_sort", source=memory,
                      first_day=min(days), last_day=max(days)), texts


def _judge(bg: Background, texts: list[str], accounts: int, day: float) -> bool:
    clean = [match_text(x, "") for x in texts]
    who = [f"account:a{k % accounts}.com" for k in range(len(clean))]
    times = [day * DAY + 3 * 3600 * k / len(clean) for k in range(len(clean))]
    return bg.judge(clean, who=who, times=times).burst


def test_poisson_tail() -> None:
    assert poisson_tail(0, 2.0) == 1.0
    assert poisson_tail(3, 0.0) == 0.0
    assert poisson_tail(1, 1.0) == pytest.approx(1 - np.exp(-1.0))
    assert poisson_tail(4, 0.5) < 0.01 < poisson_tail(3, 0.5)


def test_topic_words_are_what_most_of_the_group_says() -> None:
    texts = [match_text(x, "") for x in EXPORT]
    topic = topic_words(texts)
    assert "csv" in topic and 0 < len(topic) <= 4
    assert all(sum(word in text.split() for text in texts) >= len(texts) / 2 for word in topic)
    assert topic_words([match_text(x, "") for x in ["Invoice address wrong", "CSV export fails"]]) == []
    assert topic_words([match_text(x, "") for x in ["Invoice address wrong", "Wrong address", "CSV"]]) == [
        "address", "wrong"]


def test_a_routine_question_asked_every_day_is_background_and_a_new_problem_is_a_burst() -> None:
    history = [(day + 0.4 + 0.01 * k, INVITE[k % len(INVITE)]) for day in range(14) for k in range(4)]
    bg, _ = _background(history)
    assert not _judge(bg, INVITE * 2, accounts=5, day=14.5)  # five customers one afternoon: routine
    assert _judge(bg, EXPORT, accounts=5, day=14.5)  # never seen before: a burst
    assert _judge(bg, INVITE * 5, accounts=20, day=14.5)  # even a routine question, when everyone asks
    chained = INVITE * 2 + [f"{x} ({k})" for k, x in enumerate(EXPORT[:2])]
    assert not _judge(bg, chained, accounts=10, day=14.5)  # judged by its core: still the routine question


def test_without_history_every_group_counts_as_a_burst() -> None:
    bg, _ = _background([(3.0, INVITE[0])])
    assert _judge(bg, INVITE, accounts=2, day=3.2)


def test_a_young_store_judges_against_the_days_after() -> None:
    history = [(day + 0.4 + 0.01 * k, INVITE[k % len(INVITE)]) for day in range(14) for k in range(4)]
    bg, _ = _background(history)
    assert not _judge(bg, INVITE * 2, accounts=5, day=1.5)


def test_posting_unions_agree_whichever_way_they_are_taken() -> None:
    from caseline.correlate.baseline import _union

    rng = np.random.default_rng(3)
    parts = [np.sort(rng.choice(50_000, size, replace=False)) for size in (3000, 9000, 40)]
    expected = np.unique(np.concatenate(parts))
    assert _union(parts, 50_000).tolist() == expected.tolist()  # long: the bitmap
    short = [p[:10] for p in parts]  # short: np.unique
    assert _union(short, 50_000).tolist() == np.unique(np.concatenate(short)).tolist()
    assert _union([], 10).tolist() == []
