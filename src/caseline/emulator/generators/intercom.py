"""Generated Intercom data: companies, contacts and conversations with parts (comments, notes, closes).

Shapes follow shared/vendor-samples/intercom (company.json, contact.json, conversation_with_parts.json).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import TYPE_CHECKING

from caseline.emulator.generators.cast import Cast, Person
from caseline.emulator.vendors._base import Record, epoch

if TYPE_CHECKING:
    from caseline.emulator.world import World

COUNTS = ("intercom_conversations",)

# Contact fields the sample shows as null for a plain web user.
_CONTACT_NULLS = [
    "phone",
    "avatar",
    "owner_id",
    "last_seen_at",
    "last_replied_at",
    "last_contacted_at",
    "last_email_opened_at",
    "last_email_clicked_at",
    "language_override",
    "browser",
    "browser_version",
    "browser_language",
    "os",
    "android_app_name",
    "android_app_version",
    "android_device",
    "android_os_version",
    "android_sdk_version",
    "android_last_seen_at",
    "ios_app_name",
    "ios_app_version",
    "ios_device",
    "ios_os_version",
    "ios_sdk_version",
    "ios_last_seen_at",
    "utm_campaign",
    "utm_content",
    "utm_medium",
    "utm_source",
    "utm_term",
    "referrer",
    "enabled_push_messaging",
]
_CONVERSATION_NULLS = [
    "waiting_since",
    "snoozed_until",
    "first_contact_reply",
    "team_assignee_id",
    "sla_applied",
    "statistics",
    "conversation_rating",
    "teammates",
    "ticket",
    "ai_agent",
]


def _hex_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(96):024x}"


def _list(url: str, data: list[Record] | None = None) -> Record:
    items = data or []
    return {"type": "list", "data": items, "url": url, "total_count": len(items), "has_more": False}


def build(world: World, cast: Cast, counts: Mapping[str, int], rng: random.Random) -> None:
    conversations = counts.get("intercom_conversations", 0)
    if not conversations:
        return
    company_ids = [_hex_id(rng) for _ in cast.companies]
    for index, (company_id, firm) in enumerate(zip(company_ids, cast.companies, strict=True)):
        since = epoch(cast.ago(rng, 60, 400))
        company: Record = {"type": "company", "company_id": f"cmp-{index + 1}", "id": company_id}
        company |= {"app_id": "emulator-app", "name": firm.name, "website": f"https://{firm.domain}"}
        company |= {"remote_created_at": since, "created_at": since, "updated_at": since}
        company |= {"monthly_spend": 0, "session_count": 0, "plan": {"type": "plan", "name": firm.plan}}
        company["user_count"] = sum(1 for p in cast.customers if p.company == index)
        company |= {"tags": {"type": "tag.list", "tags": []}, "segments": {"type": "segment.list", "segments": []}}
        world._put("intercom", "companies", company | {"custom_attributes": {}})
    contact_ids = {person.email: _hex_id(rng) for person in cast.customers}
    for index, person in enumerate(cast.customers):
        world._put("intercom", "contacts", _contact(cast, rng, person, contact_ids[person.email], index, company_ids))
    admins = [
        {"type": "admin", "id": str(991267600 + i), "name": a.name, "email": a.email} for i, a in enumerate(cast.agents)
    ]
    for number in range(conversations):
        subject, created = cast.topic(rng)
        person = rng.choice(cast.customers)
        user: Record = {"type": "user", "id": contact_ids[person.email], "name": person.name, "email": person.email}
        admin = rng.choice(admins)
        state = rng.choice(["open", "closed", "snoozed"])
        parts = []
        for when in sorted(cast.later(rng, created) for _ in range(rng.randint(1, 5))):
            author = rng.choice([user, admin, admin])
            kind = "note" if author is admin and rng.random() < 0.25 else "comment"
            parts.append(_part(world, kind, f"<p>{cast.reply(rng)}</p>", epoch(when), author))
        if state == "closed":
            closed = min(epoch(cast.now), max(p["created_at"] for p in parts) + 60)
            parts.append(_part(world, "close", None, closed, admin))
        conversation: Record = {"type": "conversation", "id": str(1000 + number), "created_at": epoch(created)}
        conversation["updated_at"] = max([epoch(created)] + [p["created_at"] for p in parts])
        conversation |= dict.fromkeys(_CONVERSATION_NULLS)
        source: Record = {"type": "conversation", "id": str(400000000 + number), "delivered_as": "customer_initiated"}
        source |= {"subject": "", "body": f"<p>{subject}</p>", "author": user, "attachments": []}
        conversation["source"] = source | {"url": None, "redacted": False}
        contact = {"type": "contact", "id": user["id"], "external_id": f"user-{cast.customers.index(person) + 1}"}
        conversation["contacts"] = {"type": "contact.list", "contacts": [contact]}
        conversation |= {"admin_assignee_id": int(admin["id"]), "open": state != "closed", "state": state}
        conversation |= {"read": rng.random() < 0.5, "tags": {"type": "tag.list", "tags": []}, "title": subject}
        conversation |= {"priority": rng.choice(["none", "none", "high", "urgent"]), "topics": {}}
        linked = {"jira_issue_key": rng.choice(cast.jira_keys)} if rng.random() < 0.2 else {}
        conversation |= {"custom_attributes": linked, "ai_agent_participated": False}
        conversation["linked_objects"] = {"type": "list", "data": [], "total_count": 0, "has_more": False}
        conversation["conversation_parts"] = {
            "type": "conversation_part.list",
            "conversation_parts": parts,
            "total_count": len(parts),
        }
        world._put("intercom", "conversations", conversation)


def _contact(
    cast: Cast, rng: random.Random, person: Person, contact_id: str, index: int, company_ids: list[str]
) -> Record:
    created = epoch(cast.ago(rng, 10, 300))
    companies = []
    if person.company is not None:
        company_id = company_ids[person.company]
        companies.append({"type": "company", "id": company_id, "url": f"/companies/{company_id}"})
    contact: Record = {"type": "contact", "id": contact_id, "workspace_id": "emulator-app"}
    contact |= {"external_id": f"user-{index + 1}", "role": "user", "email": person.email, "name": person.name}
    contact |= dict.fromkeys(_CONTACT_NULLS)
    contact |= {"social_profiles": {"type": "list", "data": []}, "has_hard_bounced": False}
    contact |= {"marked_email_as_spam": False, "unsubscribed_from_emails": False}
    contact |= {"created_at": created, "updated_at": created, "signed_up_at": created, "custom_attributes": {}}
    contact["location"] = {"type": "location"} | dict.fromkeys(
        ["country", "region", "city", "country_code", "continent_code"]
    )
    contact |= {"tags": _list(f"/contacts/{contact_id}/tags"), "notes": _list(f"/contacts/{contact_id}/notes")}
    contact["companies"] = _list(f"/contacts/{contact_id}/companies", companies)
    contact["opted_out_subscription_types"] = _list(f"/contacts/{contact_id}/subscriptions")
    contact["opted_in_subscription_types"] = _list(f"/contacts/{contact_id}/subscriptions")
    return contact


def _part(world: World, kind: str, body: str | None, when: int, author: Record) -> Record:
    part: Record = {"type": "conversation_part", "id": str(world.next_id("intercom.parts", 100_000))}
    part |= {"part_type": kind, "body": body, "created_at": when, "updated_at": when, "notified_at": when}
    part |= {"assigned_to": None, "author": dict(author), "attachments": [], "external_id": None, "redacted": False}
    part |= {"email_message_metadata": None, "state": "closed" if kind == "close" else "open", "tags": []}
    return part | {"event_details": None, "app_package_code": None}
