"""Remove what is not the report itself (quoted replies, signatures, greetings) and build the
normalized string correlation compares (`for_matching`).

`for_matching` runs on every item on every correlation pass (a million items is a normal store), so
all patterns are compiled once here and each step is skipped by a cheap substring test when it
cannot apply.
"""

from __future__ import annotations

import re
import unicodedata

from caseline.text.refs import NOT_ISSUE_KEYS

__all__ = ["for_matching", "strip_greeting", "strip_quoted", "strip_signature"]

# -- quoted replies ------------------------------------------------------------------------
# A reply header ends the new text: everything from it on is the quoted thread.
_REPLY_HEADER = re.compile(
    r"^[ \t]*(?:"
    r"On\b[^\n]{0,300}?(?:\n[^\n]{0,300}?)?\b(?:wrote|writes)[ \t]*:[ \t]*$"  # Gmail, Apple Mail (may wrap)
    r"|Le\b[^\n]{0,300}?a écrit[ \t]*:[ \t]*$"
    r"|Am\b[^\n]{0,300}?schrieb[^\n]{0,100}:[ \t]*$"
    r"|-{2,}[ \t]*(?:Original|Forwarded) Message[ \t]*-{2,}"
    r"|#{1,2}-[ \t]*Please type your reply above this line[ \t]*-#{1,2}"
    r"|From:[^\n]*\n(?:[ \t]*\S[^\n]*\n){0,2}?[ \t]*(?:Sent|Date):"  # Outlook header block
    r")",
    re.MULTILINE | re.IGNORECASE,
)
_QUOTED_LINE = re.compile(r"^[ \t]*>[^\n]*(?:\n|\Z)", re.MULTILINE)
_QUOTE_HINTS = ("wrote", "writes", "écrit", "schrieb", "essage", "ESSAGE", "#-", "From:", "FROM:", "from:")

# -- signatures ----------------------------------------------------------------------------
_SIG_DELIMITER = re.compile(r"^-- ?$", re.MULTILINE)
_SENT_FROM = re.compile(
    r"^[ \t]*(?:Sent from (?:my |Mail for |Yahoo Mail|Outlook|Proton ?Mail)[^\n]{0,60}"
    r"|Get Outlook for [^\n]{0,40})$",
    re.MULTILINE | re.IGNORECASE,
)
_CLOSING = re.compile(
    r"[ \t]*(?:best(?: regards| wishes)?|kind regards|warm regards|regards|many thanks"
    r"|thanks(?: again| so much| a lot| in advance)?|thank you(?: very much| so much)?|thx|cheers|sincerely"
    r"|all the best|talk soon|br)[ \t]*[,.!]*[ \t]*",
    re.IGNORECASE,
)
_NAME_BLOCK_LINES = 4  # a closing is followed by at most this many short lines (name, title, company)
_NAME_LINE_MAX = 60

# -- greetings -----------------------------------------------------------------------------
_GREETING = re.compile(
    r"\A\s*(?:hi|hello|hey|hiya|howdy|dear|greetings|good (?:morning|afternoon|evening|day))\b"
    r"(?:[ \t]+[^\s,!.:;]{1,30}){0,3}?[ \t]*(?:[,!.:;]+[ \t]*|(?=\n))\n*",
    re.IGNORECASE,
)

# -- for_matching --------------------------------------------------------------------------
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_HEX = r"(?=[a-fA-F]*\d)[0-9a-fA-F]{8,}"  # hashes, request ids: long hex runs holding a digit
_KEY = r"(?P<key>[A-Z][A-Z0-9]{1,9})-\d+"  # Jira keys, Linear identifiers
_IDS = re.compile(rf"\b(?:{_UUID}|{_HEX}|{_KEY})\b")
_ASCII_PUNCT = "".join(chr(c) for c in range(33, 127) if not chr(c).isalnum())


class _FoldTable(dict[int, int | str | None]):
    """`str.translate` table built lazily per code point: letters and marks stay, digits go,
    punctuation, symbols, separators and controls become spaces, format/unassigned chars vanish."""

    def __missing__(self, codepoint: int) -> int | str | None:
        category = unicodedata.category(chr(codepoint))
        value: int | str | None
        if category[0] in "LM":
            value = codepoint
        elif category[0] == "N" or category in ("Cf", "Cs", "Co", "Cn"):
            value = None
        else:
            value = " "
        self[codepoint] = value
        return value


_FOLD = _FoldTable()


def strip_quoted(text: str) -> str:
    """Drop quoted replies: "> " lines, and everything from a reply header on."""
    if not text:
        return ""
    if any(hint in text for hint in _QUOTE_HINTS):
        match = _REPLY_HEADER.search(text)
        if match:
            text = text[: match.start()]
    if ">" in text:
        text = _QUOTED_LINE.sub("", text)
    return text.strip()


def _is_name_block(lines: list[str]) -> bool:
    filled = [line for line in lines if line.strip()]
    return len(filled) <= _NAME_BLOCK_LINES and all(len(line.strip()) <= _NAME_LINE_MAX for line in filled)


def strip_signature(text: str) -> str:
    """Drop a signature: from a "-- " line, a "Sent from my iPhone" line, or a closing ("Thanks,")
    followed only by a short name block. Never empties a text that starts with one of these."""
    if not text:
        return ""
    cut = len(text)
    if "--" in text:
        match = _SIG_DELIMITER.search(text)
        if match and match.start() > 0:
            cut = match.start()
    if "Sent from" in text or "Get Outlook" in text or "sent from" in text.lower():
        match = _SENT_FROM.search(text, 0, cut)
        if match and match.start() > 0:
            cut = match.start()
    head = text[:cut]
    lines = head.rstrip().split("\n")
    for index in range(max(1, len(lines) - _NAME_BLOCK_LINES - 1), len(lines)):
        line = lines[index]
        if len(line) < 40 and _CLOSING.fullmatch(line) and _is_name_block(lines[index + 1 :]):
            head = "\n".join(lines[:index])
            break
    return head.strip()


def strip_greeting(text: str) -> str:
    """Drop an opening greeting ("Hi team,", "Hello,", "Hey there!") at the start."""
    if not text:
        return ""
    match = _GREETING.match(text)
    return text[match.end() :].strip() if match else text.strip()


def _drop_id(match: re.Match[str]) -> str:
    key = match.group("key")
    return match.group() if key and key in NOT_ISSUE_KEYS else " "  # UTF-8 is a word, OPS-12 an id


def _drop_ids(text: str) -> str:
    """Drop URLs, emails and ids, token by token: a whitespace token is the unit all of them live in,
    and most tokens are plain words that two C-level checks let through (far cheaper than a regex
    scan of the whole text)."""
    kept: list[str] = []
    for token in text.split():
        if token.isalpha():
            kept.append(token)
        elif "@" in token or "://" in token or "www." in token:
            continue
        else:
            core = token.strip(_ASCII_PUNCT)
            kept.append(token if not core or core.isalpha() else _IDS.sub(_drop_id, token))
    return " ".join(kept)


def for_matching(text: str) -> str:
    """The normalized text correlation compares: quotes/signature/greeting removed; URLs, emails, ids
    and numbers removed; lowercased; punctuation folded to spaces; whitespace collapsed. Idempotent."""
    if not text:
        return ""
    text = _drop_ids(strip_greeting(strip_signature(strip_quoted(text))))
    return " ".join(text.lower().translate(_FOLD).split())
