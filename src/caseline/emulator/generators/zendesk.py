"""Generated Zendesk data: an organization per company, users, and tickets with comments and audits.

Shapes follow the recorded samples in shared/vendor-samples/zendesk (ticket.json, ticket_comments.json,
ticket_audits.json, organizations.json, users.json).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from caseline.emulator.generators.cast import Cast, Person
from caseline.emulator.vendors._base import Record, epoch, iso_seconds

if TYPE_CHECKING:
    from caseline.emulator.world import World

COUNTS = ("zendesk_tickets",)

_API = "https://example.zendesk.com/api/v2"
_SUPPORT = "support@example.zendesk.com"
# Ticket fields every ticket in the sample carries and generated tickets hold constant.
_TICKET_CONSTANTS: Record = {
    "external_id": None,
    "custom_status_id": None,
    "recipient": _SUPPORT,
    "group_id": 360004077472,
    "collaborator_ids": [],
    "follower_ids": [],
    "email_cc_ids": [],
    "forum_topic_id": None,
    "problem_id": None,
    "has_incidents": False,
    "is_public": True,
    "due_at": None,
    "satisfaction_rating": None,
    "sharing_agreement_ids": [],
    "followup_ids": [],
    "ticket_form_id": 360000389592,
    "brand_id": 360002256672,
    "satisfaction_probability": None,
    "allow_channelback": False,
    "allow_attachments": True,
}


def _stamp(created: datetime) -> Record:
    return {"created_at": iso_seconds(created), "updated_at": iso_seconds(created)}


def build(world: World, cast: Cast, counts: Mapping[str, int], rng: random.Random) -> None:
    tickets = counts.get("zendesk_tickets", 0)
    if not tickets:
        return
    org_ids = [360000000000 + 1000 * i for i in range(len(cast.companies))]
    for org_id, firm in zip(org_ids, cast.companies, strict=True):
        organization = {"url": f"{_API}/organizations/{org_id}.json", "id": org_id, "name": firm.name}
        organization |= {"shared_tickets": False, "shared_comments": False, "external_id": None, "group_id": None}
        organization |= {"domain_names": [firm.domain], "details": "", "notes": "", "tags": [firm.plan]}
        world._put("zendesk", "organizations", organization | _stamp(cast.ago(rng, 60, 400)))
    user_ids: dict[str, int] = {}
    for index, person in enumerate(cast.agents + cast.customers):
        user_id = user_ids[person.email] = 370000000000 + 1000 * index
        user = {"id": user_id, "url": f"{_API}/users/{user_id}.json", "name": person.name, "email": person.email}
        user |= {"time_zone": "UTC", "iana_time_zone": "Etc/UTC", "phone": None, "active": True, "verified": True}
        user |= {"role": "agent" if person in cast.agents else "end-user", "tags": [], "details": "", "notes": ""}
        user["organization_id"] = org_ids[person.company] if person.company is not None else None
        world._put("zendesk", "users", user | _stamp(cast.ago(rng, 30, 400)))
    for ticket_id in range(1, tickets + 1):
        world._put("zendesk", "tickets", _ticket(world, cast, rng, ticket_id, user_ids, org_ids))


def _ticket(
    world: World, cast: Cast, rng: random.Random, ticket_id: int, user_ids: dict[str, int], org_ids: list[int]
) -> Record:
    subject, created = cast.topic(rng)
    requester, agent = rng.choice(cast.customers), rng.choice(cast.agents)
    status = rng.choice(["new", "open", "pending", "hold", "solved", "closed"])
    times = sorted([created] + [cast.later(rng, created) for _ in range(rng.randint(0, 4))])
    comments: list[Record] = []
    audits: list[Record] = []
    for n, when in enumerate(times):
        author: Person = requester if n == 0 or rng.random() < 0.3 else agent
        public = n == 0 or author is requester or rng.random() < 0.7  # agents also leave internal notes
        text = subject if n == 0 else cast.reply(rng)
        audit_id = world.next_id("zendesk.audits", 50_000)
        comment_id = world.next_id("zendesk.comments", 10_000)
        comment: Record = {"id": comment_id, "type": "Comment", "author_id": user_ids[author.email], "body": text}
        comment |= {"html_body": f'<div class="zd-comment"><p>{text}</p></div>', "plain_body": text}
        comment |= {"public": public, "attachments": [], "audit_id": audit_id, "created_at": iso_seconds(when)}
        comment |= {"via": {"channel": "email" if n == 0 else "web"}, "metadata": {"system": {}, "custom": {}}}
        comments.append(comment)
        events: list[Record] = [{k: comment[k] for k in ("id", "type", "author_id", "body", "public", "attachments")}]
        if n == 0:
            events.append(
                {
                    "id": world.next_id("zendesk.audit_events", 90_000),
                    "type": "Create",
                    "field_name": "status",
                    "value": "new",
                }
            )
        audits.append(_audit(audit_id, ticket_id, when, user_ids[author.email], events))
    updated = times[-1]
    if status != "new":
        updated = cast.later(rng, updated, 24)
        change: Record = {"type": "Change", "field_name": "status", "value": status, "previous_value": "new"}
        change["id"] = world.next_id("zendesk.audit_events", 90_000)
        audits.append(_audit(world.next_id("zendesk.audits"), ticket_id, updated, user_ids[agent.email], [change]))
    source = {
        "from": {"address": requester.email, "name": requester.name},
        "to": {"name": "Support", "address": _SUPPORT},
    }
    ticket: Record = {"url": f"{_API}/tickets/{ticket_id}.json", "id": ticket_id}
    ticket["via"] = {"channel": "email", "source": source | {"rel": None}}
    ticket |= {
        "created_at": iso_seconds(created),
        "updated_at": iso_seconds(updated),
        "generated_timestamp": epoch(updated),
    }
    ticket |= {
        "type": rng.choice([None, "incident", "problem", "question"]),
        "subject": subject,
        "raw_subject": subject,
    }
    ticket |= {
        "description": subject,
        "priority": rng.choice([None, "low", "normal", "high", "urgent"]),
        "status": status,
    }
    ticket |= {"requester_id": user_ids[requester.email], "submitter_id": user_ids[requester.email]}
    ticket |= {"assignee_id": user_ids[agent.email], "organization_id": _org(requester, org_ids)}
    linked = rng.choice(cast.jira_keys) if rng.random() < 0.2 else None
    ticket |= {"tags": [subject.split()[0].lower()], "custom_fields": [{"id": 360001, "value": linked}]}
    ticket |= {"fields": [{"id": 360001, "value": linked}], **_TICKET_CONSTANTS, "comments": comments, "audits": audits}
    return ticket


def _org(person: Person, org_ids: list[int]) -> int | None:
    return org_ids[person.company] if person.company is not None else None


def _audit(audit_id: int, ticket_id: int, when: datetime, author_id: int, events: list[Record]) -> dict[str, Any]:
    audit = {"id": audit_id, "ticket_id": ticket_id, "created_at": iso_seconds(when), "author_id": author_id}
    return audit | {"via": {"channel": "web"}, "metadata": {"system": {}, "custom": {}}, "events": events}
