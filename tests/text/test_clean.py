from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given

from caseline.text import for_matching, strip_greeting, strip_quoted, strip_signature, to_plain
from tests.text._strategies import nasty_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("New info\n> old line\n> older\nmore new", "New info\nmore new"),
        ("Still down.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Support <help@acme.com> wrote:\n> We fixed it", "Still down."),
        ("Still down.\nOn Tue, 2 Jan 2024, Jane Doe <\njane@acme.com> wrote:\nquoted", "Still down."),
        ("Reply\n-----Original Message-----\nFrom: x\nold", "Reply"),
        ("Reply\n---------- Forwarded message ---------\nold", "Reply"),
        ("Yes, broken\n##- Please type your reply above this line -##\nYour request (123) was updated", "Yes, broken"),
        ("Reply\n\nFrom: Bob <b@x.com>\nSent: Monday\nTo: y\nSubject: z\n\nold", "Reply"),
        (
            "On Monday the API was down and nobody wrote: anything",
            "On Monday the API was down and nobody wrote: anything",
        ),
        ("a > b stays", "a > b stays"),
    ],
)
def test_strip_quoted(text: str, expected: str) -> None:
    assert strip_quoted(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The export fails.\n-- \nBob Smith\nAcme", "The export fails."),
        ("The export fails.\n\nSent from my iPhone", "The export fails."),
        ("The export fails.\n\nGet Outlook for Android", "The export fails."),
        ("The export fails.\n\nBest regards,\nBob Smith\nHead of Ops, Acme Inc.", "The export fails."),
        ("The export fails.\nThanks,\nBob", "The export fails."),
        ("The export fails.\nCheers!", "The export fails."),
        ("Thanks for the quick fix\nBob", "Thanks for the quick fix\nBob"),  # a sentence, not a closing
        ("Fails.\nThanks,\n" + "\n".join(f"long line {i} " * 8 for i in range(3)), None),  # not a name block
        ("Thanks!", "Thanks!"),  # the whole message: kept
        ("-- \nonly a signature", "-- \nonly a signature"),
    ],
)
def test_strip_signature(text: str, expected: str | None) -> None:
    assert strip_signature(text) == (text.strip() if expected is None else expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi team,\nThe export fails.", "The export fails."),
        ("Hello,\n\nThe export fails.", "The export fails."),
        ("Hey there! The export fails.", "The export fails."),
        ("Hi, the export fails.", "the export fails."),
        ("Good morning support team, the export fails.", "the export fails."),
        ("Hi team\nThe export fails.", "The export fails."),
        ("Hey the export fails", "Hey the export fails"),  # no greeting punctuation: a sentence
        ("Highly broken export", "Highly broken export"),
        ("The export fails. Hi!", "The export fails. Hi!"),
    ],
)
def test_strip_greeting(text: str, expected: str) -> None:
    assert strip_greeting(text) == expected


def test_for_matching_removes_ids_and_noise() -> None:
    first = (
        "Hi team,\n\nCheckout fails with error 500 for order 12345 (request id 9f8e7d6c5b4a3928, "
        "trace 123e4567-e89b-12d3-a456-426614174000). See https://status.acme.com/i/7 and OPS-123; "
        "mail bob@acme.com.\n\nThanks,\nBob\n\nOn Mon, Jan 1, 2024 Support wrote:\n> old"
    )
    second = (
        "Hello,\nCHECKOUT fails with error 502 for order 999 (request id 00ffee99aa881234, trace "
        "00000000-0000-0000-0000-000000000000) - see https://status.acme.com/i/8 and OPS-9... "
        "mail ann@acme.com!\nSent from my iPhone"
    )
    assert for_matching(first) == "checkout fails with error for order request id trace see and mail"
    assert for_matching(second) == for_matching(first)


def test_for_matching_keeps_words_with_digits_as_their_letters() -> None:
    assert for_matching("S3 and EC2 down; v2.3.1 broke UTF-8 «OPS-12» id=deadbeef42") == "s and ec down v broke utf id"


def test_for_matching_unicode() -> None:
    assert for_matching("Straße ÇAĞ café — naïve…\u200b\u202eok") == "straße çağ café naïve ok"
    assert for_matching("") == ""


def test_for_matching_on_vendor_bodies(vendor_sample: Callable[..., Any]) -> None:
    audit = vendor_sample("zendesk", "ticket_audits.json")["audits"][0]
    comment = next(event for event in audit["events"] if event.get("type") == "Comment")
    assert for_matching(to_plain("html", comment["html_body"])) == for_matching(comment["body"])
    assert for_matching(comment["body"]) == comment["body"].lower()  # a plain sentence: only lowercased


@given(nasty_text)
def test_cleaners_never_crash_and_for_matching_is_idempotent(text: str) -> None:
    for clean in (strip_quoted, strip_signature, strip_greeting, for_matching):
        assert isinstance(clean(text), str)
    once = for_matching(text)
    assert for_matching(once) == once
    assert once == once.strip() and "  " not in once


def test_for_matching_is_fast() -> None:
    """Correlation calls it for every item (10^6 in a large store); 100k calls of ~300 chars take
    ~1.5 s on a laptop core. This guard (5k calls, generous bound) catches per-call regex compilation
    or a quadratic step, not small regressions."""
    body = (
        "Hi team,\n\nSince this morning checkout returns error 500 for order {n} (request id 9f8e7d6c5b4a3928). "
        "See https://status.acme.com/incidents/{n} and OPS-{n}; contact bob@acme.com. EU customers cannot pay "
        "with cards, which blocks our support team today.\n\nThanks,\nBob Smith\nAcme Inc."
    )
    texts = [body.format(n=n) for n in range(5000)]
    started = time.perf_counter()
    for text in texts:
        for_matching(text)
    assert time.perf_counter() - started < 1.0


def test_linear_time_on_long_tokens() -> None:
    started = time.perf_counter()
    for_matching("a" * 200_000 + "@" + "b." * 50_000)
    for_matching("x" * 200_000)
    assert time.perf_counter() - started < 1.0
