"""The world: relative times in world files, vendor-specific mutations, generated shapes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from importlib import resources
from typing import Any

import pytest

from caseline.emulator import World, make_world
from caseline.timeparse import utc_now
from tests.emulator.conftest import NOW

EXAMPLE = resources.files("caseline.emulator") / "worlds" / "example.json"


def example_world() -> World:
    return World.load(str(EXAMPLE), now=NOW)


def test_relative_times_become_each_vendors_own_format() -> None:
    world = example_world()
    ticket = world.get("zendesk", "tickets", 101)
    assert ticket is not None
    assert ticket["created_at"] == "2026-02-27T09:00:00Z"  # now - 2d3h, ISO seconds Z
    assert ticket["comments"][1]["created_at"] == "2026-02-27T11:00:00Z"
    assert ticket["generated_timestamp"] == int((NOW - timedelta(days=2, hours=1)).timestamp())

    conversation = world.get("intercom", "conversations", "503")
    assert conversation is not None
    assert conversation["updated_at"] == int((NOW - timedelta(days=2)).timestamp())  # epoch seconds
    assert conversation["conversation_parts"]["conversation_parts"][0]["created_at"] == conversation["updated_at"]

    hs_ticket = world.get("hubspot", "tickets", "1075966440")
    assert hs_ticket is not None
    assert hs_ticket["createdAt"] == "2026-02-27T09:30:00.000Z"  # ISO with milliseconds
    assert hs_ticket["properties"]["hs_lastmodifieddate"] == "2026-02-27T16:00:00.000Z"
    contact = world.get("hubspot", "contacts", "51")
    assert contact is not None
    assert contact["properties"]["lastmodifieddate"] == "2026-02-19T12:00:00.000Z"
    assert "hs_lastmodifieddate" not in contact["properties"]


def test_world_now_defaults_to_load_time_and_relative_offsets_follow_it() -> None:
    world = World.load(str(EXAMPLE))
    assert abs((world.now - utc_now()).total_seconds()) < 5
    ticket = world.get("zendesk", "tickets", 101)
    assert ticket is not None
    assert int(world.at("-2d1h").timestamp()) == ticket["generated_timestamp"]


def test_bad_relative_time_names_the_field() -> None:
    data = {"vendors": {"intercom": {"contacts": [{"id": "c1", "created_at": "@-3x"}]}}}
    with pytest.raises(ValueError, match="created_at"):
        World.from_dict(data, now=NOW)


def test_unknown_vendor_collection_and_record_are_named() -> None:
    world = example_world()
    with pytest.raises(KeyError, match="no emulator module for vendor 'myspace'"):
        world.upsert("myspace", "posts", {"id": 1})
    with pytest.raises(KeyError, match="no collection 'deals'"):
        world.edit("hubspot", "deals", "1")
    with pytest.raises(KeyError, match="no record 999"):
        world.delete("zendesk", "tickets", 999)


def test_edit_bumps_the_vendors_change_markers_and_moves_the_clock() -> None:
    world = example_world()
    edited = world.edit("zendesk", "tickets", 101, status="solved")
    assert world.now == NOW + timedelta(seconds=1)
    assert edited["updated_at"] == "2026-03-01T12:00:01Z"
    assert edited["generated_timestamp"] == int(world.now.timestamp())
    change = edited["audits"][-1]["events"][0]
    assert (change["type"], change["field_name"], change["value"], change["previous_value"]) == (
        "Change",
        "status",
        "solved",
        "open",
    )

    conversation = world.edit("intercom", "conversations", "503", state="closed", open=False)
    assert conversation["updated_at"] == int(world.now.timestamp())

    ticket = world.edit("hubspot", "tickets", "1075966440", properties={"hs_pipeline_stage": "4"})
    assert ticket["properties"]["hs_pipeline_stage"] == "4"
    assert ticket["properties"]["subject"] == "Checkout 502s"  # dicts merge one level deep
    assert ticket["properties"]["hs_lastmodifieddate"] == ticket["updatedAt"] == "2026-03-01T12:00:03.000Z"
    contact = world.edit("hubspot", "contacts", "51", properties={"firstname": "General"})
    assert contact["properties"]["lastmodifieddate"] == "2026-03-01T12:00:04.000Z"


def test_delete_follows_each_vendor() -> None:
    world = example_world()
    world.delete("zendesk", "tickets", 101)
    tombstone = world.get("zendesk", "tickets", 101)
    assert tombstone is not None and tombstone["status"] == "deleted"
    world.delete("intercom", "conversations", "503")
    assert world.get("intercom", "conversations", "503") is None
    world.delete("hubspot", "tickets", "1075966440")
    archived = world.get("hubspot", "tickets", "1075966440")
    assert archived is not None and archived["archived"] is True and archived["archivedAt"].endswith("Z")


def test_add_comment_adds_the_vendors_reply_and_bumps_the_parent() -> None:
    world = example_world()
    comment = world.add_comment("zendesk", "tickets", 101, "Fixed <now>", public=False)
    ticket = world.get("zendesk", "tickets", 101)
    assert ticket is not None
    assert ticket["comments"][-1] == comment
    assert comment["public"] is False and comment["id"] > 5002
    assert "&lt;now&gt;" in comment["html_body"]
    assert ticket["audits"][-1]["events"][0]["id"] == comment["id"]
    assert ticket["generated_timestamp"] == int(world.now.timestamp())

    part = world.add_comment("intercom", "conversations", "503", "On it")
    conversation = world.get("intercom", "conversations", "503")
    assert conversation is not None
    assert conversation["conversation_parts"]["conversation_parts"][-1] == part
    assert conversation["conversation_parts"]["total_count"] == 2
    assert conversation["updated_at"] == part["created_at"] == int(world.now.timestamp())

    note = world.add_comment("hubspot", "tickets", "1075966440", "Called back")
    links = world.all("hubspot", "associations")
    assert {
        "fromObjectType": "notes",
        "fromObjectId": note["id"],
        "toObjectType": "tickets",
        "toObjectId": "1075966440",
    } in links
    ticket = world.get("hubspot", "tickets", "1075966440")
    assert ticket is not None and ticket["properties"]["notes_last_updated"] == note["properties"]["hs_timestamp"]


def test_snapshot_round_trips() -> None:
    world = make_world(4, now=NOW)
    world.edit("zendesk", "tickets", 3, priority="urgent")
    snapshot = world.to_dict()
    assert World.from_dict(snapshot).to_dict() == snapshot


def test_generated_worlds_depend_on_the_seed_only() -> None:
    assert make_world(5, now=NOW).to_dict() == make_world(5, now=NOW).to_dict()
    assert make_world(5, now=NOW).to_dict() != make_world(6, now=NOW).to_dict()
    with pytest.raises(TypeError, match="zendesk_tickts"):
        make_world(5, now=NOW, zendesk_tickts=3)


def test_generated_people_come_from_company_domains_or_free_mail() -> None:
    world = make_world(8, zendesk_tickets=60, companies=5, now=NOW)
    orgs = {o["id"]: o for o in world.all("zendesk", "organizations")}
    users = {u["id"]: u for u in world.all("zendesk", "users")}
    requesters = [users[t["requester_id"]] for t in world.all("zendesk", "tickets")]
    with_org = [u for u in requesters if u["organization_id"] is not None]
    assert with_org and all(u["email"].split("@")[1] in orgs[u["organization_id"]]["domain_names"] for u in with_org)
    free = [u for u in users.values() if u["organization_id"] is None and u["role"] == "end-user"]
    assert free and all(u["email"].split("@")[1] in {"gmail.com", "outlook.com", "yahoo.com"} for u in free)
    for ticket in world.all("zendesk", "tickets"):
        times = [c["created_at"] for c in ticket["comments"]]
        assert times == sorted(times) and ticket["created_at"] <= ticket["updated_at"] <= "2026-03-01T12:00:00Z"
    assert any(not c["public"] for t in world.all("zendesk", "tickets") for c in t["comments"])


def test_generated_records_have_every_field_of_the_recorded_samples(
    vendor_sample: Callable[[str, str], Any],
) -> None:
    world = make_world(2, now=NOW)
    ticket = world.all("zendesk", "tickets")[0]
    assert set(vendor_sample("zendesk", "ticket.json")["ticket"]) <= set(ticket)
    assert set(vendor_sample("zendesk", "ticket_comments.json")["comments"][0]) <= set(ticket["comments"][0])
    assert set(vendor_sample("zendesk", "organizations.json")["organizations"][0]) <= set(
        world.all("zendesk", "organizations")[0]
    )
    conversation = world.all("intercom", "conversations")[0]
    sample = vendor_sample("intercom", "conversation_with_parts.json")
    assert set(sample) <= set(conversation)
    assert set(sample["conversation_parts"]["conversation_parts"][0]) <= set(
        conversation["conversation_parts"]["conversation_parts"][0]
    )
    assert set(vendor_sample("intercom", "contact.json")) <= set(world.all("intercom", "contacts")[0])
    assert set(vendor_sample("intercom", "company.json")) <= set(world.all("intercom", "companies")[0])
    for name, kind in [
        ("companies_list_dlt.json", "companies"),
        ("contacts_list_dlt.json", "contacts"),
        ("tickets_list_dlt.json", "tickets"),
    ]:
        recorded = vendor_sample("hubspot", name)["results"][0]
        generated = world.all("hubspot", kind)[0]
        assert set(recorded) == set(generated)
        assert set(recorded["properties"]) <= set(generated["properties"])
