"""Slack: top-level channel messages (with their thread replies) from the Web API, one stream per channel.

History is newest-first and `oldest`-filtered, so each channel's pass re-reads a lookback window
(`thread_lookback`, 7 days): that is how edits, late replies to older threads and deletions are seen
without the Events API. The channel's cursor — newest `ts` (a string, never a float) plus a fingerprint
of every message in the window — is written only with the channel's last page.
https://api.slack.com/methods/conversations.history · https://api.slack.com/methods/conversations.replies
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from pydantic import Field, HttpUrl, SecretStr, field_validator

from caseline.connectors.auth import Bearer
from caseline.connectors.base import Connector, Cursors, Page, SourceSettings
from caseline.connectors.http import VendorClient
from caseline.connectors.paging import CursorParam
from caseline.connectors.retry import RateLimitSpec, Retryable
from caseline.connectors.slack_map import SKIPPED_SUBTYPES, map_slack
from caseline.errors import CredentialsError, VendorError
from caseline.evidence import Account, Evidence
from caseline.timeparse import format_utc, parse_duration, utc_now

__all__ = ["Slack", "SlackError", "SlackSettings"]

AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired"})
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
MENTION = re.compile(r"<@([UW][A-Z0-9]+)")
# Volatile per-reader fields: they change without the message changing.
VOLATILE = frozenset({"last_read", "unread_count", "subscribed", "unread_count_display"})
PAGES = CursorParam("response_metadata.next_cursor", param="cursor")  # an empty next_cursor ends a walk


class SlackSettings(SourceSettings):
    base_url: HttpUrl = HttpUrl("https://slack.com")
    token: SecretStr
    channels: list[str] = []
    thread_lookback: timedelta = timedelta(days=7)
    tier3_interval_s: float = Field(
        default=1.3, ge=0, description="seconds between calls to each Tier 3 method (history, replies): ~50/min"
    )

    @field_validator("thread_lookback", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)


class SlackError(VendorError):
    """A Web API answer with `ok: false`; `code` is Slack's error string (`channel_not_found`, …)."""

    def __init__(self, message: str, *, code: str, status: int | None = None) -> None:
        super().__init__(message, source="slack", status=status)
        self.code = code


def check(response: Any) -> None:
    """Slack errors come as HTTP 200 with `ok: false`; `ratelimited` is retried, auth errors are fatal."""
    try:
        body = response.json()
    except ValueError:
        return
    if not isinstance(body, Mapping) or body.get("ok", True) is not False:
        return
    code, method = str(body.get("error") or "unknown_error"), response.request.url.path.rsplit("/", 1)[-1]
    if code == "ratelimited":
        raise Retryable(f"slack: {method} answered ratelimited")
    if code in AUTH_ERRORS:
        raise CredentialsError("slack", f"slack: {method} answered {code} — check sources.slack.token")
    raise SlackError(f"slack: {method} answered ok=false: {code}", code=code, status=response.status_code)


def ts_of(when: datetime) -> str:
    """A datetime as a Slack `ts` string (`"1512085950.000216"`)."""
    return f"{int(when.timestamp())}.{when.microsecond:06d}"


def _fingerprint(message: Mapping[str, Any]) -> str:
    kept = {k: v for k, v in message.items() if k not in VOLATILE}
    return hashlib.sha1(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Slack(Connector[SlackSettings]):
    """Slack channel messages → `slack:message:<channel>:<ts>` evidence; thread replies → activities."""

    name = "slack"
    Settings = SlackSettings

    def client(self) -> VendorClient:
        # Tier 3 (history, replies) ≈ 50/min per method; 429s carry Retry-After
        # (https://api.slack.com/apis/rate-limits). Slack sends no remaining-count header, so the client
        # paces each Tier 3 method itself rather than learning the limit from 429s.
        every = self.settings.tier3_interval_s
        tier3 = {"*/api/conversations.history": every, "*/api/conversations.replies": every}  # `*`: base path
        return VendorClient(self.name, self.settings.base_url, auth=Bearer(self.settings.token),
                            limits=RateLimitSpec(retry_after=True, min_interval=tier3), check=check)  # fmt: skip

    async def fetch(self, api: VendorClient, cursor: Cursors) -> AsyncIterator[Page]:
        team_url = str((await api.get_json("/api/auth.test")).get("url") or "")
        users = _Users(api)
        for channel, name in await self._channels(api):
            stream = f"messages:{channel}"
            async for page in self._channel(api, channel, name, dict(cursor.get(stream) or {}), team_url, users):
                yield page

    async def _channels(self, api: VendorClient) -> list[tuple[str, str | None]]:
        """Configured ids as they are; names resolved by conversations.list; none: every member channel."""
        wanted = [c.strip() for c in self.settings.channels if c.strip()]
        ids = [c for c in wanted if CHANNEL_ID.match(c)]
        names = [c.lstrip("#") for c in wanted if not CHANNEL_ID.match(c)]
        if wanted and not names:
            return [(c, None) for c in dict.fromkeys(ids)]
        params = {"types": "public_channel,private_channel", "exclude_archived": "true", "limit": 200}
        listed: list[Mapping[str, Any]] = []
        async for page in api.paginate("/api/conversations.list", params=params, items="channels", paginator=PAGES):
            listed += [c for c in page.items if isinstance(c, Mapping) and c.get("id")]
        if not wanted:
            return [(str(c["id"]), c.get("name")) for c in listed if c.get("is_member")]
        by_name = {c.get("name"): c for c in listed}
        if missing := [n for n in names if n not in by_name]:
            where = "in sources.slack.channels not found by conversations.list"
            raise VendorError(f"slack: channel {missing[0]!r} {where}", source=self.name)
        named = {str(c["id"]): c.get("name") for c in listed}
        chosen = ids + [str(by_name[n]["id"]) for n in names]
        return [(c, named.get(c)) for c in dict.fromkeys(chosen)]

    async def _channel(
        self, api: VendorClient, channel: str, name: str | None, state: dict[str, Any], team_url: str, users: _Users
    ) -> AsyncIterator[Page]:
        """One channel's pass: history since min(watermark, now − lookback), changed messages with replies."""
        stream, now = f"messages:{channel}", utc_now()
        window = ts_of(now - self.settings.thread_lookback)
        watermark: str | None = state.get("ts")
        oldest = min(watermark or ts_of(self.settings.start_time(now)), window, key=Decimal)
        known: dict[str, str] = dict(state.get("recent") or {})
        newest, seen = watermark, dict[str, str]()
        params = {"channel": channel, "oldest": oldest, "limit": 200}
        async for page in api.paginate("/api/conversations.history", params=params, items="messages", paginator=PAGES):
            changed = []
            for message in page.items:
                ts = message.get("ts") if isinstance(message, Mapping) else None
                if not isinstance(ts, str) or message.get("subtype") in SKIPPED_SUBTYPES:
                    changed += [message] if not isinstance(ts, str) else []  # the mapper quarantines it
                    continue
                newest = ts if newest is None or Decimal(ts) > Decimal(newest) else newest
                seen[ts] = _fingerprint(message)
                if known.get(ts) != seen[ts]:
                    changed.append(message)
            base = {"channel": channel, "channel_name": name, "team_url": team_url}
            threads = await api.gather_each(partial(self._replies, api, channel), changed)
            items = [{**base, "message": m, "replies": r, "users": await users.lookup([m, *r])}
                     for m, r in zip(changed, threads, strict=True)]  # fmt: skip
            yield Page(stream, items, None)
        gone = [ts for ts in known if Decimal(ts) > Decimal(oldest) and ts not in seen]
        tombstones = [{"channel": channel, "team_url": team_url, "gone": {"ts": ts, "noticed_at": format_utc(now)}}
                      for ts in sorted(gone, key=Decimal)]  # fmt: skip
        recent = {ts: fp for ts, fp in seen.items() if Decimal(ts) > Decimal(window)}
        value = {"ts": newest, "recent": recent} if newest else None
        yield Page(stream, tombstones, value, final=True)

    async def _replies(self, api: VendorClient, channel: str, message: Any) -> list[dict[str, Any]]:
        """A parent's thread replies (conversations.replies also returns the parent: dropped)."""
        if not isinstance(message, Mapping) or not message.get("reply_count") or not message.get("ts"):
            return []
        replies: list[dict[str, Any]] = []
        params = {"channel": channel, "ts": message["ts"], "limit": 200}
        async for page in api.paginate("/api/conversations.replies", params=params, items="messages", paginator=PAGES):
            replies += [dict(r) for r in page.items if isinstance(r, Mapping) and r.get("ts") != message["ts"]]
        return replies

    def map(self, raw: Mapping[str, Any]) -> Evidence | Account | None:
        return map_slack(raw)


class _Users:
    """users.info at most once per user per run; unknown users (deleted, other workspaces) are skipped."""

    def __init__(self, api: VendorClient) -> None:
        self.api, self.cache = api, dict[str, dict[str, Any] | None]()

    async def lookup(self, messages: Iterable[Any]) -> dict[str, dict[str, Any]]:
        """Everyone the messages name (authors and mentions), fetching only those not seen this run."""
        wanted = {str(x) for m in messages if isinstance(m, Mapping)
                  for x in [m.get("user"), *MENTION.findall(str(m.get("text") or ""))] if x}  # fmt: skip
        missing = sorted(wanted - set(self.cache))
        self.cache.update(zip(missing, await self.api.gather_each(self._one, missing), strict=True))
        return {u: found for u in sorted(wanted) if (found := self.cache.get(u))}

    async def _one(self, user: str) -> dict[str, Any] | None:
        try:
            u = (await self.api.get_json("/api/users.info", params={"user": user})).get("user") or {}
        except SlackError as exc:
            if exc.code in ("user_not_found", "users_not_found"):
                return None
            raise
        profile = u.get("profile") or {}
        name = profile.get("real_name") or u.get("real_name") or profile.get("display_name") or u.get("name")
        return {"name": name, "email": profile.get("email"), "is_bot": bool(u.get("is_bot"))}
