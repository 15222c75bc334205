"""Slack Web API as documented: auth.test, conversations.list/history/replies, users.info, chat.getPermalink.

World collections: `channels` (`{id, name, is_private, is_archived, is_member, created}`), `messages` (each
with its `channel`; a reply has `thread_ts` ≠ `ts`; thread counts are derived when served) and `users`.
Settings: `workspace` (the `{workspace}.slack.com` host of permalinks), `team_id`, `team`.

Errors are HTTP 200 with `{"ok": false, "error": ...}`; only rate limits use a status (429 + Retry-After).
https://api.slack.com/web · https://api.slack.com/apis/rate-limits
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from caseline.emulator.vendors._base import HttpError, RateState, Record, Request, Response, Vendor, epoch

if TYPE_CHECKING:
    from email.message import Message

    from caseline.emulator.world import World

_TS_KEYS = ("ts", "thread_ts", "latest_reply", "last_read")
_INTERNAL = ("channel",)  # world bookkeeping, not part of a served message


def slack_ts(when: datetime, micro: int | None = None) -> str:
    """`"1512085950.000216"`: epoch seconds and six decimals, as a string."""
    return f"{epoch(when)}.{(when.microsecond if micro is None else micro):06d}"


def _dec(ts: Any) -> Decimal:
    try:
        return Decimal(str(ts))
    except InvalidOperation:
        raise _fail("invalid_ts_oldest") from None


def _fail(code: str) -> HttpError:
    return HttpError(200, {"ok": False, "error": code})


class Slack(Vendor):
    name = "slack"
    collections = ("channels", "messages", "users")
    default_settings = {"workspace": "example", "team_id": "T0EXAMPLE", "team": "Example"}

    def encode_time(self, key: str, when: datetime) -> Any:
        # ts-like fields are strings with microseconds; channel `created`, user `updated` are epoch seconds.
        return slack_ts(when) if key in _TS_KEYS else epoch(when)

    def record_id(self, collection: str, record: Record) -> str:
        if collection == "messages":
            if not record.get("channel") or not record.get("ts"):
                raise ValueError("slack message record needs channel and ts")
            return f"{record['channel']}:{record['ts']}"
        return super().record_id(collection, record)

    def normalize(self, world: World, collection: str, record: Record) -> None:
        if collection == "channels":
            record.setdefault("created", epoch(world.now))
            for flag, default in (("is_channel", True), ("is_private", False), ("is_archived", False),
                                  ("is_member", True)):  # fmt: skip
                record.setdefault(flag, default)
            record.setdefault("name_normalized", record.get("name"))
        elif collection == "messages":
            record.setdefault("type", "message")
            record.setdefault("ts", self._fresh_ts(world, str(record.get("channel")), world.now))
            record.setdefault("text", "")
        elif collection == "users":
            record.setdefault("deleted", False)
            record.setdefault("profile", {})
            record.setdefault("updated", epoch(world.now))

    def _fresh_ts(self, world: World, channel: str, when: datetime) -> str:
        """A ts at `when` not yet used in the channel (Slack ts are unique per channel)."""
        micro = world.next_id(f"slack.ts.{channel}.{epoch(when)}") - 1
        table = world.table(self.name, "messages")
        while f"{channel}:{slack_ts(when, micro)}" in table:
            micro = world.next_id(f"slack.ts.{channel}.{epoch(when)}") - 1
        return slack_ts(when, micro)

    def touch(self, world: World, collection: str, record: Record, when: datetime, before: Record) -> None:
        # An edited message keeps its ts and gains `edited` (https://api.slack.com/events/message/message_changed).
        if collection == "messages" and record.get("text") != before.get("text"):
            record["edited"] = {"user": record.get("user"), "ts": slack_ts(when)}
        elif collection == "users":
            record["updated"] = epoch(when)

    def delete(self, world: World, collection: str, key: str, when: datetime) -> None:
        """A thread parent whose replies remain becomes a tombstone; any other message is gone."""
        table = world.table(self.name, collection)
        record = table[key]
        if collection == "messages" and _replies(world, record["channel"], record["ts"]) and _is_parent(record):
            table[key] = {"type": "message", "subtype": "tombstone", "text": "This message was deleted.",
                          "user": "USLACKBOT", "hidden": True, "channel": record["channel"], "ts": record["ts"],
                          "thread_ts": record["ts"]}  # fmt: skip
            return
        table.pop(key)

    def add_comment(
        self, world: World, collection: str, key: str, body: str, *, public: bool, author: Any, when: datetime
    ) -> Record:
        """A thread reply to the message `key` (`channel:ts`)."""
        if collection != "messages":
            return super().add_comment(world, collection, key, body, public=public, author=author, when=when)
        parent = world.table(self.name, collection)[key]
        thread = parent.get("thread_ts") or parent["ts"]
        parent.setdefault("thread_ts", thread)
        reply = {"type": "message", "channel": parent["channel"], "ts": self._fresh_ts(world, parent["channel"], when),
                 "thread_ts": thread, "parent_user_id": parent.get("user"), "text": body,
                 "user": author or parent.get("user")}  # fmt: skip
        world.table(self.name, collection)[f"{reply['channel']}:{reply['ts']}"] = reply
        return reply

    # https://api.slack.com/authentication/token-types : `Authorization: Bearer xoxb-…`
    def authenticate(self, headers: Message, credentials: Mapping[str, str]) -> bool:
        return (headers.get("Authorization") or "") == f"Bearer {credentials.get('token')}"

    def unauthorized(self) -> Response:
        return Response(200, {"ok": False, "error": "invalid_auth"})

    def rate_limited(self, state: RateState) -> Response:
        return Response(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(state.retry_after)})

    def not_found(self, method: str, path: str) -> Response:
        return Response(404 if not path.startswith("/api/") else 200, {"ok": False, "error": "unknown_method"})


VENDOR = Slack()


# --- requests ---------------------------------------------------------------------------------------


def _args(req: Request) -> dict[str, str]:
    """Query parameters, plus a form-encoded POST body (the Web API takes both)."""
    args = {k: v[-1] for k, v in req.query.items() if v}
    if req.method == "POST" and req.body:
        args.update({k: v[-1] for k, v in parse_qs(req.body.decode(errors="replace")).items() if v})
    return args


def _limit(args: Mapping[str, str], default: int = 100, maximum: int = 999) -> int:
    try:
        return max(1, min(int(args.get("limit") or default), maximum))
    except ValueError:
        raise _fail("invalid_limit") from None


def _cursor(args: Mapping[str, str]) -> str | None:
    """Slack cursors look like base64("next_ts:1512085861000543"); anything else is invalid_cursor."""
    raw = args.get("cursor")
    if not raw:
        return None
    try:
        text = base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _fail("invalid_cursor") from None
    kind, _, value = text.partition(":")
    if kind not in ("next_ts", "next_id") or not value:
        raise _fail("invalid_cursor")
    return value


def _next_cursor(kind: str, value: str) -> str:
    return base64.b64encode(f"{kind}:{value}".encode()).decode()


def _is_parent(message: Mapping[str, Any]) -> bool:
    return message.get("thread_ts") in (None, message.get("ts"))


def _threads(world: World) -> dict[tuple[str, str], list[Record]]:
    def build() -> dict[tuple[str, str], list[Record]]:
        out: dict[tuple[str, str], list[Record]] = {}
        for m in world.table("slack", "messages").values():
            if not _is_parent(m):
                out.setdefault((m["channel"], m["thread_ts"]), []).append(m)
        for replies in out.values():
            replies.sort(key=lambda r: Decimal(r["ts"]))
        return out

    return world.memo(("slack", "threads"), build)


def _replies(world: World, channel: str, ts: str) -> list[Record]:
    return _threads(world).get((channel, ts), [])


def _view(world: World, message: Record) -> Record:
    """A message as served: thread counts derived from the replies the world holds."""
    out = {k: copy.deepcopy(v) for k, v in message.items() if k not in _INTERNAL}
    replies = _replies(world, message["channel"], message["ts"]) if _is_parent(message) else []
    if replies:
        users = list(dict.fromkeys(str(r.get("user")) for r in replies if r.get("user")))
        out.update(thread_ts=message["ts"], reply_count=len(replies), reply_users_count=len(users),
                   reply_users=users[:5], latest_reply=replies[-1]["ts"])  # fmt: skip
    return out


def _member_channel(world: World, args: Mapping[str, str]) -> Record:
    channel = world.table("slack", "channels").get(args.get("channel") or "")
    if channel is None:
        raise _fail("channel_not_found")
    if not channel.get("is_member"):
        raise _fail("not_in_channel")
    return channel


def _window(args: Mapping[str, str]) -> tuple[Decimal, Decimal | None, bool]:
    oldest = _dec(args.get("oldest") or "0")
    latest = _dec(args["latest"]) if args.get("latest") else None
    return oldest, latest, (args.get("inclusive") or "").lower() in ("1", "true")


def _inside(ts: Decimal, oldest: Decimal, latest: Decimal | None, inclusive: bool) -> bool:
    """`oldest`/`latest` are exclusive unless inclusive=true."""
    low = ts >= oldest if inclusive else ts > oldest
    high = latest is None or (ts <= latest if inclusive else ts < latest)
    return low and high


def _ok(**body: Any) -> Response:
    return Response(200, {"ok": True, **body})


@VENDOR.route("GET", "/api/auth.test")
@VENDOR.route("POST", "/api/auth.test")
def auth_test(world: World, req: Request) -> Response:
    s = world.settings["slack"]
    return _ok(url=f"https://{s['workspace']}.slack.com/", team=s["team"], user="caseline", team_id=s["team_id"],
               user_id="UCASELINE", bot_id="BCASELINE", is_enterprise_install=False)  # fmt: skip


# https://api.slack.com/methods/conversations.list
@VENDOR.route("GET", "/api/conversations.list")
@VENDOR.route("POST", "/api/conversations.list")
def conversations_list(world: World, req: Request) -> Response:
    args = _args(req)
    types = set((args.get("types") or "public_channel").split(","))
    exclude_archived = (args.get("exclude_archived") or "").lower() in ("1", "true")
    channels = sorted(world.table("slack", "channels").values(), key=lambda c: str(c["id"]))
    chosen = [c for c in channels if ("private_channel" if c.get("is_private") else "public_channel") in types
              and not (exclude_archived and c.get("is_archived"))]  # fmt: skip
    after = _cursor(args)
    ids = [str(c["id"]) for c in chosen]
    start = ids.index(after) if after in ids else 0
    if after and after not in ids:
        raise _fail("invalid_cursor")
    limit = _limit(args, 100, 1000)
    page = chosen[start : start + limit]
    more = start + limit < len(chosen)
    nxt = _next_cursor("next_id", ids[start + limit]) if more else ""
    return _ok(channels=copy.deepcopy(page), response_metadata={"next_cursor": nxt})


# https://api.slack.com/methods/conversations.history : newest first, top-level messages only.
@VENDOR.route("GET", "/api/conversations.history")
@VENDOR.route("POST", "/api/conversations.history")
def conversations_history(world: World, req: Request) -> Response:
    args = _args(req)
    channel = _member_channel(world, args)
    oldest, latest, inclusive = _window(args)
    before = _cursor(args)
    top = [m for m in world.table("slack", "messages").values() if m["channel"] == channel["id"]
           and (_is_parent(m) or m.get("subtype") == "thread_broadcast")]  # fmt: skip
    found = sorted((m for m in top if _inside(Decimal(m["ts"]), oldest, latest, inclusive)),
                   key=lambda m: Decimal(m["ts"]), reverse=True)  # fmt: skip
    if before is not None:
        found = [m for m in found if Decimal(m["ts"]) <= _dec(before)]
    limit = _limit(args)
    page, more = found[:limit], len(found) > limit
    body: Record = {"messages": [_view(world, m) for m in page], "has_more": more, "pin_count": 0}
    body["response_metadata"] = {"next_cursor": _next_cursor("next_ts", found[limit]["ts"]) if more else ""}
    return _ok(**body)


# https://api.slack.com/methods/conversations.replies : the parent first, then replies oldest first.
@VENDOR.route("GET", "/api/conversations.replies")
@VENDOR.route("POST", "/api/conversations.replies")
def conversations_replies(world: World, req: Request) -> Response:
    args = _args(req)
    channel = _member_channel(world, args)
    parent = world.table("slack", "messages").get(f"{channel['id']}:{args.get('ts')}")
    if parent is None:
        raise _fail("thread_not_found")
    oldest, latest, inclusive = _window(args)
    thread = [parent, *_replies(world, channel["id"], parent["ts"])] if _is_parent(parent) else [parent]
    found = [m for m in thread if m is parent or _inside(Decimal(m["ts"]), oldest, latest, inclusive)]
    after = _cursor(args)
    if after is not None:
        found = [m for m in found if Decimal(m["ts"]) >= _dec(after)]
    limit = _limit(args, 10, 1000)
    page, more = found[:limit], len(found) > limit
    nxt = _next_cursor("next_ts", found[limit]["ts"]) if more else ""
    return _ok(messages=[_view(world, m) for m in page], has_more=more, response_metadata={"next_cursor": nxt})


# https://api.slack.com/methods/users.info
@VENDOR.route("GET", "/api/users.info")
@VENDOR.route("POST", "/api/users.info")
def users_info(world: World, req: Request) -> Response:
    user = world.table("slack", "users").get(_args(req).get("user") or "")
    if user is None:
        raise _fail("user_not_found")
    return _ok(user=copy.deepcopy(user))


# https://api.slack.com/methods/chat.getPermalink
@VENDOR.route("GET", "/api/chat.getPermalink")
@VENDOR.route("POST", "/api/chat.getPermalink")
def chat_get_permalink(world: World, req: Request) -> Response:
    args = _args(req)
    channel = world.table("slack", "channels").get(args.get("channel") or "")
    if channel is None:
        raise _fail("channel_not_found")
    message = world.table("slack", "messages").get(f"{channel['id']}:{args.get('message_ts')}")
    if message is None:
        raise _fail("message_not_found")
    host = f"https://{world.settings['slack']['workspace']}.slack.com"
    url = f"{host}/archives/{channel['id']}/p{message['ts'].replace('.', '')}"
    if not _is_parent(message):
        url += f"?thread_ts={message['thread_ts']}&cid={channel['id']}"
    return _ok(channel=channel["id"], permalink=url)
