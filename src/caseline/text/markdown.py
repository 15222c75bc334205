"""Markdown (Linear issue descriptions and comments) → plain text.

Syntax is stripped, content and link URLs are kept: `[label](url)` → `label (url)`, `<url>` → `url`,
images → their alt text, headings/emphasis/strikethrough/inline code lose their markers, code blocks
keep their content, bullets become "- ", blockquotes stay "> ", table rows become "a | b".
"""

from __future__ import annotations

import re

from caseline.text._util import Stash, sanitize, tidy
from caseline.text.html import same_target

__all__ = ["markdown_to_text"]

_FENCE = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.DOTALL | re.MULTILINE)
_CODE = re.compile(r"(`+)([^\n]+?)\1")  # one line only, so an unclosed backtick costs one line
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(([^()\s]*(?:\([^()\s]*\))?[^()\s]*)(?:\s+\"[^\"\n]*\")?\)")
_LINK = re.compile(r"\[([^\]\n]*)\]\(<?([^()\s<>]*(?:\([^()\s]*\))?[^()\s<>]*)>?(?:\s+\"[^\"\n]*\")?\)")
_AUTOLINK = re.compile(r"<((?:https?|mailto|ftp):[^<>\s]+)>")
_HTML_BLOCK = re.compile(r"<br\s*/?>|</?(?:details|summary|p|div)\b[^<>]*>", re.IGNORECASE)
_HTML_INLINE = re.compile(r"</?(?:span|sub|sup|kbd|u|b|i|em|strong|ins|del|mark|small)\b[^<>]*>", re.I)
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_SETEXT_OR_RULE = re.compile(r"^[ \t]{0,3}(?:=+|-{3,}|\*{3,}|_{3,}|(?:[-*_][ \t]*){3,})[ \t]*$", re.MULTILINE)
_BULLET = re.compile(r"^([ \t]*)[*+-][ \t]+", re.MULTILINE)
_TABLE_CELL_RULE = r"[ \t]*:?-+:?[ \t]*"
_TABLE_RULE = re.compile(rf"^[ \t]*\|?{_TABLE_CELL_RULE}(?:\|{_TABLE_CELL_RULE})*\|?[ \t]*(?:\n|\Z)", re.M)
_TABLE_ROW = re.compile(r"^[ \t]*\|(.*)\|[ \t]*$", re.MULTILINE)
_EMPHASIS = (
    re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"),
    re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"),
    re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?![\w*])"),
    re.compile(r"(?<![\w_])_(?=[^\s_])([^_\n]*?[^\s_])_(?![\w_])"),
)
_ESCAPE = re.compile(r"\\([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])")


def _link(label: str, url: str) -> str:
    label = label.strip()
    shown = url.removeprefix("mailto:")
    if not url:
        return label
    if not label or same_target(label, url):
        return shown
    return f"{label} ({shown})"


def markdown_to_text(value: str | None) -> str:
    """Render Markdown as plain text, keeping link URLs."""
    if not value:
        return ""
    text = Stash.clean(sanitize(str(value)))
    stash = Stash()
    if "```" in text or "~~~" in text:
        text = _FENCE.sub(lambda m: stash.put(m.group(2).rstrip("\n")), text)
    if "`" in text:
        text = _CODE.sub(lambda m: stash.put(m.group(2).strip()), text)
    if "\\" in text:
        text = _ESCAPE.sub(lambda m: stash.put(m.group(1)), text)
    if "](" in text:
        text = _IMAGE.sub(lambda m: m.group(1), text)
        text = _LINK.sub(lambda m: stash.put(_link(m.group(1), m.group(2))), text)
    if "<" in text:
        text = _AUTOLINK.sub(lambda m: stash.put(m.group(1).removeprefix("mailto:")), text)
        text = _HTML_BLOCK.sub("\n", text)
        text = _HTML_INLINE.sub("", text)
    text = _HEADING.sub(r"\1", text)
    text = _SETEXT_OR_RULE.sub("", text)
    text = _BULLET.sub(r"\1- ", text)
    if "|" in text:
        text = _TABLE_RULE.sub("", text)
        text = _TABLE_ROW.sub(lambda m: " | ".join(cell.strip() for cell in m.group(1).split("|")), text)
    for pattern in _EMPHASIS:
        text = pattern.sub(lambda m: m.group(m.lastindex or 0), text)
    return tidy(stash.restore(text))
