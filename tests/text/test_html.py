from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given

from caseline.text import html_to_text, to_plain
from tests.text._strategies import nasty_text


def test_zendesk_audit_comment_html_matches_its_plain_body(vendor_sample: Callable[..., Any]) -> None:
    audits = vendor_sample("zendesk", "ticket_audits.json")["audits"]
    comments = [event for audit in audits for event in audit["events"] if event.get("type") == "Comment"]
    assert comments
    for comment in comments:
        assert to_plain("html", comment["html_body"]) == comment["body"]


def test_zendesk_comments_with_empty_html_body(vendor_sample: Callable[..., Any]) -> None:
    for comment in vendor_sample("zendesk", "ticket_comments.json")["comments"]:
        assert to_plain("html", comment["html_body"]) == ""
        assert comment["body"]  # the text lives in `body` then; connectors fall back to it


def test_intercom_part_bodies(vendor_sample: Callable[..., Any]) -> None:
    conversation = vendor_sample("intercom", "conversation_with_parts.json")
    assert to_plain("html", conversation["source"]["body"]) == "this is the message body"
    parts = conversation["conversation_parts"]["conversation_parts"]
    rendered = [to_plain("html", part["body"]) for part in parts]
    assert rendered[0] == "Okay!"
    assert all(text == "" for part, text in zip(parts, rendered, strict=True) if part["body"] is None)


ZENDESK_BODY = (
    '<div class="zd-comment" dir="auto"><p>Hi team,</p>'
    "<p>Checkout   fails\n since&nbsp;the deploy &amp; cards &lt;all&gt; decline.<br>Second line</p>"
    '<p>See <a href="https://status.acme.com/incidents/7" rel="noreferrer">the status page</a> and '
    '<a href="https://acme.com/">acme.com</a>, mail <a href="mailto:ops@acme.com">ops@acme.com</a>.</p>'
    "<ul><li>Chrome</li><li>Safari<ul><li>iOS 17</li></ul></li></ul>"
    "<ol><li>Open cart</li><li>Pay</li></ol>"
    "<script>track()</script><style>p { color: red }</style>"
    "<table><tr><th>Region</th><th>Errors</th></tr><tr><td>EU</td><td>512</td></tr></table>"
    "<pre>  stack:\n    at pay()</pre>"
    "<blockquote><p>Earlier message</p></blockquote></div>"
)


def test_zendesk_style_body_renders_readably() -> None:
    assert html_to_text(ZENDESK_BODY).split("\n") == [
        "Hi team,",
        "",
        "Checkout fails since the deploy & cards <all> decline.",
        "Second line",
        "",
        "See the status page (https://status.acme.com/incidents/7) and acme.com, mail ops@acme.com.",
        "",
        "- Chrome",
        "- Safari",
        "  - iOS 17",
        "",
        "1. Open cart",
        "2. Pay",
        "",
        "Region | Errors",
        "EU | 512",
        "",
        "  stack:",
        "    at pay()",
        "",
        "> Earlier message",
    ]


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("line1<br>line2<br/><br />line3", "line1\nline2\n\nline3"),
        ("<div><div>a</div></div><div>b</div>", "a\nb"),
        ("<p>  lots \t of\n\n space  </p>", "lots of space"),
        ('<a href="https://x.io/a">https://x.io/a</a>', "https://x.io/a"),
        ('<a href="https://x.io/a"></a>', "https://x.io/a"),
        ('<a href="#top">top</a> <a href="javascript:x()">js</a>', "top js"),
        ('<a href="mailto:a@b.co">write us</a>', "write us (a@b.co)"),
        ('<img src="x.png" alt="screenshot of error"> after', "screenshot of error after"),
        ("<head><title>Mail</title></head><body>Body</body>", "Body"),
        ("&#x1F525; &copy; &unknown; &#0;", "🔥 © &unknown; \ufffd"),
        ("<p>unclosed <b>bold <a href='https://u.rl'>link", "unclosed bold link (https://u.rl)"),
        ("</a></blockquote></li>stray ends", "stray ends"),
        ("plain text, no tags", "plain text, no tags"),
        ("", ""),
    ],
)
def test_html_rules(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_none_and_control_characters() -> None:
    assert to_plain("html", None) == ""
    assert html_to_text("<p>a\x00b\ud800c</p>") == "ab\ufffdc"


@given(nasty_text)
def test_html_never_crashes(text: str) -> None:
    result = html_to_text(text)
    assert isinstance(result, str)
    assert "\x00" not in result
    result.encode("utf-8")  # no lone surrogates left
