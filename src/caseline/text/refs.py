"""Cross-references between tools: evidence ids found in text (URLs, bare issue keys).

A URL is mapped by `url_to_evidence_id` (Zendesk, Jira, Linear, Intercom, Slack, HubSpot UI/API
links). Bare keys like `OPS-12` are Jira issues (or Linear issues when their prefix is listed in
`linear_teams`); without a list of known Jira projects, well-known look-alikes (UTF-8, SHA-256, …) are
skipped. `#123` means a Zendesk ticket only when the caller says so, since it is ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from urllib.parse import parse_qs, urlsplit

__all__ = ["extract_refs", "extract_urls", "url_to_evidence_id"]

_URL = re.compile(r"\bhttps?://[^\s<>\"'`|\[\]{}]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)'\"*_~"
_BARE_KEY = re.compile(r"(?<![\w.\-/#@])([A-Z][A-Z0-9]{1,9})-(\d{1,9})(?![\w\-]|\.\d)")
_HASH_REF = re.compile(r"(?<![\w&#/])#(\d{1,12})\b")

# Code names that look like issue keys; skipped unless the caller lists known Jira projects.
# fmt: off
NOT_ISSUE_KEYS = frozenset({
    "UTF", "UCS", "SHA", "MD", "ISO", "IEC", "IEEE", "ECMA", "RFC", "HTTP", "HTTPS", "TLS", "TLSV", "SSL",
    "COVID", "SARS", "CVE", "CWE", "GHSA", "AES", "RSA", "DES", "ECDSA", "ES", "HS", "RS", "PS", "EC", "GPT",
    "SOC", "PCI", "GDPR", "CP", "WIN", "WINDOWS", "LATIN", "BASE", "IPV", "IP", "WPA", "MP", "DDR", "USB",
    "PEP", "LTE", "GMT", "UTC", "UT", "ANSI", "ASCII", "WCAG", "OWASP", "PR", "MR", "GH", "ARM", "HDMI",
    "PCIE", "SMB", "NFS", "OAUTH", "SAML", "SMTP", "IMAP", "POP", "FIPS", "TOP", "COM",
})
# fmt: on

_ZENDESK_PATH = re.compile(
    r"^/(?:agent/tickets/(\d+)|api/v2/tickets/(\d+)(?:\.json)?(?:/|$)|hc/(?:[^/]+/)?requests/(\d+))"
)
_JIRA_PATH = re.compile(r"^/(?:browse|rest/api/(?:2|3|latest)/issue)/([A-Z][A-Z0-9_]+-\d+)(?:/|$)")
_JIRA_KEY = re.compile(r"^[A-Z][A-Z0-9_]+-\d+$")
_LINEAR_PATH = re.compile(r"^/[^/]+/issue/([A-Za-z][A-Za-z0-9]*-\d+)(?:/|$)")
_INTERCOM_PATH = re.compile(r"^/a/(?:inbox|apps)/[^/]+/(?:[^?#]*/)?conversations?/(\d+)(?:/|$)")
_INTERCOM_HOST = re.compile(r"app\.(?:[a-z]{2}\.)?intercom\.(?:com|io)")
_SLACK_PATH = re.compile(r"^/archives/([CGD][A-Z0-9]+)/p(\d{7,})(?:/|$)")
_SLACK_TS = re.compile(r"^\d+\.\d+$")
_HUBSPOT_PATH = re.compile(r"^/contacts/\d+/(?:record/0-5|ticket)/(\d+)(?:/|$)")


def extract_urls(text: str) -> list[str]:
    """http(s) URLs in text, trailing sentence punctuation trimmed, deduplicated in order."""
    if not text or not isinstance(text, str):
        return []
    return list(dict.fromkeys(url for _, _, url in _urls(text)))


def _urls(text: str) -> list[tuple[int, int, str]]:
    """(start, end, url) of each URL; the URL has `&amp;` unescaped (text still carrying escapes)."""
    found = []
    for match in _URL.finditer(text):
        raw = match.group()
        while raw[-1] in _URL_TRAILING:
            if raw[-1] == ")" and raw.count("(") >= raw.count(")"):
                break  # a balanced ")" belongs to the URL (Wikipedia style)
            raw = raw[:-1]
        if len(raw) > raw.index("://") + 3:
            found.append((match.start(), match.start() + len(raw), raw.replace("&amp;", "&")))
    return found


def _mask(text: str, spans: list[tuple[int, int, str]]) -> str:
    """Blank out URL spans, keeping every other character at its position."""
    pieces, done = [], 0
    for start, end, _ in spans:
        pieces += [text[done:start], " " * (end - start)]
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


def _slack_ts(digits: str) -> str:
    return f"{digits[:-6]}.{digits[-6:]}"


def url_to_evidence_id(url: str) -> str | None:
    """The evidence id a vendor UI/API URL points at, or None when it is not one we know."""
    try:
        parts = urlsplit(url.strip().replace("&amp;", "&"))
    except (ValueError, AttributeError):
        return None
    host = (parts.hostname or "").lower()
    path = parts.path
    if not host or parts.scheme.lower() not in ("http", "https"):
        return None
    if (match := _ZENDESK_PATH.match(path)) and (host.endswith(".zendesk.com") or match.group(3)):
        # /hc/.../requests/N is Zendesk's own path, also on a help center's custom domain
        return f"zendesk:ticket:{next(g for g in match.groups() if g)}"
    if (match := _JIRA_PATH.match(path)) and (host.endswith(".atlassian.net") or path.startswith("/browse/")):
        return f"jira:issue:{match.group(1)}"
    if host.endswith(".atlassian.net"):
        selected = parse_qs(parts.query).get("selectedIssue", [""])[0]
        if _JIRA_KEY.match(selected):
            return f"jira:issue:{selected}"
    if host == "linear.app" and (match := _LINEAR_PATH.match(path)):
        return f"linear:issue:{match.group(1).upper()}"
    if _INTERCOM_HOST.fullmatch(host) and (match := _INTERCOM_PATH.match(path)):
        return f"intercom:conversation:{match.group(1)}"
    if (host == "slack.com" or host.endswith(".slack.com")) and (match := _SLACK_PATH.match(path)):
        thread_ts = parse_qs(parts.query).get("thread_ts", [""])[0]
        ts = thread_ts if _SLACK_TS.match(thread_ts) else _slack_ts(match.group(2))
        return f"slack:message:{match.group(1)}:{ts}"
    if host.startswith("app") and host.endswith(".hubspot.com") and (match := _HUBSPOT_PATH.match(path)):
        return f"hubspot:ticket:{match.group(1)}"
    return None


def extract_refs(
    text: str,
    *,
    known_jira_projects: Collection[str] | None = None,
    linear_teams: Collection[str] | None = None,
    zendesk_hash_refs: bool = False,
) -> list[str]:
    """Evidence ids referenced in text, first-seen order, no duplicates.

    known_jira_projects: when given, a bare key counts only if its project is listed.
    linear_teams: bare keys with these prefixes are Linear issues (also Jira if listed there too).
    zendesk_hash_refs: treat `#123` as Zendesk ticket 123.
    """
    if not text or not isinstance(text, str):
        return []
    found: list[tuple[int, str]] = []
    spans = _urls(text)
    for start, _, url in spans:
        evidence_id = url_to_evidence_id(url)
        if evidence_id:
            found.append((start, evidence_id))
    masked = _mask(text, spans)  # bare keys and #refs count outside URLs only
    jira = {key.upper() for key in known_jira_projects} if known_jira_projects is not None else None
    linear = {team.upper() for team in linear_teams or ()}
    for match in _BARE_KEY.finditer(masked):
        prefix, key = match.group(1), match.group()
        if prefix in linear:
            found.append((match.start(), f"linear:issue:{key}"))
        if prefix in jira if jira is not None else prefix not in linear and prefix not in NOT_ISSUE_KEYS:
            found.append((match.start(), f"jira:issue:{key}"))
    if zendesk_hash_refs and "#" in masked:
        found.extend((m.start(), f"zendesk:ticket:{m.group(1)}") for m in _HASH_REF.finditer(masked))
    found.sort(key=lambda item: item[0])
    return list(dict.fromkeys(evidence_id for _, evidence_id in found))
