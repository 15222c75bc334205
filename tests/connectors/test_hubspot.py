"""HubSpot: `map` on the recorded samples, and `fetch` against respx: streams, associations, cursor per page,
the 10,000-result cap (with a small cap), archived tombstones and the 429 policies."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest
import respx

from caseline.connectors import CONNECTORS
from caseline.connectors.budget import Budget
from caseline.connectors.hubspot import LOOKBACK_MS, HubSpot, HubSpotSettings
from caseline.connectors.hubspot_map import millis, owner_person, stage_table
from caseline.connectors.intercom import Intercom
from caseline.connectors.sync import run_sync
from caseline.errors import MalformedItem, RateLimitExhausted
from caseline.evidence import Account, Evidence, Person
from caseline.timeline.assemble import is_resolved_status
from caseline.timeparse import format_utc, to_utc, utc_now
from tests.conftest import SHARED

BASE = "https://api.hubapi.com"
Sample = Callable[[str, str], Any]
SEARCH = rf"^{BASE}/crm/v3/objects/(?P<kind>\w+)/search$"


# GET /crm/v3/pipelines/tickets and /crm/v3/owners/{id} as documented (trimmed)
PIPELINES = {"results": [{"id": "0", "label": "Support Pipeline", "displayOrder": 0, "archived": False, "stages": [
    {"id": "1", "label": "New", "displayOrder": 0, "metadata": {"ticketState": "OPEN", "isClosed": "false"}},
    {"id": "3", "label": "Waiting on us", "displayOrder": 2, "metadata": {"ticketState": "OPEN"}},
    {"id": "4", "label": "Closed", "displayOrder": 3, "metadata": {"ticketState": "CLOSED", "isClosed": "true"}},
]}, {"id": "812723471", "label": "Escalations", "displayOrder": 1, "stages": [
    {"id": "1234914", "label": "Won't fix", "displayOrder": 0, "metadata": {"ticketState": "CLOSED"}},
    {"id": "1234915", "label": "Resolved", "displayOrder": 1, "metadata": {"isClosed": "true"}},
]}]}  # fmt: skip
OWNER = {"id": "51234001", "email": "dana@acme-support.example", "type": "PERSON", "firstName": "Dana",
         "lastName": "Owner", "userId": 9586504, "archived": False}  # fmt: skip


def _settings(**extra: Any) -> HubSpotSettings:
    base = {"base_url": BASE, "token": "hs-token", "plan_property": "plan_tier", "portal_id": 1234567,
            "start_date": "2023-01-01"}  # fmt: skip
    return HubSpotSettings.model_validate({**base, **extra})


@pytest.fixture
def hubspot() -> HubSpot:
    return HubSpot(_settings())


def test_registered() -> None:
    assert CONNECTORS["hubspot"] is HubSpot


def test_every_sample_maps(hubspot: HubSpot, vendor_sample: Sample) -> None:
    if not (SHARED / "vendor-samples" / "hubspot").exists():
        pytest.skip("../shared/vendor-samples/hubspot is absent")
    kinds = {
        "companies_list_dlt.json": "company",
        "contacts_list_dlt.json": "contact",
        "tickets_list_dlt.json": "ticket",
    }
    for name, kind in kinds.items():
        for record in vendor_sample("hubspot", name)["results"]:
            raw = {kind: record}
            result = hubspot.map(raw)
            types: dict[str, type] = {"company": Account, "contact": type(None), "ticket": Evidence}
            expected = types[kind]
            assert isinstance(result, expected), name
            assert hubspot.map(copy.deepcopy(raw)) == result  # pure


def test_ticket_sample(hubspot: HubSpot, vendor_sample: Sample) -> None:
    record = vendor_sample("hubspot", "tickets_list_dlt.json")["results"][0]
    contact = {"id": "51", "email": "bh@hubspot.com", "name": "Brian Halligan", "company": "7086461639"}
    item = hubspot.map({"ticket": record, "companies": [], "contacts": [contact]})
    assert isinstance(item, Evidence) and item.is_report
    assert item.id == "hubspot:ticket:1075966440"
    assert item.url == "https://app.hubspot.com/contacts/1234567/record/0-5/1075966440"
    assert item.title == "Barry Smallridge" and item.body == "New Ticket"
    assert item.status == "1" and item.priority == "high"  # the pipeline stage id; priority in lower case
    assert item.author == Person(name="Brian Halligan", email="bh@hubspot.com") and item.author_role == "customer"
    assert item.account_ref == "hubspot:company:7086461639"  # no company association: the contact's employer
    assert format_utc(item.created_at) == "2023-01-15T05:00:00Z"  # seconds precision in the source
    assert format_utc(item.updated_at) == "2023-02-24T05:01:27.700Z"  # milliseconds kept
    assert not item.deleted and item.raw["id"] == "1075966440"


def test_ticket_status_is_the_stage_label_and_closed_stages_read_as_resolved(hubspot: HubSpot) -> None:
    stages = stage_table(PIPELINES)
    assert stages["4"] == {"label": "Closed", "closed": True} and stages["3"] == {"label": "Waiting on us",
                                                                                   "closed": False}  # fmt: skip
    statuses = {}
    for stage_id in ("1", "3", "4", "1234914", "1234915", "999"):
        record = {"id": "5", "properties": {"subject": "Checkout down", "createdate": "2026-03-01T00:00:00Z",
                                            "hs_pipeline_stage": stage_id}}  # fmt: skip
        envelope = {"ticket": record, **({"stage": stages[stage_id]} if stage_id in stages else {})}
        item = hubspot.map(envelope)
        assert isinstance(item, Evidence) and item.raw["properties"]["hs_pipeline_stage"] == stage_id
        statuses[stage_id] = item.status
    assert statuses == {"1": "New", "3": "Waiting on us", "4": "Closed", "1234914": "Closed: Won't fix",
                        "1234915": "Closed: Resolved", "999": "999"}  # an unknown stage keeps its id  # fmt: skip
    # the timeline's rule reads every closed stage as resolved, and no open one
    assert [is_resolved_status(statuses[s]) for s in ("1", "3", "4", "1234914", "1234915")] == [
        False, False, True, True, True,
    ]


def test_note_author_is_its_owner(hubspot: HubSpot) -> None:
    owner = owner_person(OWNER)
    item = hubspot.map({"note": _note(hubspot_owner_id="51234001"), "tickets": [], "owner": owner})
    assert isinstance(item, Evidence) and item.author == Person(name="Dana Owner", email="dana@acme-support.example")
    assert owner_person({"id": "7", "firstName": None, "lastName": None}) is None


async def test_owners_without_the_scope_leave_notes_without_author(hubspot: HubSpot, router: respx.MockRouter) -> None:
    notes = [_note(str(9000 + i), hubspot_owner_id=str(70 + i)) for i in range(3)]
    router.post(url__regex=SEARCH).mock(side_effect=FakeSearch({"notes": notes}))
    router.post(url__regex=rf"^{BASE}/crm/v4/").mock(return_value=httpx.Response(200, json={"results": []}))
    router.get(path__regex=r"^/crm/v3/objects/\w+$").mock(return_value=httpx.Response(200, json={"results": []}))
    missing_scope = {"status": "error", "message": "This app hasn't been granted all required scopes",
                     "category": "MISSING_SCOPES"}  # fmt: skip
    owners = router.get(path__regex=r"^/crm/v3/owners/\d+$").mock(return_value=httpx.Response(403, json=missing_scope))
    async with hubspot.client() as api:
        pages = [page async for page in hubspot.fetch(api, {})]
    mapped = [hubspot.map(raw) for p in pages if p.stream == "notes" for raw in p.items]
    assert len(mapped) == 3 and all(isinstance(n, Evidence) and n.author is None for n in mapped)
    assert owners.call_count == 1  # the first 403 stops the lookups for this run


def test_company_sample_with_plan_arr_and_extra_domains(hubspot: HubSpot, vendor_sample: Sample) -> None:
    record = vendor_sample("hubspot", "companies_list_dlt.json")["results"][0]
    record["properties"] |= {"plan_tier": "enterprise", "annualrevenue": "120000.50",
                             "hs_additional_domains": "HubSpot.de; www.hubspot.fr;"}  # fmt: skip
    assert hubspot.map({"company": record}) == Account(
        key="hubspot.com", name="Hubspot, Inc.", domains=["hubspot.com", "hubspot.de", "hubspot.fr"],
        plan="enterprise", arr=120000.5, external_ids=["hubspot:company:7086461639"],
    )  # fmt: skip
    bare = vendor_sample("hubspot", "companies_list_dlt.json")["results"][1]
    account = HubSpot(_settings(plan_property=None)).map({"company": bare})
    assert account == Account(key="fda.gov", name="U.S. Food and Drug Administration", domains=["fda.gov"],
                              external_ids=["hubspot:company:7086464459"])  # fmt: skip
    assert hubspot.map({"company": {**bare, "properties": {"name": "No domain"}}}) is None


def _note(nid: str = "9001", **props: Any) -> dict[str, Any]:
    properties = {"hs_note_body": "<p>Call with <b>Acme</b>: checkout down, see https://acme.atlassian.net/browse/OPS-7</p>",
                  "hs_timestamp": "2026-03-01T10:00:00.123Z", "createdate": "2026-03-01T10:05:00Z",
                  "hs_lastmodifieddate": "2026-03-01T10:06:00.000Z", **props}  # fmt: skip
    return {"id": nid, "properties": properties, "createdAt": "2026-03-01T10:05:00Z", "archived": False}


def test_note_is_context_linked_to_its_ticket(hubspot: HubSpot) -> None:
    item = hubspot.map({"note": _note(), "companies": [], "contacts": [], "tickets": ["41"]})
    assert isinstance(item, Evidence) and not item.is_report
    assert item.id == "hubspot:note:9001" and item.author_role == "agent" and item.author is None
    assert item.body == "Call with Acme: checkout down, see https://acme.atlassian.net/browse/OPS-7"
    assert format_utc(item.created_at) == "2026-03-01T10:00:00.123Z"  # hs_timestamp: what the UI shows
    assert item.links == ["hubspot:ticket:41", "jira:issue:OPS-7"]
    assert item.account_ref is None
    linked = hubspot.map({"note": _note(hs_timestamp=None), "companies": ["77"], "tickets": []})
    assert isinstance(linked, Evidence) and linked.account_ref == "hubspot:company:77"
    assert format_utc(linked.created_at) == "2026-03-01T10:05:00Z"  # createdate when hs_timestamp is empty


def test_archived_records_are_tombstones(hubspot: HubSpot, vendor_sample: Sample) -> None:
    record = vendor_sample("hubspot", "tickets_list_dlt.json")["results"][1]
    archived = {**record, "archived": True, "archivedAt": "2023-03-01T00:00:00.000Z"}
    item = hubspot.map({"ticket": archived})
    assert isinstance(item, Evidence) and item.deleted
    assert format_utc(item.updated_at) == "2023-03-01T00:00:00Z"  # the deletion is its latest change
    note = hubspot.map({"note": {**_note(), "archived": True, "archivedAt": "2026-04-01T00:00:00Z"}})
    assert isinstance(note, Evidence) and note.deleted


@pytest.mark.parametrize(
    "raw",
    [
        {"ticket": {"properties": {"subject": "no id"}}},
        {"ticket": {"id": "5", "properties": []}},
        {"ticket": {"id": "5", "properties": {"subject": "no created"}}},
        {"ticket": {"id": "5", "properties": {"createdate": "not-a-time"}}},
        {"note": {"id": None, "properties": {}}},
        {"company": {"id": "3", "properties": None}},
        {"deal": {"id": "1"}},
    ],
    ids=["no-id", "properties-list", "no-created", "bad-time", "note-null-id", "company-no-props", "unknown"],
)
def test_malformed_items_raise_malformed(hubspot: HubSpot, raw: dict[str, Any]) -> None:
    with pytest.raises(MalformedItem) as info:
        hubspot.map(raw)
    assert str(info.value).startswith("hubspot: ") and "\n" not in str(info.value)


def test_millis_reads_every_hubspot_time() -> None:
    assert millis("2023-02-24T03:00:26.696Z") == 1677207626696
    assert millis("1677207626696") == 1677207626696 == millis(1677207626696)
    assert millis("not-a-time") is None and millis(None) is None and millis("") is None


# ---- a HubSpot search over a list of records -------------------------------------------------------
def _value(record: Mapping[str, Any], name: str) -> Any:
    return int(record["id"]) if name == "hs_object_id" else millis(record["properties"].get(name))


class FakeSearch:
    """Search as documented: filters, one sort, `after` offsets, and a 400 past the result cap."""

    def __init__(self, records: Mapping[str, list[dict[str, Any]]], cap: int = 10_000) -> None:
        self.records, self.cap = records, cap
        self.bodies: list[tuple[str, dict[str, Any]]] = []

    def _keep(self, record: Mapping[str, Any], f: Mapping[str, Any]) -> bool:
        if f["operator"] == "IN":
            return str(record["id"]) in f["values"]
        actual, wanted = _value(record, f["propertyName"]), int(f["value"])
        return {"GTE": actual >= wanted, "EQ": actual == wanted, "GT": actual > wanted}[f["operator"]]

    def __call__(self, request: httpx.Request, kind: str) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append((kind, body))
        offset = int(body.get("after") or 0)
        if offset >= self.cap:
            return httpx.Response(400, json={"status": "error", "message": "past the result cap"})
        filters = [f for group in body.get("filterGroups") or [] for f in group["filters"]]
        found = [r for r in self.records.get(kind, []) if all(self._keep(r, f) for f in filters)]
        if body.get("sorts"):
            name = body["sorts"][0]["propertyName"]
            found.sort(key=lambda r: (_value(r, name), int(r["id"])))
        window = found[offset : min(offset + body["limit"], self.cap)]
        answer: dict[str, Any] = {"total": len(found), "results": window}
        if offset + len(window) < len(found):
            answer["paging"] = {"next": {"after": str(offset + len(window))}}
        return httpx.Response(200, json=answer)


def _ticket(tid: int, modified_ms: int) -> dict[str, Any]:
    stamp = format_utc(to_utc(modified_ms))
    return {"id": str(tid), "properties": {"subject": f"T{tid}", "createdate": "2026-03-01T00:00:00Z",
                                           "hs_lastmodifieddate": stamp}, "archived": False}  # fmt: skip


async def _walk(hubspot: HubSpot, stream: str, held: dict[str, Any]) -> list[tuple[list[str], dict[str, Any]]]:
    """The pages `_search` yields (ids and cursor); only the last one is marked final."""
    async with hubspot.client() as api:
        pages = [page async for page in hubspot._search(api, stream, held, utc_now())]
    assert [final for *_, final in pages] == [False] * (len(pages) - 1) + [True]
    return [([r["id"] for r in records], cursor) for records, cursor, _ in pages]


async def test_cap_moves_the_window_and_dedupes_the_boundary(router: respx.MockRouter) -> None:
    base = 1_772_000_000_000
    # 9 tickets; 3 share the timestamp at the first window's edge
    stamps = [0, 1, 2, 3, 3, 3, 4, 5, 6]
    records = [_ticket(100 + i, base + s * 1000) for i, s in enumerate(stamps)]
    fake = FakeSearch({"tickets": records}, cap=5)
    router.post(url__regex=SEARCH).mock(side_effect=fake)
    hubspot = HubSpot(_settings(search_interval_s=0))
    hubspot.search_cap, hubspot.page_size = 5, 2
    held = {"modified": format_utc(to_utc(base + LOOKBACK_MS))}
    pages = await _walk(hubspot, "tickets", held)
    ids = [i for page, _ in pages for i in page]
    assert sorted(ids) == sorted(r["id"] for r in records) and len(ids) == len(set(ids))  # all, exactly once
    starts = [
        int(f["value"])
        for _, body in fake.bodies
        for f in body["filterGroups"][0]["filters"]
        if body.get("after") is None
    ]
    assert starts[0] == base and starts[1] > starts[0]  # a new query GTE the last value seen, before the cap
    assert all(int(body.get("after") or 0) < 5 for _, body in fake.bodies)  # never asked past the cap (no 400)
    cursors = [millis(c["modified"]) or 0 for _, c in pages]
    assert cursors == sorted(cursors) and cursors[-1] == base + 6000  # each page's cursor: its last value


async def test_more_than_a_window_on_one_timestamp_is_walked_by_id(router: respx.MockRouter) -> None:
    base = 1_772_000_000_000
    records = [_ticket(200 + i, base + (0 if i < 7 else 1000)) for i in range(9)]  # 7 share one millisecond
    fake = FakeSearch({"tickets": records}, cap=4)
    router.post(url__regex=SEARCH).mock(side_effect=fake)
    hubspot = HubSpot(_settings(search_interval_s=0))
    hubspot.search_cap, hubspot.page_size = 4, 2
    pages = await _walk(hubspot, "tickets", {"modified": format_utc(to_utc(base + LOOKBACK_MS))})
    ids = [i for page, _ in pages for i in page]
    assert sorted(ids) == sorted(r["id"] for r in records) and len(ids) == len(set(ids))
    by_id = [body for _, body in fake.bodies if body["sorts"][0]["propertyName"] == "hs_object_id"]
    assert by_id and all(len(body["filterGroups"][0]["filters"]) == 2 for body in by_id)


def _associations(links: Mapping[tuple[str, str], Mapping[str, list[str]]]) -> Callable[..., httpx.Response]:
    def answer(request: httpx.Request, source: str, target: str) -> httpx.Response:
        wanted = [i["id"] for i in json.loads(request.content)["inputs"]]
        table = links.get((source, target), {})
        results = [{"from": {"id": i}, "to": [{"toObjectId": int(t), "associationTypes": []} for t in table[i]]}
                   for i in wanted if table.get(i)]  # fmt: skip
        errors = [
            {"category": "OBJECT_NOT_FOUND", "context": {"fromObjectId": [i]}} for i in wanted if not table.get(i)
        ]
        return httpx.Response(207 if errors else 200, json={"status": "COMPLETE", "results": results, "errors": errors})

    return answer


async def test_fetch_streams_associations_and_tombstones(
    hubspot: HubSpot, router: respx.MockRouter, vendor_sample: Sample
) -> None:
    companies = vendor_sample("hubspot", "companies_list_dlt.json")["results"]
    companies[0]["properties"] |= {"plan_tier": "pro", "annualrevenue": "50000"}
    contacts = vendor_sample("hubspot", "contacts_list_dlt.json")["results"]
    tickets = vendor_sample("hubspot", "tickets_list_dlt.json")["results"]
    old_contact = {"id": "77", "properties": {"email": "zed@fda.gov", "firstname": "Zed", "associatedcompanyid": None,
                                              "lastmodifieddate": "2020-01-01T00:00:00Z"}}  # fmt: skip
    notes = [_note("9001", hs_lastmodifieddate="2023-02-25T00:00:00Z", hubspot_owner_id="51234001"),
             _note("9002", hs_lastmodifieddate="2023-02-25T00:00:01Z", hubspot_owner_id="51234001")]
    tickets[1]["properties"]["hs_pipeline_stage"] = "4"
    fake = FakeSearch({"companies": companies, "contacts": [*contacts, old_contact], "tickets": tickets,
                       "notes": notes})  # fmt: skip
    router.post(url__regex=SEARCH).mock(side_effect=fake)
    links = {
        ("tickets", "companies"): {"1075966440": ["7086461639"]},
        ("tickets", "contacts"): {"1075966440": ["51"], "1075966441": ["77"]},
        ("notes", "tickets"): {"9001": ["1075966441"]},
    }
    links[("tickets", "companies")]["1075966441"] = ["7086464459"]
    assoc = router.post(url__regex=rf"^{BASE}/crm/v4/associations/(?P<source>\w+)/(?P<target>\w+)/batch/read$")
    assoc.mock(side_effect=_associations(links))
    gone = {**tickets[1], "id": "1075966999", "archived": True, "archivedAt": "2023-03-01T00:00:00Z"}
    archived_tickets = router.get(f"{BASE}/crm/v3/objects/tickets").mock(
        return_value=httpx.Response(200, json={"results": [gone]})
    )
    router.get(f"{BASE}/crm/v3/objects/notes").mock(return_value=httpx.Response(200, json={"results": []}))
    pipelines = router.get(f"{BASE}/crm/v3/pipelines/tickets").mock(
        return_value=httpx.Response(200, json=PIPELINES)
    )
    owner = router.get(f"{BASE}/crm/v3/owners/51234001").mock(return_value=httpx.Response(200, json=OWNER))

    async with hubspot.client() as api:
        pages = [page async for page in hubspot.fetch(api, {})]

    assert [p.stream for p in pages] == [
        "companies",
        "contacts",
        "tickets",
        "notes",
        "tickets_archived",
        "notes_archived",
    ]
    searches = [(kind, body) for kind, body in fake.bodies if body.get("sorts")]
    first = {kind: body for kind, body in reversed(searches)}
    assert first["companies"]["filterGroups"][0]["filters"] == [
        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "0"}  # accounts: all, first time
    ]
    assert first["contacts"]["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    start = str(int(to_utc("2023-01-01T00:00:00Z").timestamp() * 1000))
    assert first["tickets"]["filterGroups"][0]["filters"][0]["value"] == start and first["tickets"]["limit"] == 200
    assert {"plan_tier", "annualrevenue", "domain", "hs_additional_domains"} <= set(first["companies"]["properties"])
    lookups = [body for kind, body in fake.bodies if kind == "contacts" and not body.get("sorts")]
    assert [f["values"] for body in lookups for f in body["filterGroups"][0]["filters"]] == [["77"]]  # unknown only
    assert dict(archived_tickets.calls[0].request.url.params)["archived"] == "true"
    assert router.calls[0].request.headers["Authorization"] == "Bearer hs-token"

    # each sorted page carries its own cursor; the archived lists only on their last page
    cursors = {p.stream: p.cursor for p in pages}
    assert cursors["tickets"] == {"modified": "2023-02-24T05:01:28.161Z"}
    assert cursors["contacts"] == {"modified": "2023-02-24T14:07:59.929Z"}
    assert cursors["tickets_archived"] == {"archived_at": "2023-03-01T00:00:00Z"}

    mapped = {p.stream: [hubspot.map(raw) for raw in p.items] for p in pages}
    assert [a.key for a in mapped["companies"] if isinstance(a, Account)] == ["hubspot.com", "fda.gov"]
    assert mapped["contacts"] == [None, None]
    t1, t2 = mapped["tickets"]
    assert isinstance(t1, Evidence) and isinstance(t2, Evidence)
    assert t1.account_ref == "hubspot:company:7086461639" and t1.author == Person(
        name="Brian Halligan (Sample Contact)", email="bh@hubspot.com"
    )
    assert t2.author == Person(name="Zed", email="zed@fda.gov")  # a contact not changed in this sync: looked up
    note, _ = mapped["notes"]
    assert isinstance(note, Evidence) and note.links[0] == "hubspot:ticket:1075966441"
    assert note.account_ref == "hubspot:company:7086464459"  # through its ticket's company
    # stage labels: one read of the pipelines; a closed stage reads as closed, the stage id stays in raw
    assert (t1.status, t2.status) == ("New", "Closed") and t2.raw["properties"]["hs_pipeline_stage"] == "4"
    assert pipelines.call_count == 1 and dict(pipelines.calls[0].request.url.params) == {"archived": "false"}
    # note owners: one read per distinct owner, whatever the number of notes
    assert note.author == Person(name="Dana Owner", email="dana@acme-support.example") and owner.call_count == 1
    (tombstone,) = mapped["tickets_archived"]
    assert isinstance(tombstone, Evidence) and tombstone.deleted and tombstone.id == "hubspot:ticket:1075966999"


async def test_fetch_resumes_from_each_cursor_minus_the_lookback(hubspot: HubSpot, router: respx.MockRouter) -> None:
    fake = FakeSearch({})
    router.post(url__regex=SEARCH).mock(side_effect=fake)
    router.get(path__regex=r"^/crm/v3/objects/\w+$").mock(return_value=httpx.Response(200, json={"results": []}))
    held = {s: {"modified": "2026-03-01T10:00:00.000Z"} for s in ("companies", "contacts", "tickets", "notes")}
    async with hubspot.client() as api:
        pages = [page async for page in hubspot.fetch(api, held)]
    expected = str(millis("2026-03-01T10:00:00.000Z") - LOOKBACK_MS)  # type: ignore[operator]
    assert {body["filterGroups"][0]["filters"][0]["value"] for _, body in fake.bodies} == {expected}
    assert all(p.items == [] for p in pages)


async def test_cursor_stops_before_a_record_that_cannot_be_read(router: respx.MockRouter) -> None:
    base = 1_772_000_000_000
    records = [_ticket(1, base + 1000), _ticket(2, base + 2000), _ticket(3, base + 3000)]
    records[1]["properties"]["createdate"] = "not-a-time"  # quarantined by the runner: read it again next time
    router.post(url__regex=SEARCH).mock(side_effect=FakeSearch({"tickets": records}))
    hubspot = HubSpot(_settings(search_interval_s=0))
    pages = await _walk(hubspot, "tickets", {"modified": format_utc(to_utc(base + LOOKBACK_MS))})
    assert pages == [(["1", "2", "3"], {"modified": format_utc(to_utc(base + 1000))})]


async def test_burst_429_is_retried(hubspot: HubSpot, router: respx.MockRouter) -> None:
    burst = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
             "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}  # fmt: skip
    ok = httpx.Response(200, json={"total": 0, "results": []})
    route = router.post(f"{BASE}/crm/v3/objects/companies/search").mock(
        side_effect=[httpx.Response(429, json=burst), httpx.Response(429, json=burst), ok]
    )
    pages = await _walk(hubspot, "companies", {})
    assert route.call_count == 3 and pages == [([], {"modified": "1970-01-01T00:00:00Z"})]


async def test_daily_429_stops_that_source_only(router: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    daily = {"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
             "policyName": "DAILY"}  # fmt: skip
    route = router.post(f"{BASE}/crm/v3/objects/companies/search").mock(return_value=httpx.Response(429, json=daily))
    hubspot = HubSpot(_settings())
    with pytest.raises(RateLimitExhausted):
        await _walk(hubspot, "companies", {})
    assert route.call_count == 1  # not retried within the day

    intercom_search = router.post("https://api.intercom.io/conversations/search").mock(
        return_value=httpx.Response(200, json={"type": "conversation.list", "pages": {}, "conversations": []})
    )

    class Sources:
        sources = {"hubspot": _settings(), "intercom": Intercom.Settings(base_url="https://api.intercom.io", token="t")}

    saved: list[tuple[str, str]] = []

    class Store:
        def cursors(self, source: str) -> dict[str, Any]:
            return {}

        def save_page(self, *, source: str, stream: str, items: Any, cursor: Any) -> int:
            saved.append((source, stream))
            return len(items)

        def quarantine(self, **_: Any) -> None:
            raise AssertionError("nothing is malformed here")

    caplog.set_level(logging.ERROR, logger="caseline.connectors")
    hub, ic = await run_sync(Sources(), Store(), resolve_accounts=False)
    assert hub.error is not None and hub.error.startswith("hubspot: 429") and "quota exhausted" in hub.error
    assert "/crm/v3/objects/companies/search" in hub.error
    assert ic.error is None and intercom_search.call_count == 1 and ("intercom", "conversations") in saved


async def test_search_requests_share_one_minimum_interval() -> None:
    """~5 search requests/s per account, across object types, whatever path the base URL adds."""

    class Clock:
        def __init__(self) -> None:
            self.now, self.sleeps = 100.0, list[float]()

        def __call__(self) -> float:
            return self.now

        async def sleep(self, seconds: float) -> None:
            self.sleeps.append(round(seconds, 3))
            self.now += seconds

    for interval, expected in ((0.2, [0.2, 0.2]), (0.0, [])):
        clock = Clock()
        async with HubSpot(_settings(search_interval_s=interval)).client() as api:
            spec = api.limits
        budget = Budget(spec, clock=clock, wall=clock, sleep=clock.sleep)
        await budget.acquire("/hubspot/crm/v3/objects/tickets/search")
        await budget.acquire("/hubspot/crm/v3/objects/notes/search")
        await budget.acquire("/hubspot/crm/v4/associations/notes/tickets/batch/read")  # not a search
        await budget.acquire("/hubspot/crm/v3/objects/contacts/search")
        assert clock.sleeps == expected


def test_settings_reject_unknown_keys_and_hide_the_token() -> None:
    with pytest.raises(ValueError, match="extra"):
        HubSpotSettings.model_validate({"base_url": BASE, "token": "t", "plan": "x"})
    settings = HubSpotSettings(base_url=BASE, token="very-secret")
    assert settings.arr_property == "annualrevenue" and settings.portal_id is None
    assert "very-secret" not in repr(settings) and "very-secret" not in repr(HubSpot(settings).client())
    assert _settings().portal_id == "1234567"  # a bare TOML integer is accepted
