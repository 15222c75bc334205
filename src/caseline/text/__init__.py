"""Text normalization shared by connectors, correlation and the timeline.

`to_plain(kind, value)` turns a vendor body (HTML, Jira ADF, Slack mrkdwn, Markdown, plain) into
readable plain text; `clean` strips quotes/signatures/greetings and builds the matching text;
`refs` finds evidence ids referenced in text. Nothing here imports the rest of caseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from caseline.text._util import sanitize, tidy
from caseline.text.adf import adf_to_text
from caseline.text.clean import for_matching, strip_greeting, strip_quoted, strip_signature
from caseline.text.html import html_to_text
from caseline.text.markdown import markdown_to_text
from caseline.text.mrkdwn import mrkdwn_to_text
from caseline.text.refs import extract_refs, extract_urls, url_to_evidence_id

__all__ = [
    "BodyKind",
    "adf_to_text",
    "extract_refs",
    "extract_urls",
    "for_matching",
    "html_to_text",
    "markdown_to_text",
    "mrkdwn_to_text",
    "strip_greeting",
    "strip_quoted",
    "strip_signature",
    "to_plain",
    "url_to_evidence_id",
]

BodyKind = Literal["html", "adf", "mrkdwn", "markdown", "plain"]


def to_plain(kind: BodyKind, value: object, *, users: Mapping[str, str] | None = None) -> str:
    """Plain text of a vendor body; None and empty bodies give "". `users` (Slack ids → names) is
    used for mrkdwn only. An unknown kind is a programming error (ValueError)."""
    if kind == "adf":
        return adf_to_text(value)
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if kind == "html":
        return html_to_text(text)
    if kind == "mrkdwn":
        return mrkdwn_to_text(text, users)
    if kind == "markdown":
        return markdown_to_text(text)
    if kind == "plain":
        return tidy(sanitize(text))
    raise ValueError(f"unknown body kind {kind!r}: expected html, adf, mrkdwn, markdown or plain")
