"""HubSpot endpoints over real sockets: search paging and cap, archived lists, associations, auth, 429."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from caseline.emulator import Emulator, RateLimit, RateLimits, World, serve
from caseline.timeparse import to_utc
from tests.emulator.conftest import HUBSPOT_HEADERS


def changed_since(prop: str, value: str, after: str | None = None, limit: int = 7, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "filterGroups": [{"filters": [{"propertyName": prop, "operator": "GTE", "value": value}]}],
        "sorts": [{"propertyName": prop, "direction": "ASCENDING"}],
        "limit": limit,
        **extra,
    }
    if after is not None:
        body["after"] = after
    return body


def search_all(client: httpx.Client, kind: str, prop: str, value: str, **extra: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after = None
    for _ in range(100):
        body = client.post(f"/crm/v3/objects/{kind}/search", json=changed_since(prop, value, after, **extra)).json()
        found += body["results"]
        if "paging" not in body:
            return found
        after = body["paging"]["next"]["after"]
    raise AssertionError("search never ended")


def test_search_pages_every_ticket_once_ascending_with_selected_properties(hubspot: httpx.Client, world: World) -> None:
    found = search_all(hubspot, "tickets", "hs_lastmodifieddate", "0", properties=["subject"])
    assert sorted(r["id"] for r in found) == sorted(t["id"] for t in world.all("hubspot", "tickets"))
    modified = [r["properties"]["hs_lastmodifieddate"] for r in found]
    assert modified == sorted(modified)
    assert set(found[0]["properties"]) == {"subject", "createdate", "hs_lastmodifieddate", "hs_object_id"}
    assert set(found[0]) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    first = hubspot.post("/crm/v3/objects/tickets/search", json=changed_since("hs_lastmodifieddate", "0")).json()
    assert first["total"] == 25 and first["paging"]["next"]["after"] == "7"


def test_filters_take_epoch_ms_or_iso_and_contacts_use_lastmodifieddate(hubspot: httpx.Client, world: World) -> None:
    stamps = sorted(c["properties"]["lastmodifieddate"] for c in world.all("hubspot", "contacts"))
    pivot = stamps[len(stamps) // 2]
    by_iso = search_all(hubspot, "contacts", "lastmodifieddate", pivot)
    assert sorted(r["properties"]["lastmodifieddate"] for r in by_iso) == [s for s in stamps if s >= pivot]
    by_ms = search_all(hubspot, "contacts", "lastmodifieddate", str(int(to_utc(pivot).timestamp() * 1000)))
    assert [r["id"] for r in by_ms] == [r["id"] for r in by_iso]
    assert search_all(hubspot, "contacts", "hs_lastmodifieddate", "0") == []  # not the contacts' property


def test_search_cap_gives_400_and_a_new_query_from_the_last_value_continues(
    hubspot: httpx.Client, world: World
) -> None:
    world.settings["hubspot"]["search_cap"] = 10
    seen: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(2):
        body = hubspot.post(
            "/crm/v3/objects/tickets/search", json=changed_since("hs_lastmodifieddate", "0", after, limit=5)
        ).json()
        seen += body["results"]
        after = body["paging"]["next"]["after"]
    assert after == "10"
    refused = hubspot.post("/crm/v3/objects/tickets/search", json=changed_since("hs_lastmodifieddate", "0", after))
    assert refused.status_code == 400
    error = refused.json()
    assert error["status"] == "error" and error["category"] == "VALIDATION_ERROR" and error["correlationId"]
    # the documented way past the cap: a new query starting at the last value seen
    while len({r["id"] for r in seen}) < 25:
        last = seen[-1]["properties"]["hs_lastmodifieddate"]
        body = hubspot.post("/crm/v3/objects/tickets/search", json=changed_since("hs_lastmodifieddate", last, limit=5))
        seen += body.json()["results"]
    assert {r["id"] for r in seen} == {t["id"] for t in world.all("hubspot", "tickets")}


def test_edits_show_up_and_deletes_move_to_the_archived_list(hubspot: httpx.Client, world: World) -> None:
    found = search_all(hubspot, "tickets", "hs_lastmodifieddate", "0")
    last = found[-1]["properties"]["hs_lastmodifieddate"]
    edited, deleted = found[3]["id"], found[4]["id"]
    world.edit("hubspot", "tickets", edited, properties={"hs_pipeline_stage": "4"})
    world.delete("hubspot", "tickets", deleted)
    again = search_all(hubspot, "tickets", "hs_lastmodifieddate", last, properties=["hs_pipeline_stage"])
    assert [r["id"] for r in again] == [found[-1]["id"], edited]  # GTE repeats the boundary item
    assert again[-1]["properties"]["hs_pipeline_stage"] == "4"
    assert deleted not in {r["id"] for r in search_all(hubspot, "tickets", "hs_lastmodifieddate", "0")}

    archived = hubspot.get("/crm/v3/objects/tickets", params={"archived": "true"}).json()
    assert [r["id"] for r in archived["results"]] == [deleted]
    assert archived["results"][0]["archived"] is True and archived["results"][0]["archivedAt"]
    live: list[str] = []
    params: dict[str, Any] = {"limit": 10}
    while True:
        page = hubspot.get("/crm/v3/objects/tickets", params=params).json()
        live += [r["id"] for r in page["results"]]
        if "paging" not in page:
            break
        params = {"limit": 10, "after": page["paging"]["next"]["after"]}
    assert sorted(live) == sorted(t["id"] for t in world.all("hubspot", "tickets") if t["id"] != deleted)


def test_associations_read_both_ways_and_report_missing_ones(hubspot: httpx.Client, world: World) -> None:
    links = [
        a
        for a in world.all("hubspot", "associations")
        if (a["fromObjectType"], a["toObjectType"]) == ("tickets", "companies")
    ]
    ticket_id, company_id = links[0]["fromObjectId"], links[0]["toObjectId"]
    forward = hubspot.post("/crm/v4/associations/tickets/companies/batch/read", json={"inputs": [{"id": ticket_id}]})
    assert forward.status_code == 200
    result = forward.json()["results"][0]
    assert result["from"] == {"id": ticket_id}
    assert result["to"] == [
        {"toObjectId": company_id, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 339, "label": None}]}
    ]
    back = hubspot.post("/crm/v4/associations/companies/tickets/batch/read", json={"inputs": [{"id": company_id}]})
    targets = {t["toObjectId"] for t in back.json()["results"][0]["to"]}
    assert ticket_id in targets
    assert {t["associationTypes"][0]["typeId"] for t in back.json()["results"][0]["to"]} == {340}

    mixed = hubspot.post(
        "/crm/v4/associations/tickets/companies/batch/read", json={"inputs": [{"id": ticket_id}, {"id": "404404"}]}
    )
    assert mixed.status_code == 207
    assert mixed.json()["numErrors"] == 1 and len(mixed.json()["results"]) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 201},
        {"after": "abc"},
        {"filterGroups": [{"filters": [{"propertyName": "subject", "operator": "SOUNDS_LIKE", "value": "x"}]}]},
    ],
)
def test_invalid_searches_get_400(hubspot: httpx.Client, body: dict[str, Any]) -> None:
    response = hubspot.post("/crm/v3/objects/tickets/search", json=body)
    assert response.status_code == 400 and response.json()["category"] == "VALIDATION_ERROR"


def test_wrong_token_gets_hubspots_401(emu: Emulator) -> None:
    response = httpx.post(
        f"{emu.base_url('hubspot')}/crm/v3/objects/tickets/search", json={}, headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 401
    assert response.json()["category"] == "INVALID_AUTHENTICATION" and response.json()["status"] == "error"


@pytest.mark.parametrize(("daily", "policy"), [(False, "TEN_SECONDLY_ROLLING"), (True, "DAILY")])
def test_429_names_the_policy_without_retry_after(world: World, daily: bool, policy: str) -> None:
    with (
        serve(world, limits=RateLimits(hubspot=RateLimit(2, per_seconds=60, daily=daily))) as emu,
        httpx.Client(base_url=emu.base_url("hubspot"), headers=HUBSPOT_HEADERS) as client,
    ):
        listed = client.get("/crm/v3/objects/companies")
        searched = client.post("/crm/v3/objects/companies/search", json={})
        limited = client.get("/crm/v3/objects/companies")
        assert [listed.status_code, searched.status_code, limited.status_code] == [200, 200, 429]
        body = limited.json()
        assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == policy and body["correlationId"]
        assert "Retry-After" not in limited.headers
        # search responses never carry the X-HubSpot-RateLimit headers; other endpoints do
        assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in searched.headers)
        header = "X-HubSpot-RateLimit-Daily-Remaining" if daily else "X-HubSpot-RateLimit-Remaining"
        assert listed.headers[header] == "1"


def test_ticket_pipelines_default_to_the_stages_tickets_use(hubspot: httpx.Client, world: World) -> None:
    answer = hubspot.get("/crm/v3/pipelines/tickets")
    assert answer.status_code == 200
    (pipeline,) = answer.json()["results"]
    assert (pipeline["id"], pipeline["label"]) == ("0", "Support Pipeline")
    stages = {s["id"]: s for s in pipeline["stages"]}
    assert [s["label"] for s in pipeline["stages"]] == ["New", "Waiting on contact", "Waiting on us", "Closed"]
    assert {i for i, s in stages.items() if s["metadata"] == {"ticketState": "CLOSED", "isClosed": "true"}} == {"4"}
    used = {(t["properties"]["hs_pipeline"], t["properties"]["hs_pipeline_stage"])
            for t in world.all("hubspot", "tickets")}  # fmt: skip
    assert used and all(p == "0" and s in stages for p, s in used)
    assert hubspot.get("/crm/v3/pipelines/deals").json() == {"results": []}
    assert hubspot.get("/crm/v3/pipelines/widgets").status_code == 400


def test_pipelines_in_the_world_replace_the_default(hubspot: httpx.Client, world: World) -> None:
    world.upsert("hubspot", "pipelines", {"id": "812723471", "label": "Escalations", "stages": [
        {"id": "1234914", "label": "Done", "metadata": {"ticketState": "CLOSED", "isClosed": "true"}},
        {"id": "1234912", "label": "In Progress"},
    ]})  # fmt: skip
    (pipeline,) = hubspot.get("/crm/v3/pipelines/tickets").json()["results"]
    assert [(s["id"], s["label"], s["metadata"]["ticketState"]) for s in pipeline["stages"]] == [
        ("1234914", "Done", "CLOSED"), ("1234912", "In Progress", "OPEN"),
    ]


def test_owners_by_id_archived_apart_and_404(hubspot: httpx.Client, world: World) -> None:
    owners = world.all("hubspot", "owners")
    assert owners  # generated notes name their authors
    named = {n["properties"].get("hubspot_owner_id") for n in world.all("hubspot", "notes")}
    assert named <= {o["id"] for o in owners}
    first = owners[0]
    found = hubspot.get(f"/crm/v3/owners/{first['id']}", params={"idProperty": "id", "archived": "false"}).json()
    assert (found["id"], found["email"], found["firstName"]) == (first["id"], first["email"], first["firstName"])
    world.edit("hubspot", "owners", first["id"], archived=True)  # a deactivated user
    gone = hubspot.get(f"/crm/v3/owners/{first['id']}")
    assert gone.status_code == 404 and gone.json()["category"] == "OBJECT_NOT_FOUND"
    assert hubspot.get(f"/crm/v3/owners/{first['id']}", params={"archived": "true"}).json()["id"] == first["id"]
    assert hubspot.get("/crm/v3/owners/404404").status_code == 404
