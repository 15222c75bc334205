"""HubSpot CRM v3: companies → accounts; tickets and notes → evidence, tied together by v4 associations.

Streams, in this order so accounts are stored before the evidence that names them: `companies`,
`contacts` (emails and employers of the people on tickets; not stored), `tickets`, `notes`, then the
archived (deleted) tickets and notes as tombstones. Search is sorted ascending by the modified property,
so each page is stored with its own cursor (`GTE` that value next time, minus a small lookback). A query
pages through at most 10,000 results: near the cap a new query starts at the last value seen (the
boundary's ids are not yielded twice); when a whole window shares one timestamp it is walked by id.
https://developers.hubspot.com/docs/api/crm/search

Once per run, ticket envelopes get their stage label and closed flag (`GET /crm/v3/pipelines/tickets`),
and note envelopes their owner (`GET /crm/v3/owners/{id}`, once per owner); a 403 or 404 leaves them out.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from datetime import datetime
from typing import Any, cast

from pydantic import Field, SecretStr, field_validator

from caseline.connectors.auth import Bearer
from caseline.connectors.base import Connector, Cursors, Page, SourceSettings
from caseline.connectors.http import NotFoundResponse, PageResult, VendorClient
from caseline.connectors.hubspot_map import (
    KEYS,
    contact_person,
    iso_millis,
    map_record,
    millis,
    owner_person,
    search_body,
    stage_table,
)
from caseline.connectors.paging import CursorParam, dig
from caseline.connectors.retry import RateLimitSpec, json_field_is
from caseline.errors import CredentialsError
from caseline.evidence import Account, Evidence
from caseline.timeparse import utc_now

__all__ = ["HubSpot", "HubSpotSettings"]

log = logging.getLogger("caseline.connectors")

SEARCH, LIST = "/crm/v3/objects/{}/search", "/crm/v3/objects/{}"
PIPELINES, OWNER = "/crm/v3/pipelines/tickets", "/crm/v3/owners/{}"
ASSOCIATIONS = "/crm/v4/associations/{}/{}/batch/read"
LIMIT, SEARCH_CAP, LOOKBACK_MS = 200, 10_000, 60_000  # lookback: the search index lags a few seconds
STREAMS = ("companies", "contacts", "tickets", "notes")
LINKED = {"tickets": ("companies", "contacts"), "notes": ("companies", "contacts", "tickets")}
PROPERTIES = {
    "companies": ("name", "domain", "hs_additional_domains"),
    "contacts": ("email", "firstname", "lastname", "associatedcompanyid"),
    "tickets": ("subject", "content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_priority", "hs_ticket_category",
                "source_type", "createdate", "hs_lastmodifieddate", "closed_date"),
    "notes": ("hs_note_body", "hs_timestamp", "hubspot_owner_id", "createdate", "hs_lastmodifieddate"),
}  # fmt: skip
AFTER_BODY = CursorParam("paging.next.after", body_path="after")
AFTER_PARAM = CursorParam("paging.next.after", param="after")


class HubSpotSettings(SourceSettings):
    token: SecretStr
    plan_property: str | None = None
    arr_property: str = "annualrevenue"
    portal_id: str | None = None
    search_interval_s: float = Field(default=0.2, ge=0, description="search allows ~5 requests/s per account")

    @field_validator("portal_id", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class HubSpot(Connector[HubSpotSettings]):
    """HubSpot tickets → `hubspot:ticket:<id>`, notes → `hubspot:note:<id>`; companies → accounts."""

    name = "hubspot"
    Settings = HubSpotSettings
    search_cap, page_size = SEARCH_CAP, LIMIT  # per instance in tests: a small cap moves windows sooner

    def client(self) -> VendorClient:
        # 429 bodies name the policy: DAILY is gone until tomorrow (stop this source); others are bursts.
        limits = RateLimitSpec(interval_ms="X-HubSpot-RateLimit-Interval-Milliseconds",
                               exhausted=json_field_is("policyName", "DAILY"),
                               min_interval={"*/crm/v3/objects/*/search": self.settings.search_interval_s})  # fmt: skip
        return VendorClient(self.name, self.settings.base_url, auth=Bearer(self.settings.token), limits=limits)

    async def fetch(self, api: VendorClient, cursor: Cursors) -> AsyncIterator[Page]:
        started, contacts, names = utc_now(), dict[str, dict[str, Any]](), _Names(api)
        for stream in STREAMS:
            async for records, value, final in self._search(api, stream, cursor.get(stream) or {}, started):
                if stream == "contacts":
                    contacts.update((str(r["id"]), contact_person(r)) for r in records if r.get("id"))
                items = await self._associate(api, stream, records, contacts) if stream in LINKED else (
                    [{KEYS[stream]: r} for r in records])  # fmt: skip
                await names.fill(stream, items)
                yield Page(stream, items, value, final)
        for stream in LINKED:
            async for page in self._archived(api, stream, cursor.get(f"{stream}_archived") or {}, started):
                yield page

    def map(self, raw: Mapping[str, Any]) -> Evidence | Account | None:
        """Pure: an envelope → Evidence (ticket, note; archived = deleted) | Account (company) | None (contact)."""
        return map_record(raw, self.settings)

    def _start(self, held: Any, started: datetime, *, everything: bool = False) -> int:
        """Where a query starts: the cursor minus the lookback; first time, start_date (accounts: all)."""
        if (value := millis(held)) is not None:
            return value - LOOKBACK_MS
        return 0 if everything else int(self.settings.start_time(started).timestamp() * 1000)

    async def _search(
        self, api: VendorClient, stream: str, held: Mapping[str, Any], started: datetime
    ) -> AsyncIterator[tuple[list[dict[str, Any]], dict[str, Any], bool]]:
        """Pages of changed records, oldest first, with the cursor covering each; windows move near the cap."""
        prop = "lastmodifieddate" if stream == "contacts" else "hs_lastmodifieddate"
        start = self._start(held.get("modified"), started, everything=stream == "companies")
        ceiling = int(started.timestamp() * 1000)
        by_id: int | None = None  # set while walking one over-full timestamp by hs_object_id
        boundary: set[str] = set()  # ids at `start` already yielded by the previous window
        frozen: int | None = None  # the cursor never passes a record that could not be read
        while True:
            body = search_body(prop, start, by_id, PROPERTIES[stream] + self._extra(stream), self.page_size)
            seen, last, last_id, at_last, more = 0, start, by_id or 0, set(boundary), False
            pages = cast(AsyncGenerator[PageResult, None], api.paginate(
                SEARCH.format(stream), method="POST", json=body, items="results", paginator=AFTER_BODY))  # fmt: skip
            async with aclosing(pages) as walk:
                async for page in walk:
                    seen, fresh = seen + len(page.items), []
                    for r in (dict(r) for r in page.items if isinstance(r, Mapping)):
                        value, rid = millis(dig(r, f"properties.{prop}")), str(r.get("id"))
                        if frozen is None and not self.readable({KEYS[stream]: r}):
                            frozen = last
                        if value is not None and value > last:
                            last, at_last = value, set()
                        at_last |= {rid} if value == last else set()
                        last_id = max(last_id, int(rid)) if rid.isdigit() else last_id
                        if not (rid in boundary and value == start):
                            fresh.append(r)
                    covered = {"modified": iso_millis(min(last if frozen is None else frozen, ceiling))}
                    yield fresh, covered, by_id is None and not dig(page.json, "paging.next.after")
                    if more := seen + self.page_size > self.search_cap and bool(dig(page.json, "paging.next.after")):
                        break
            if not more and by_id is None:
                return
            if not more:  # the over-full timestamp is done: carry on after it
                start, by_id, boundary = start + 1, None, set()
            elif by_id is not None:
                by_id = last_id
            elif last > start:
                start, boundary = last, at_last
            else:  # a whole window shares `start`: walk that timestamp by id
                by_id, boundary = 0, at_last

    def _extra(self, stream: str) -> tuple[str, ...]:
        if stream != "companies":
            return ()
        return tuple(p for p in (self.settings.plan_property, self.settings.arr_property) if p)

    async def _associate(
        self, api: VendorClient, stream: str, records: list[dict[str, Any]], contacts: dict[str, dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Each record with the ids it is associated with: one batch read per page and target type.

        A note tied only to a ticket belongs to that ticket's company (one more batch read)."""
        ids = [str(r["id"]) for r in records if isinstance(r.get("id"), str | int)]
        linked = {target: await _links(api, stream, target, ids) for target in LINKED[stream]}
        await self._contacts(api, sorted({c for v in linked["contacts"].values() for c in v} - set(contacts)), contacts)
        tickets = sorted({t for v in linked.get("tickets", {}).values() for t in v})
        via = await _links(api, "tickets", "companies", tickets)
        out = []
        for r in records:
            rid = str(r.get("id"))
            links: dict[str, Any] = {t: linked[t].get(rid, []) for t in LINKED[stream]}
            links["contacts"] = [contacts[c] for c in links["contacts"] if c in contacts]
            if not links["companies"]:
                links["companies"] = list(dict.fromkeys(c for t in links.get("tickets", []) for c in via.get(t, [])))
            out.append({KEYS[stream]: r, **links})
        return out

    async def _contacts(self, api: VendorClient, ids: list[str], contacts: dict[str, dict[str, Any]]) -> None:
        """Look up contacts not seen in this run (an older contact on a new ticket), 100 ids a query."""
        for chunk in (ids[i : i + 100] for i in range(0, len(ids), 100)):
            wanted = {"propertyName": "hs_object_id", "operator": "IN", "values": chunk}
            body = {"filterGroups": [{"filters": [wanted]}], "properties": list(PROPERTIES["contacts"]), "limit": 100}
            answer = await api.post_json(SEARCH.format("contacts"), json=body)
            found = answer.get("results") or [] if isinstance(answer, Mapping) else []
            contacts.update((str(r["id"]), contact_person(r)) for r in found if isinstance(r, Mapping) and r.get("id"))

    async def _archived(
        self, api: VendorClient, stream: str, held: Mapping[str, Any], started: datetime
    ) -> AsyncIterator[Page]:
        """Archived records as tombstones. The list is in id order, so the watermark is written at the end."""
        since = self._start(held.get("archived_at"), started)
        high, stop = millis(held.get("archived_at")) or since, int(started.timestamp() * 1000)
        params = {"archived": "true", "limit": 100, "properties": ",".join(PROPERTIES[stream])}
        async for page in api.paginate(LIST.format(stream), params=params, items="results", paginator=AFTER_PARAM):
            gone = [r for r in page.items if isinstance(r, Mapping)]
            stamps = {id(r): millis(r.get("archivedAt")) for r in gone}
            high = max([high, *(s for s in stamps.values() if s is not None)])
            if not all(self.readable({KEYS[stream]: r}) for r in gone):
                stop = millis(held.get("archived_at")) or since  # read this list again next time
            final = not dig(page.json, "paging.next.after")
            items = [{KEYS[stream]: r} for r in gone if (stamps[id(r)] or since) >= since]
            value = {"archived_at": iso_millis(min(high, stop))} if final else None
            yield Page(f"{stream}_archived", items, value, final)


class _Names:
    """Stage labels for tickets and owners for notes, each read at most once per run."""

    def __init__(self, api: VendorClient) -> None:
        self.api, self.denied = api, set[str]()  # what a 403 refused (a token without that scope)
        self.stages: dict[str, dict[str, Any]] | None = None
        self.owners: dict[str, dict[str, Any] | None] = {}

    async def fill(self, stream: str, items: list[dict[str, Any]]) -> None:
        """Ticket envelopes get `stage`, note envelopes `owner` (left out when unknown)."""
        table: Mapping[str, Any]
        if stream == "tickets" and items:
            if self.stages is None:
                self.stages = stage_table(await self._get("ticket stage labels", PIPELINES, archived="false"))
            table, key, path = self.stages, "stage", "ticket.properties.hs_pipeline_stage"
        elif stream == "notes":
            key, path = "owner", "note.properties.hubspot_owner_id"
            missing = sorted({str(v) for i in items if (v := dig(i, path))} - set(self.owners))
            self.owners.update(zip(missing, await self.api.gather_each(self._owner, missing), strict=True))
            table = self.owners
        else:
            return
        for item in items:
            if (found := table.get(str(dig(item, path)))) is not None:
                item[key] = found

    async def _owner(self, owner_id: str) -> dict[str, Any] | None:
        """A deactivated user is only listed among the archived owners."""
        found = await self._get("note authors", OWNER.format(owner_id), archived="false")
        return owner_person(found or await self._get("note authors", OWNER.format(owner_id), archived="true"))

    async def _get(self, what: str, path: str, **params: str) -> Any:
        """None for a 404, and for a 403 (logged once; that lookup is not tried again this run)."""
        if what in self.denied:
            return None
        try:
            return await self.api.get_json(path, params=params)
        except NotFoundResponse:
            return None
        except CredentialsError as exc:
            if what not in self.denied:
                log.warning("hubspot: %s left unknown: %s", what, exc)
            self.denied.add(what)
            return None


async def _links(api: VendorClient, source: str, target: str, ids: list[str]) -> dict[str, list[str]]:
    """`{id: [associated ids]}` from one v4 batch read (207 lists the ids without any in `errors`)."""
    if not ids:
        return {}
    answer = await api.post_json(ASSOCIATIONS.format(source, target), json={"inputs": [{"id": i} for i in ids]})
    found: dict[str, list[str]] = {}
    for result in answer.get("results") or [] if isinstance(answer, Mapping) else []:
        to = [str(t["toObjectId"]) for t in result.get("to") or [] if t.get("toObjectId") is not None]
        found[str(dig(result, "from.id"))] = to
    return found
