"""Jira Atlassian Document Format (issue descriptions, comment bodies) → plain text.

ADF is a tree of `{"type", "content", "attrs", "marks", "text"}` nodes. Blocks become paragraphs,
lists become "- " / "1. " lines, code blocks keep their text, mentions/emoji/status/date give their
text, cards give their URL, link marks keep the URL as "text (url)", table cells are joined with " | ".
Unknown nodes are rendered through their content. Any input, however odd, gives a string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from caseline.text._util import prefix_lines, sanitize, tidy
from caseline.text.html import same_target

__all__ = ["adf_to_text"]

_MAX_DEPTH = 100  # real documents nest a few levels; this guards hostile input, not real bodies
# fmt: off
_INLINE = frozenset({
    "text", "mention", "emoji", "hardBreak", "inlineCard", "status", "date", "placeholder", "inlineExtension",
    "mediaInline",
})
# fmt: on
_CARDS = frozenset({"inlineCard", "blockCard", "embedCard"})


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _kind(node: Mapping[str, Any]) -> str:
    return _str(node.get("type"))


def _attrs(node: Mapping[str, Any]) -> Mapping[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, Mapping) else {}


def _children(node: Mapping[str, Any]) -> list[Any]:
    content = node.get("content")
    return content if isinstance(content, list) else []


def _text_node(node: Mapping[str, Any]) -> str:
    text = _str(node.get("text"))
    marks = node.get("marks")
    for mark in marks if isinstance(marks, list) else []:
        if isinstance(mark, Mapping) and mark.get("type") == "link":
            href = _str(_attrs(mark).get("href")).strip()
            if href and not text.strip():
                return href
            if href and not same_target(text, href):
                return f"{text} ({href})"
    return text


def _card_url(attrs: Mapping[str, Any]) -> str:
    url = _str(attrs.get("url"))
    if not url:
        data = attrs.get("data")
        url = _str(data.get("url")) if isinstance(data, Mapping) else ""
    return url


def _date(attrs: Mapping[str, Any]) -> str:
    try:
        stamp = int(str(attrs.get("timestamp")))
        return datetime.fromtimestamp(stamp / 1000, tz=UTC).date().isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def _inline(node: Mapping[str, Any]) -> str:
    kind = _kind(node)
    attrs = _attrs(node)
    if kind == "text":
        return _text_node(node)
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        name = _str(attrs.get("text")) or _str(attrs.get("id"))
        return name if not name or name.startswith("@") else f"@{name}"
    if kind == "emoji":
        return _str(attrs.get("text")) or _str(attrs.get("shortName"))
    if kind in _CARDS:
        return _card_url(attrs)
    if kind in ("status", "placeholder"):
        return _str(attrs.get("text"))
    if kind == "date":
        return _date(attrs)
    return _str(node.get("text"))


def _blocks(nodes: list[Any], depth: int) -> list[str]:
    """Render a content list: consecutive inline nodes form one block, block nodes their own."""
    blocks: list[str] = []
    line: list[str] = []
    for node in nodes:
        if isinstance(node, Mapping) and _kind(node) in _INLINE:
            line.append(_inline(node))
            continue
        if line:
            blocks.append("".join(line))
            line = []
        blocks.append(_block(node, depth + 1))
    if line:
        blocks.append("".join(line))
    return [block for block in blocks if block.strip()]


def _list(node: Mapping[str, Any], depth: int, ordered: bool) -> str:
    start = _attrs(node).get("order", 1)
    number = start if isinstance(start, int) and not isinstance(start, bool) and 0 <= start < 10**9 else 1
    lines: list[str] = []
    for item in _children(node):
        body = "\n".join(_blocks(_children(item), depth)) if isinstance(item, Mapping) else ""
        if isinstance(item, Mapping) and item.get("type") == "taskItem":
            done = _attrs(item).get("state") == "DONE"
            body = f"[{'x' if done else ' '}] {body}"
        marker = f"{number}. " if ordered else "- "
        number += 1
        first, _, rest = body.partition("\n")
        lines.append(marker + first + ("\n" + prefix_lines(rest, "  ") if rest else ""))
    return "\n".join(lines)


def _table(node: Mapping[str, Any], depth: int) -> str:
    rows = []
    for row in _children(node):
        if not isinstance(row, Mapping):
            continue
        cells = [
            " ".join(" ".join(_blocks(_children(cell), depth)).split())
            for cell in _children(row)
            if isinstance(cell, Mapping)
        ]
        rows.append(" | ".join(cells))
    return "\n".join(rows)


def _block(node: Any, depth: int) -> str:
    if depth > _MAX_DEPTH:
        return ""
    if isinstance(node, list):
        return "\n\n".join(_blocks(node, depth))
    if isinstance(node, str):
        return node
    if not isinstance(node, Mapping):
        return ""
    kind = _kind(node)
    if kind in _INLINE:
        return _inline(node)
    if kind == "codeBlock":
        return "".join(_str(child.get("text")) for child in _children(node) if isinstance(child, Mapping))
    if kind in ("bulletList", "orderedList", "taskList", "decisionList"):
        return _list(node, depth, ordered=kind == "orderedList")
    if kind == "blockquote":
        return prefix_lines("\n\n".join(_blocks(_children(node), depth)), "> ")
    if kind == "table":
        return _table(node, depth)
    if kind in _CARDS:
        return _card_url(_attrs(node))
    if kind == "rule":
        return ""
    if kind == "mediaSingle" or kind == "media":
        return _str(_attrs(node).get("alt"))
    return "\n\n".join(_blocks(_children(node), depth))


def adf_to_text(value: object) -> str:
    """Render an ADF document (a dict, or its JSON string) as plain text; never raises."""
    if value is None:
        return ""
    if isinstance(value, str | bytes | bytearray):
        raw = value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else value
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            return tidy(sanitize(raw))  # not JSON: a plain-text body (Jira API v2 style)
        if value is None:
            return ""
        if not isinstance(value, dict | list | str):
            return tidy(sanitize(raw))
    try:
        text = _block(value, 0)
    except RecursionError:
        text = ""
    return tidy(sanitize(text))
