"""The world behind the emulator: each vendor's records in that vendor's own JSON shape, plus a clock.

Records are plain dicts exactly as the vendor would send them (Zendesk tickets additionally carry their
`comments` and `audits` lists; Intercom conversations their `conversation_parts`; HubSpot associations are
`{fromObjectType, fromObjectId, toObjectType, toObjectId}` records). Tests mutate the world while the server
reads it from another thread, so every access goes through `World.lock`.

World JSON files look like `{"now": ..., "credentials": {...}, "settings": {...}, "vendors": {vendor:
{collection: [records]}}}`; any string of the form `@-3d2h15m` (or `@+1h`, `@now`) is a time relative to the
world's `now` and becomes the vendor's own time format when loaded.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from caseline.emulator.vendors import VENDORS, Vendor, get_vendor
from caseline.emulator.vendors._base import Record
from caseline.timeparse import format_utc, parse_duration, to_utc, utc_now

__all__ = ["World", "relative_time"]

T = TypeVar("T")

_RELATIVE = re.compile(r"^@(?:now|([+-])((?:\d+[wdhms])+))$")
_PART = re.compile(r"(\d+)([wdhms])")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def relative_time(text: str, now: datetime) -> datetime | None:
    """`@-3d2h15m` → now minus 3 days 2 hours 15 minutes; None when `text` is not such an offset."""
    found = _RELATIVE.match(text)
    if not found:
        return None
    if found.group(1) is None:
        return now
    seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(found.group(2)))
    return now + timedelta(seconds=-seconds if found.group(1) == "-" else seconds)


class World:
    """Vendor-native records per vendor and collection, a world clock and the mutations tests need.

    `credentials[vendor]` is what that vendor's auth check accepts (Zendesk `{email, token}` and optionally
    `oauth_token`; Intercom and HubSpot `{token}`); a vendor without an entry accepts any request.
    `settings[vendor]` holds the vendor module's knobs (e.g. `settings["hubspot"]["search_cap"] = 50`).
    """

    def __init__(
        self,
        *,
        now: datetime | None = None,
        credentials: Mapping[str, Mapping[str, str]] | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        start = now or utc_now()
        if start.tzinfo is None:
            raise ValueError("World(now=...) must be timezone-aware")
        self.now: datetime = to_utc(start).replace(microsecond=0)
        self.credentials: dict[str, dict[str, str]] = {k: dict(v) for k, v in (credentials or {}).items()}
        self.settings: dict[str, dict[str, Any]] = {
            name: dict(vendor.default_settings) for name, vendor in VENDORS.items()
        }
        for name, values in (settings or {}).items():
            get_vendor(name)
            self.settings[name].update(values)
        self.lock = threading.RLock()
        self.version = 0  # bumped by every mutation; read-side caches key on it
        self._data: dict[str, dict[str, dict[str, Record]]] = {}
        self._memo: dict[Hashable, tuple[int, Any]] = {}
        self._counters: dict[str, int] = {}

    # --- clock --------------------------------------------------------------------------------------

    def advance(self, delta: timedelta | float | str) -> datetime:
        """Move the world clock forward (`"90s"`, `"2h"`, seconds or a timedelta)."""
        with self.lock:
            self.now += parse_duration(delta)
            return self.now

    def at(self, offset: str) -> datetime:
        """`world.at("-3d")` → the aware time 3 days before the world's now."""
        text = offset if offset.startswith("@") else f"@{offset}"
        when = relative_time(text, self.now)
        if when is None:
            raise ValueError(f"bad relative time {offset!r}: use e.g. -3d2h15m, +1h or now")
        return when

    def _tick(self) -> datetime:
        # Each mutation happens one second after the previous one, so change markers always move forward.
        self.now += timedelta(seconds=1)
        return self.now

    # --- reads --------------------------------------------------------------------------------------

    def vendors(self) -> list[str]:
        with self.lock:
            return [name for name, tables in self._data.items() if any(tables.values())]

    def table(self, vendor: str, collection: str) -> dict[str, Record]:
        """The live records of one collection, by id; callers hold `lock` and copy what they hand out."""
        source = get_vendor(vendor)
        if collection not in source.collections:
            raise KeyError(f"{vendor} has no collection {collection!r} (known: {', '.join(source.collections)})")
        return self._data.setdefault(vendor, {}).setdefault(collection, {})

    def get(self, vendor: str, collection: str, record_id: object) -> Record | None:
        with self.lock:
            found = self.table(vendor, collection).get(str(record_id))
            return copy.deepcopy(found) if found is not None else None

    def all(self, vendor: str, collection: str) -> list[Record]:
        with self.lock:
            return copy.deepcopy(list(self.table(vendor, collection).values()))

    def memo(self, key: Hashable, build: Callable[[], T]) -> T:
        """`build()` cached until the next mutation (sorted indexes for paging large worlds)."""
        with self.lock:
            hit = self._memo.get(key)
            if hit is not None and hit[0] == self.version:
                value: T = hit[1]
                return value
            value = build()
            self._memo[key] = (self.version, value)
            return value

    def next_id(self, kind: str, floor: int = 0) -> int:
        """A fresh integer id of `kind`: above `floor` (the largest existing one) and every id given out."""
        with self.lock:
            value = max(self._counters.get(kind, 0), floor) + 1
            self._counters[kind] = value
            return value

    # --- mutations ----------------------------------------------------------------------------------

    def upsert(self, vendor: str, collection: str, record: Mapping[str, Any]) -> str:
        """Insert or replace a record (vendor shape); missing times become the world's now. Returns its id."""
        with self.lock:
            self._tick()
            return self._put(vendor, collection, record)

    def edit(self, vendor: str, collection: str, record_id: object, **changes: Any) -> Record:
        """Change fields (dict values are merged one level deep) and stamp the record as changed now.

        Bumps `updated_at`/`updatedAt` and the vendor's change marker (Zendesk `generated_timestamp`,
        HubSpot `hs_lastmodifieddate`/`lastmodifieddate`); Zendesk also records an audit for status changes.
        """
        with self.lock:
            source = get_vendor(vendor)
            record = self._existing(vendor, collection, record_id)
            before = copy.deepcopy(record)
            for name, value in changes.items():
                if isinstance(value, dict) and isinstance(record.get(name), dict):
                    record[name].update(copy.deepcopy(value))
                else:
                    record[name] = copy.deepcopy(value)
            source.touch(self, collection, record, self._tick(), before)
            self.version += 1
            return copy.deepcopy(record)

    def delete(self, vendor: str, collection: str, record_id: object) -> None:
        """Delete the vendor's way: Zendesk tombstone (`status: deleted`), Intercom gone, HubSpot archived."""
        with self.lock:
            self._existing(vendor, collection, record_id)
            get_vendor(vendor).delete(self, collection, str(record_id), self._tick())
            self.version += 1

    def add_comment(
        self,
        vendor: str,
        collection: str,
        record_id: object,
        body: str,
        *,
        public: bool = True,
        author: Any = None,
    ) -> Record:
        """Append a reply (Zendesk comment + audit, Intercom part, HubSpot associated note); returns it."""
        with self.lock:
            self._existing(vendor, collection, record_id)
            added = get_vendor(vendor).add_comment(
                self, collection, str(record_id), body, public=public, author=author, when=self._tick()
            )
            self.version += 1
            return copy.deepcopy(added)

    def _existing(self, vendor: str, collection: str, record_id: object) -> Record:
        found = self.table(vendor, collection).get(str(record_id))
        if found is None:
            raise KeyError(f"{vendor} {collection} has no record {record_id!r}")
        return found

    def _put(self, vendor: str, collection: str, record: Mapping[str, Any]) -> str:
        """Store a copy without moving the clock (loading files and generating worlds)."""
        source = get_vendor(vendor)
        stored = copy.deepcopy(dict(record))
        with self.lock:
            table = self.table(vendor, collection)
            source.normalize(self, collection, stored)
            key = source.record_id(collection, stored)
            table[key] = stored
            self.version += 1
            return key

    # --- files --------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, now: datetime | None = None) -> World:
        """A world from the file format; `now` overrides the file's (default: the time of loading)."""
        unknown = set(data) - {"now", "credentials", "settings", "vendors"}
        if unknown:
            raise ValueError(f"unknown world keys: {', '.join(sorted(unknown))}")
        if now is None and data.get("now") not in (None, "@now"):
            now = to_utc(data["now"], require_offset=True)
        world = cls(now=now, credentials=data.get("credentials"), settings=data.get("settings"))
        for vendor_name, collections in (data.get("vendors") or {}).items():
            vendor = get_vendor(vendor_name)
            for collection, records in collections.items():
                for record in records:
                    world._put(vendor_name, collection, _resolve_times(record, vendor, world.now, ""))
        return world

    @classmethod
    def load(cls, path: str | Path, *, now: datetime | None = None) -> World:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")), now=now)

    def to_dict(self) -> dict[str, Any]:
        """The file format with absolute times (a snapshot that loads back into an equal world)."""
        with self.lock:
            return {
                "now": format_utc(self.now),
                "credentials": copy.deepcopy(self.credentials),
                "settings": copy.deepcopy(self.settings),
                "vendors": {
                    vendor: {name: copy.deepcopy(list(table.values())) for name, table in tables.items() if table}
                    for vendor, tables in self._data.items()
                    if any(tables.values())
                },
            }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")


def _resolve_times(value: Any, vendor: Vendor, now: datetime, key: str) -> Any:
    """Replace every `@…` offset string by the vendor's encoding of that time (keyed by its field name)."""
    if isinstance(value, str) and value.startswith("@"):
        when = relative_time(value, now)
        if when is None:
            raise ValueError(f"bad relative time {value!r} in {vendor.name} field {key!r}")
        return vendor.encode_time(key, when)
    if isinstance(value, Mapping):
        return {k: _resolve_times(v, vendor, now, str(k)) for k, v in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return [_resolve_times(v, vendor, now, key) for v in value]
    return value
