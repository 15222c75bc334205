"""The text correlation compares: `match_text` (stored in the evidence row) and what derives from it.

`match_text` is `caseline.text.clean.for_matching` of the item's title and body (quotes, signatures,
greetings, URLs, ids and numbers gone, lowercased), cut to a fixed length so that long threads cost the
same as short tickets. Everything else here (sorted-token form, content words) derives from it cheaply,
so a stored `match_text` is all a later run needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from caseline.text.clean import for_matching

__all__ = [
    "MATCH_CHARS",
    "STOPWORDS",
    "Words",
    "content_words",
    "match_text",
    "sorted_tokens",
    "words_of",
]

MATCH_CHARS = 240
"""Normalized characters compared: the title and the first sentences carry what a report is about."""

_RAW_CHARS = 2000  # raw characters normalized: the rest of a long thread only costs time

_STOPWORD_TEXT = """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just let me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves also get got getting im ive dont cant isnt doesnt didnt
    wont youre thats theres hi hello hey thanks thank please team guys anyone everyone someone
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())
"""Words that say nothing about what a report is about (kept out of blocking and the baseline)."""


def match_text(title: str | None, body: str | None) -> str:
    """The normalized, length-capped text of one item (what the `match_text` column stores).

    Title and body are cleaned apart, so the greeting and signature of the body are found where they
    are (at its start and end) rather than in the middle of "title + body"."""
    title = title or ""
    body = body or ""
    if title and body.startswith(title):
        title = ""
    text = " ".join(part for part in (for_matching(title), for_matching(body[:_RAW_CHARS])) if part)
    if len(text) > MATCH_CHARS:
        cut = text.rfind(" ", 0, MATCH_CHARS + 1)
        text = text[: cut if cut > 0 else MATCH_CHARS]
    return text


def sorted_tokens(text: str) -> str:
    """Tokens in sorted order: `fuzz.ratio` on these equals `token_sort_ratio`, and `cdist` can reuse them."""
    return " ".join(sorted(text.split()))


def content_words(text: str) -> frozenset[str]:
    """Distinct words that can say what a report is about (three letters or more, no stopwords)."""
    return frozenset(w for w in text.split() if len(w) >= 3 and w not in STOPWORDS)


@dataclass
class Words:
    """The content words of many texts as word ids, flat (CSR): a million texts in ~100 MB, where a
    tuple per text took twice that, and the flat form is what blocking and the baseline index need."""

    vocab: list[str]
    indptr: np.ndarray
    """Text k's word ids are `word_ids[indptr[k]:indptr[k + 1]]`."""
    word_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def of(self, position: int) -> tuple[str, ...]:
        ids = self.word_ids[self.indptr[position] : self.indptr[position + 1]].tolist()
        return tuple(self.vocab[i] for i in ids)

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """(owner, word id) of every word of every text, owners ascending (int32: half the memory)."""
        owners = np.repeat(np.arange(len(self), dtype=np.int32), np.diff(self.indptr))
        return owners, self.word_ids


def words_of(texts: Sequence[str]) -> Words:
    """`content_words` of each text, with one id per distinct word."""
    index: dict[str, int] = {}
    vocab: list[str] = []

    def new(word: str) -> int:
        vocab.append(word)
        return index.setdefault(word, len(vocab) - 1)

    get = index.get
    stop = STOPWORDS
    flat: list[int] = []
    lens: list[int] = []
    extend, count = flat.extend, lens.append
    for text in texts:
        ids = {get(w) if w in index else new(w) for w in text.split() if len(w) >= 3 and w not in stop}
        extend(ids)  # type: ignore[arg-type]
        count(len(ids))
    indptr = np.zeros(len(lens) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lens, dtype=np.int64), out=indptr[1:])
    return Words(vocab=vocab, indptr=indptr, word_ids=np.asarray(flat, dtype=np.int32))
