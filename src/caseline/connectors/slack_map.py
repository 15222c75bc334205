"""Slack raw items → Evidence (pure): a top-level message with its replies, or a tombstone.

Raw items are built by `slack.Slack.fetch`: `{"channel", "channel_name", "team_url", "message", "replies",
"users"}` for a message, `{"channel", "team_url", "gone": {"ts", "noticed_at"}}` for one that disappeared
from a re-scanned window. A thread parent deleted while replies remain comes as `subtype: tombstone`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from caseline.connectors.base import first_line, person
from caseline.errors import MalformedItem
from caseline.evidence import Activity, Evidence, EvidenceId, Person
from caseline.text import to_plain
from caseline.text.refs import extract_refs

__all__ = ["SKIPPED_SUBTYPES", "map_slack", "permalink"]

# Channel housekeeping and echoes of thread replies: never evidence of their own.
SKIPPED_SUBTYPES = frozenset({
    "channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name", "channel_archive",
    "channel_unarchive", "group_join", "group_leave", "group_topic", "group_purpose", "group_name", "group_archive",
    "group_unarchive", "pinned_item", "unpinned_item", "channel_convert_to_private", "channel_convert_to_public",
    "thread_broadcast",  # a reply also shown in the channel: it is an activity of its thread
})  # fmt: skip
TITLE_MAX = 200


def permalink(team_url: str, channel: str, ts: str, thread_ts: str | None = None) -> str | None:
    """`https://{workspace}.slack.com/archives/{channel}/p{ts without dot}` (+ thread for replies)."""
    if not team_url:
        return None
    url = f"{team_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
    return f"{url}?thread_ts={thread_ts}&cid={channel}" if thread_ts and thread_ts != ts else url


def map_slack(raw: Mapping[str, Any]) -> Evidence | None:
    channel = raw.get("channel")
    if not isinstance(channel, str) or not channel:
        raise MalformedItem("slack: item without a channel")
    try:
        if isinstance(raw.get("gone"), Mapping):
            return _gone(channel, raw)
        message = raw.get("message")
        if not isinstance(message, Mapping):
            raise MalformedItem(f"slack: item in {channel} without a message")
        if message.get("subtype") in SKIPPED_SUBTYPES:
            return None
        return _message(channel, message, raw)
    except (ValidationError, ValueError, TypeError, KeyError, AttributeError, InvalidOperation) as exc:
        ts = (raw.get("message") or raw.get("gone") or {}).get("ts")
        raise MalformedItem(f"slack: message {channel}:{ts}: {first_line(exc)}") from None


def _ts(value: Any, what: str) -> str:
    """A Slack ts string, checked (`"1512085950.000216"`); kept as given for ids and watermarks."""
    if not isinstance(value, str) or "." not in value:
        raise MalformedItem(f"slack: bad {what} {value!r}")
    Decimal(value)
    return value


def _gone(channel: str, raw: Mapping[str, Any]) -> Evidence:
    gone = raw["gone"]
    ts = _ts(gone.get("ts"), "ts")
    return Evidence(
        id=str(EvidenceId.of("slack", "message", f"{channel}:{ts}")), source="slack", kind="message",
        native_id=f"{channel}:{ts}", url=permalink(raw.get("team_url") or "", channel, ts),
        title="(message deleted)", created_at=ts, updated_at=gone.get("noticed_at") or ts, deleted=True,
    )  # fmt: skip


class _People:
    def __init__(self, users: Mapping[str, Mapping[str, Any]]) -> None:
        self.users = users
        self.names = {u: str(p["name"]) for u, p in users.items() if p.get("name")}

    def of(self, m: Mapping[str, Any]) -> tuple[Person | None, bool]:
        """The author of a message and whether it is a bot (bot messages have bot_id/username, no user)."""
        found = self.users.get(str(m.get("user") or ""), {})
        bot = bool(m.get("bot_id") or m.get("subtype") == "bot_message" or found.get("is_bot"))
        bot_name = m.get("username") or (m.get("bot_profile") or {}).get("name")
        who = person(found.get("name") or (bot_name if bot else None) or m.get("user"), found.get("email"))
        return who, bot

    def text(self, m: Mapping[str, Any]) -> str:
        text = to_plain("mrkdwn", m.get("text") or "", users=self.names)
        if text:
            return text
        parts = [a.get("fallback") or a.get("text") or a.get("title") for a in m.get("attachments") or []]
        return "\n".join(str(p) for p in parts if p)


def _message(channel: str, m: Mapping[str, Any], raw: Mapping[str, Any]) -> Evidence:
    ts = _ts(m.get("ts"), "ts")
    own, team_url = str(EvidenceId.of("slack", "message", f"{channel}:{ts}")), str(raw.get("team_url") or "")
    people = _People(raw.get("users") or {})
    replies = [r for r in raw.get("replies") or [] if isinstance(r, Mapping)]
    replies.sort(key=lambda r: Decimal(_ts(r.get("ts"), "reply ts")))
    author, bot = people.of(m)
    body = people.text(m)
    activities = []
    for r in replies:
        who, reply_bot = people.of(r)
        activities.append(Activity(at=r["ts"], type="reply", actor=who, actor_role="bot" if reply_bot else "agent",
                                   text=people.text(r), url=permalink(team_url, channel, r["ts"], ts),
                                   native_id=r["ts"], public=True))  # fmt: skip
    stamps = [ts, (m.get("edited") or {}).get("ts"), m.get("latest_reply")]
    stamps += [x for r in replies for x in (r["ts"], (r.get("edited") or {}).get("ts"))]
    updated = max((Decimal(s), s) for s in stamps if isinstance(s, str) and s)[1]
    channel_name = raw.get("channel_name")
    return Evidence(
        id=own, source="slack", kind="message", native_id=f"{channel}:{ts}", url=permalink(team_url, channel, ts),
        title=_title(body), body=body, author=author,
        author_role="bot" if bot else "agent", created_at=ts, updated_at=updated,
        tags=[f"#{channel_name}"] if channel_name else [], links=_links(m, replies, own),
        deleted=m.get("subtype") == "tombstone", bot=bot, raw=dict(m), activities=activities,
    )  # fmt: skip


def _title(body: str) -> str:
    line = next((x.strip() for x in body.splitlines() if x.strip()), "")
    return line if len(line) <= TITLE_MAX else line[: TITLE_MAX - 1] + "…"


def _links(m: Mapping[str, Any], replies: list[Mapping[str, Any]], own: str) -> list[str]:
    """Evidence ids named in the text (URLs, issue keys) of the message, its replies and their unfurls."""
    texts: list[Any] = []
    for msg in [m, *replies]:
        texts.append(msg.get("text"))
        for a in msg.get("attachments") or []:
            if isinstance(a, Mapping):
                texts += [a.get(k) for k in ("from_url", "title_link", "original_url", "text", "title")]
    found = [ref for text in texts if isinstance(text, str) and text for ref in extract_refs(text)]
    return [ref for ref in dict.fromkeys(found) if ref != own]
