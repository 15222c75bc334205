"""The connector contract: five members per vendor; the runner (`sync.py`) does everything else.

    name      the `source` part of every id, the `[sources.<name>]` key, the registry key
    Settings  pydantic model of its config table (base: `SourceSettings`; tokens are SecretStr)
    client()  how to reach the vendor: a `VendorClient` (base URL, auth, RateLimitSpec, check hook)
    fetch()   async pages of raw items, already enriched with their children, each with the cursor
              that is safe to resume from once the page is stored
    map()     pure: one raw item → Evidence | Account | None; raises MalformedItem for a bad item

A vendor file declares; the shared layer acts: connector modules do not import httpx, tenacity,
asyncio.sleep or the store.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, HttpUrl, ValidationError, field_validator

from caseline.connectors.http import VendorClient
from caseline.errors import MalformedItem
from caseline.evidence import Account, Evidence, Person
from caseline.timeparse import UTC, to_utc, utc_now

__all__ = ["DEFAULT_LOOKBACK", "Connector", "Cursors", "Page", "SourceSettings", "first_line", "person"]

DEFAULT_LOOKBACK = timedelta(days=90)

Cursors = Mapping[str, Mapping[str, Any]]
"""Stored cursors of one source, by stream (`{"tickets": {"after_cursor": "…"}}`); empty on a first or
`--full` sync. The value of each is the connector's own, opaque to the runner."""


class SourceSettings(BaseModel):
    """Base of every `[sources.<name>]` table: unknown keys are errors, secrets are SecretStr."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: HttpUrl
    start_date: date | datetime | None = None

    @field_validator("start_date", mode="before")
    @classmethod
    def _aware(cls, value: Any) -> Any:
        if isinstance(value, datetime) or (isinstance(value, str) and "T" in value):
            return to_utc(value)
        return value

    @property
    def base(self) -> str:
        """`base_url` without its trailing slash, for building UI links."""
        return str(self.base_url).rstrip("/")

    def start_time(self, now: datetime | None = None) -> datetime:
        """Where a first (or `--full`) sync starts: `start_date`, else 90 days back from `now`."""
        value = self.start_date
        if value is None:
            return (now or utc_now()) - DEFAULT_LOOKBACK
        if isinstance(value, datetime):
            return to_utc(value)
        return datetime(value.year, value.month, value.day, tzinfo=UTC)


S = TypeVar("S", bound=SourceSettings)


@dataclass(frozen=True)
class Page:
    """Raw items of one stream and the cursor that covers them (stored together, in one transaction).

    `cursor=None` stores the items without moving the cursor (pages inside an unsorted window);
    `final=True` marks the last page of the stream in this pass.
    """

    stream: str
    items: Sequence[Mapping[str, Any]]
    cursor: dict[str, Any] | None
    final: bool = False


class Connector(ABC, Generic[S]):
    """One vendor. Subclasses set `name` and `Settings` and implement `client`, `fetch` and `map`.

    `class Zendesk(Connector[ZendeskSettings])` types `self.settings` as the vendor's own model.
    """

    name: ClassVar[str]
    Settings: ClassVar[type[SourceSettings]]

    def __init__(self, settings: S) -> None:
        if not isinstance(settings, self.Settings):
            raise TypeError(f"{type(self).__name__} needs {self.Settings.__name__}, got {type(settings).__name__}")
        self.settings: S = settings

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.settings.base!r})"

    @abstractmethod
    def client(self) -> VendorClient:
        """A fresh client for one run (the runner closes it)."""

    @abstractmethod
    def fetch(self, api: VendorClient, cursor: Cursors) -> AsyncIterator[Page]:
        """Pages in order, each with the cursor that is safe to resume from once it is stored."""

    @abstractmethod
    def map(self, raw: Mapping[str, Any]) -> Evidence | Account | None:
        """One raw item → model. Pure: no I/O, no clock. Bad item → MalformedItem; skipped → None."""

    def readable(self, raw: Mapping[str, Any]) -> bool:
        """Whether `map` accepts `raw`: a cursor must not move past an item the runner will quarantine."""
        try:
            self.map(raw)
        except MalformedItem:
            return False
        return True


# ---- small helpers every `map` needs ------------------------------------------------------------
def person(name: object = None, email: object = None) -> Person | None:
    """A Person from whatever the vendor gave; None when it gave neither name nor email."""
    name_s = str(name).strip() if name else ""
    email_s = str(email).strip() if email else ""
    return Person(name=name_s or None, email=email_s or None) if name_s or email_s else None


def first_line(exc: BaseException) -> str:
    """One line describing why mapping failed (a MalformedItem reason), never a whole payload."""
    if isinstance(exc, ValidationError) and exc.errors():
        error = exc.errors()[0]
        return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]
