"""Generated HubSpot data: companies, contacts, tickets and notes, tied together by associations.

Shapes follow shared/vendor-samples/hubspot (companies/contacts/tickets lists recorded by dlt).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from caseline.emulator.generators.cast import Cast
from caseline.emulator.vendors._base import iso_millis

if TYPE_CHECKING:
    from caseline.emulator.world import World

COUNTS = ("hubspot_tickets", "hubspot_notes")


class _Writer:
    """Puts records with increasing, irregular ids (like a portal's) and association records."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.world, self.rng, self.last_id = world, rng, 7086461639

    def put(self, kind: str, properties: dict[str, Any], created: datetime, updated: datetime) -> str:
        self.last_id += self.rng.randint(1, 97)
        record_id = str(self.last_id)
        times = {"createdAt": iso_millis(created), "updatedAt": iso_millis(updated)}
        self.world._put("hubspot", kind, {"id": record_id, "properties": properties, **times, "archived": False})
        return record_id

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        ends = {"fromObjectType": from_type, "fromObjectId": from_id, "toObjectType": to_type, "toObjectId": to_id}
        self.world._put("hubspot", "associations", ends)


def build(world: World, cast: Cast, counts: Mapping[str, int], rng: random.Random) -> None:
    tickets, notes = counts.get("hubspot_tickets", 0), counts.get("hubspot_notes", 0)
    if not tickets and not notes:
        return
    out = _Writer(world, rng)

    def millis(when: datetime) -> datetime:
        return when - timedelta(milliseconds=rng.randint(0, 999))

    properties: dict[str, Any]
    companies = []
    for firm in cast.companies:
        created = millis(cast.ago(rng, 60, 400))
        properties = {"name": firm.name, "domain": firm.domain, "plan_tier": firm.plan}
        properties["annualrevenue"] = str(rng.randint(10, 900) * 1000)
        companies.append(out.put("companies", properties, created, created))
    contacts: dict[str, str] = {}
    for person in cast.customers:
        created = millis(cast.ago(rng, 10, 300))
        first, _, last = person.name.partition(" ")
        properties = {"email": person.email, "firstname": first, "lastname": last}
        if person.company is not None:
            properties["associatedcompanyid"] = companies[person.company]
        contacts[person.email] = out.put("contacts", properties, created, created)
        if person.company is not None:
            out.link("contacts", contacts[person.email], "companies", companies[person.company])
    opened: list[tuple[str, datetime]] = []
    for _ in range(tickets):
        subject, created = cast.topic(rng)
        person = rng.choice(cast.customers)
        stage = rng.choice(["1", "2", "3", "4"])  # pipeline "0" stages; "4" is closed
        updated = millis(cast.later(rng, created))
        properties = {"subject": subject, "content": f"Customer reports: {subject}.", "hs_pipeline": "0"}
        properties |= {"hs_pipeline_stage": stage, "hs_ticket_priority": rng.choice(["LOW", "MEDIUM", "HIGH"])}
        properties |= {"hs_ticket_category": None, "source_type": rng.choice(["EMAIL", "CHAT", "FORM"])}
        if stage == "4":
            properties["closed_date"] = iso_millis(updated)
        ticket_id = out.put("tickets", properties, created, updated)
        opened.append((ticket_id, created))
        out.link("tickets", ticket_id, "contacts", contacts[person.email])
        if person.company is not None:
            out.link("tickets", ticket_id, "companies", companies[person.company])
    owners = [str(51_000_001 + i) for i in range(len(cast.agents))] if notes else []
    for i, (owner_id, agent) in enumerate(zip(owners, cast.agents, strict=True)):  # who wrote the notes
        first, _, last = agent.name.partition(" ")
        world._put("hubspot", "owners", {"id": owner_id, "email": agent.email, "type": "PERSON", "firstName": first,
                                         "lastName": last, "userId": 9_100_001 + i})  # fmt: skip
    for n in range(notes):
        if opened:
            parent_type, (parent, since) = "tickets", rng.choice(opened)
        else:
            parent_type, parent, since = "companies", rng.choice(companies), cast.ago(rng, 1, 30)
        when = millis(cast.later(rng, since))
        body = f"<p>{cast.reply(rng)}</p>"
        properties = {"hs_note_body": body, "hs_timestamp": iso_millis(when)}
        if owners:  # in turn, not drawn: the other generated data stays what it was for a seed
            properties["hubspot_owner_id"] = owners[n % len(owners)]
        note_id = out.put("notes", properties, when, when)
        out.link("notes", note_id, parent_type, parent)
