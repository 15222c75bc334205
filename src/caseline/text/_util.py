"""Small helpers shared by the text normalizers (not part of the public API)."""

from __future__ import annotations

import re

# Characters that break storage (NUL in PostgreSQL, lone surrogates in UTF-8) or carry no text:
# C0 controls other than \t and \n, DEL, a BOM. Lone surrogates become U+FFFD.
_BAD_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f\ufeff]|[\ud800-\udfff]")
_TRAILING_WS = re.compile(r"[ \t]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")
_STASH_TOKEN = re.compile("\ue000(\\d+)\ue001")
_STASH_CHARS = re.compile("[\ue000\ue001]")


def _bad_char(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\r":
        return "\n"
    return "\ufffd" if "\ud800" <= char <= "\udfff" else ""


def sanitize(text: str) -> str:
    """Make vendor text safe to store: unify newlines, drop control chars, replace lone surrogates."""
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    return _BAD_CHARS.sub(_bad_char, text)


def tidy(text: str) -> str:
    """Trim line ends and at most one blank line between paragraphs, so renderings compare equal."""
    text = _TRAILING_WS.sub("\n", text)
    text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip()


def prefix_lines(text: str, prefix: str) -> str:
    """Prefix every line (a quote marker); empty lines get the marker without its trailing space."""
    return "\n".join(f"{prefix}{line}" if line else prefix.rstrip() for line in text.split("\n"))


class Stash:
    """Hold finished pieces (code, links) out of the text while markup regexes run over the rest.

    Pieces are replaced by private-use placeholders, so a markup regex can never reach inside them;
    callers strip those two private-use characters from their input first (`Stash.clean`).
    """

    def __init__(self) -> None:
        self._items: list[str] = []

    @staticmethod
    def clean(text: str) -> str:
        return _STASH_CHARS.sub("", text)

    def put(self, value: str) -> str:
        self._items.append(value)
        return f"\ue000{len(self._items) - 1}\ue001"

    def restore(self, text: str) -> str:
        if not self._items:
            return text
        items = self._items
        for _ in range(len(items) + 1):  # a piece may hold another piece's placeholder
            if "\ue000" not in text:
                break
            text = _STASH_TOKEN.sub(lambda m: items[int(m.group(1))], text)
        return text
