"""Slack mrkdwn (message `text`) → plain text.

`<@U123>` → `@U123` (or `@name` from `users`), `<@U123|name>` → `@name`, `<#C1|name>` → `#name`,
`<!here>` → `@here`, `<url|label>` → `label (url)`, `<url>` → `url`; `&amp; &lt; &gt;` unescaped;
*bold*, _italic_, ~strike~ and `code` markers removed, code blocks kept verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from caseline.text._util import Stash, sanitize, tidy
from caseline.text.html import same_target

__all__ = ["mrkdwn_to_text"]

# Code first (its content is never touched), then <...> tokens; all on the escaped text.
_SPECIAL = re.compile(r"```(?P<fence>.*?)```|`(?P<code>[^`\n]+)`|<(?P<token>[^<>\n]*)>", re.DOTALL)
# *bold* _italic_ ~strike~: a marker pair hugging non-space text, not inside a word (snake_case stays).
_MARKERS = tuple(
    (char, re.compile(rf"(?<![\w{esc}]){esc}(?=[^\s{esc}])([^{esc}\n]*?[^\s{esc}]){esc}(?![\w{esc}])"))
    for char, esc in (("*", r"\*"), ("_", "_"), ("~", "~"))
)
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}


def _unescape(text: str) -> str:
    if "&" not in text:
        return text
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def _token(body: str, users: Mapping[str, str] | None) -> str:
    """Render the inside of one `<...>` token."""
    target, _, label = body.partition("|")
    target, label = _unescape(target), _unescape(label)
    if target.startswith("@"):
        user_id = target[1:]
        name = label or (users.get(user_id) if users else None) or user_id
        return name if name.startswith("@") else f"@{name}"
    if target.startswith("#"):
        return f"#{label or target[1:]}"
    if target.startswith("!"):
        command = target[1:]
        if command in ("here", "channel", "everyone"):
            return f"@{command}"
        if label:
            return label  # <!subteam^S1|@oncall>, <!date^...|fallback>
        return f"@{command.split('^', 1)[-1]}" if command.startswith("subteam^") else f"@{command}"
    url = target.removeprefix("mailto:")
    if label and not same_target(label, target):
        return f"{label} ({url})"
    return label or url


def _strip_markers(text: str) -> str:
    for char, marker in _MARKERS:
        if char in text:
            text = marker.sub(r"\1", text)
    return text


def mrkdwn_to_text(value: str | None, users: Mapping[str, str] | None = None) -> str:
    """Render Slack mrkdwn as plain text; `users` maps user ids to display names."""
    if not value:
        return ""
    text = Stash.clean(sanitize(str(value)))
    stash = Stash()

    def special(match: re.Match[str]) -> str:
        if match.group("fence") is not None:
            return stash.put(_unescape(match.group("fence").strip("\n")))
        if match.group("code") is not None:
            return stash.put(_unescape(match.group("code")))
        return stash.put(_token(match.group("token"), users))

    text = _SPECIAL.sub(special, text)
    text = _unescape(_strip_markers(text))
    return tidy(stash.restore(text))
