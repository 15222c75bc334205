"""HTML (Zendesk `html_body`, Intercom part bodies, HubSpot notes) → readable plain text.

Uses the stdlib parser, so bodies that are not well-formed still give text. Rules: block elements
start new lines (paragraphs leave a blank line), `<br>` is a newline, list items become "- " (ordered:
"1. "), a link keeps its URL as "label (url)" when the label differs, blockquotes become "> " lines,
table cells are joined with " | ", scripts/styles/head are dropped, whitespace is collapsed (not in <pre>).
"""

from __future__ import annotations

import html as _html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from caseline.text._util import prefix_lines, sanitize, tidy

__all__ = ["html_to_text", "same_target"]

_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "svg", "object"})
# fmt: off
_PARAGRAPH = frozenset({
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "dl", "figure", "address", "fieldset", "form",
    "hr",
})
_LINE = frozenset({
    "div", "tr", "dt", "dd", "section", "article", "header", "footer", "nav", "aside", "main", "caption",
    "details", "summary", "center", "figcaption", "li", "ul", "ol",
})
# fmt: on
_LINK_SCHEMES = ("http://", "https://", "mailto:", "ftp://")
_WS = re.compile(r"\s+")
_TAG = re.compile(r"<[^>]*>")


def same_target(label: str, url: str) -> bool:
    """True when a link's label already shows its URL (so "label (url)" would repeat it)."""

    def key(value: str) -> str:
        value = value.strip().lower()
        for scheme in _LINK_SCHEMES:
            if value.startswith(scheme):
                value = value[len(scheme) :]
                break
        return value.removeprefix("www.").rstrip("/")

    return key(label) == key(url)


@dataclass
class _Frame:
    """Output collected inside an element whose text is post-processed (a link, a blockquote)."""

    tag: str
    href: str = ""
    parts: list[str] = field(default_factory=list)


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.frames: list[_Frame] = [_Frame("root")]
        self.skip = 0
        self.pre = 0
        self.lists: list[list[int]] = []  # per open list: [next number] or [] for bullets
        self.cells: list[int] = []

    # -- output helpers -------------------------------------------------------------------
    def emit(self, text: str) -> None:
        if text:
            self.frames[-1].parts.append(text)

    def last_char(self) -> str:
        for frame in reversed(self.frames):
            for part in reversed(frame.parts):
                if part:
                    return part[-1]
        return "\n"

    def trailing_newlines(self) -> int:
        count = 0
        for frame in reversed(self.frames):
            for part in reversed(frame.parts):
                stripped = part.rstrip("\n")
                count += len(part) - len(stripped)
                if stripped:
                    return count
        return 2  # start of output: no leading blank lines needed

    def newline(self, count: int = 1) -> None:
        """End the current line (count=2: the paragraph); repeated block edges do not stack up."""
        missing = count - self.trailing_newlines()
        if missing > 0:
            self.emit("\n" * missing)

    # -- parser callbacks ---------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            return
        if self.skip:
            return
        if tag == "br":
            self.emit("\n")  # unlike block edges, <br><br> is a deliberate blank line
        elif tag == "a":
            href = next((v or "" for k, v in attrs if k == "href"), "")
            self.frames.append(_Frame("a", href=href.strip()))
        elif tag == "blockquote":
            self.newline(2)
            self.frames.append(_Frame("blockquote"))
        elif tag == "img":
            alt = next((v or "" for k, v in attrs if k == "alt"), "").strip()
            if alt:
                self.emit(("" if self.last_char().isspace() else " ") + alt)
        elif tag in ("ul", "ol"):
            self.newline(1 if self.lists else 2)
            self.lists.append([1] if tag == "ol" else [])
        elif tag == "li":
            self.newline()
            indent = "  " * max(len(self.lists) - 1, 0)
            numbering = self.lists[-1] if self.lists else []
            if numbering:
                self.emit(f"{indent}{numbering[0]}. ")
                numbering[0] += 1
            else:
                self.emit(f"{indent}- ")
        elif tag == "tr":
            self.newline()
            self.cells.append(0)
        elif tag in ("td", "th"):
            if self.cells:
                if self.cells[-1]:
                    self.emit(" | ")
                self.cells[-1] += 1
        elif tag in _PARAGRAPH:
            self.newline(2)
            if tag == "pre":
                self.pre += 1
        elif tag in _LINE:
            self.newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(self.skip - 1, 0)
            return
        if self.skip:
            return
        if tag == "a":
            self._close_frame("a")
        elif tag == "blockquote":
            self._close_frame("blockquote")
            self.newline(2)
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self.newline(1 if self.lists else 2)
        elif tag == "tr":
            if self.cells:
                self.cells.pop()
            self.newline()
        elif tag in _PARAGRAPH:
            if tag == "pre":
                self.pre = max(self.pre - 1, 0)
            self.newline(2)
        elif tag in _LINE:
            self.newline()

    def handle_data(self, data: str) -> None:
        if self.skip or not data:
            return
        if self.pre:
            self.emit(data)
            return
        text = _WS.sub(" ", data)
        if text.startswith(" ") and self.last_char().isspace():
            text = text[1:]
        self.emit(text)

    # -- frames -------------------------------------------------------------------------
    def _close_frame(self, tag: str) -> None:
        if not any(frame.tag == tag for frame in self.frames[1:]):
            return  # a stray end tag
        while self.frames[-1].tag != tag:
            self._pop()
        self._pop()

    def _pop(self) -> None:
        frame = self.frames.pop()
        inner = "".join(frame.parts)
        if frame.tag == "blockquote":
            quoted = tidy(inner)
            if quoted:
                self.emit(prefix_lines(quoted, "> "))
            return
        if frame.tag == "a":
            label = inner.strip()
            href = frame.href
            url = href if href.lower().startswith(_LINK_SCHEMES) else ""
            if label and url and not same_target(label, url):
                inner = f"{inner} ({url.removeprefix('mailto:')})"
            elif not label and url:
                inner = url.removeprefix("mailto:")
        self.emit(inner)

    def finish(self) -> str:
        self.close()
        while len(self.frames) > 1:
            self._pop()
        return "".join(self.frames[0].parts)


def _fallback(value: str) -> str:
    """Tag-stripping fallback for markup the stdlib parser rejects."""
    return _html.unescape(_WS.sub(" ", _TAG.sub(" ", value)))


def html_to_text(value: str | None) -> str:
    """Render an HTML body as plain text (see the module docstring for the rules)."""
    if not value:
        return ""
    value = sanitize(str(value))
    parser = _TextParser()
    try:
        parser.feed(value)
        text = parser.finish()
    except (AssertionError, ValueError, IndexError, RecursionError):
        text = _fallback(value)
    return tidy(sanitize(text.replace("\xa0", " ")))
