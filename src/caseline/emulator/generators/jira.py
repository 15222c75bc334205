"""Generated Jira Cloud issues: the incidents' OPS keys first, then routine ones, with comments,
status transitions and remote links to Zendesk tickets (shapes as in shared/vendor-samples/jira)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING

from caseline.emulator.generators.cast import Cast
from caseline.emulator.vendors._base import Record
from caseline.emulator.vendors.jira import jira_time

if TYPE_CHECKING:
    from caseline.emulator.world import World

COUNTS = ("jira_issues",)

_STATUSES = [("To Do", "new", "10000"), ("In Progress", "indeterminate", "3"), ("Done", "done", "10001")]


def _account(name: str, email: str) -> Record:
    account_id = "5b10" + hashlib.sha1(email.encode()).hexdigest()[:20]
    return {"accountId": account_id, "displayName": name, "emailAddress": email, "accountType": "atlassian",
            "active": True}  # fmt: skip


def build(world: World, cast: Cast, counts: Mapping[str, int], rng: random.Random) -> None:
    total = counts.get("jira_issues", 0)
    subdomain = world.settings["zendesk"]["subdomain"]
    used = set(cast.jira_keys)
    keys = list(dict.fromkeys(cast.jira_keys))[:total]
    number = 1
    while len(keys) < total:
        if f"OPS-{number}" not in used:
            keys.append(f"OPS-{number}")
        number += 1
    for index, key in enumerate(keys):
        topic, created = cast.topic(rng)
        reporter = rng.choice(cast.agents)
        name, category, status_id = rng.choice(_STATUSES)
        updated = resolved = cast.later(rng, created, 48)
        history: list[Record] = []
        if category != "new":
            history.append({"author": _account(reporter.name, reporter.email), "created": jira_time(updated),
                            "items": [{"field": "status", "fieldtype": "jira", "fieldId": "status", "from": "10000",
                                       "fromString": "To Do", "to": status_id, "toString": name}]})  # fmt: skip
        said = sorted(cast.later(rng, created, 24) for _ in range(rng.randint(0, 3)))
        comments = [{"author": _account(a.name, a.email), "body": cast.reply(rng), "created": jira_time(when)}
                    for a, when in ((rng.choice(cast.agents), when) for when in said)]  # fmt: skip
        updated = max([updated, *said])
        links = [{"globalId": f"zendesk-{n}", "application": {"type": "com.zendesk", "name": "Zendesk Support"},
                  "relationship": "mentioned in",
                  "object": {"url": f"https://{subdomain}.zendesk.com/agent/tickets/{n}", "title": f"Ticket #{n}"}}
                 for n in rng.sample(range(1, 41), rng.randint(0, 2))]  # fmt: skip
        fields: Record = {
            "summary": topic, "description": f"Customers report: {topic}.", "issuetype": {"name": "Bug"},
            "status": {"name": name, "id": status_id, "statusCategory": {"key": category}},
            "priority": {"name": rng.choice(["Highest", "High", "Medium", "Low"])}, "labels": ["customer-impact"],
            "reporter": _account(reporter.name, reporter.email), "creator": _account(reporter.name, reporter.email),
            "project": {"key": "OPS", "name": "Operations"}, "created": jira_time(created),
            "updated": jira_time(updated),
            "resolutiondate": jira_time(resolved) if category == "done" else None,
        }  # fmt: skip
        world._put("jira", "issues", {"id": str(10000 + index), "key": key, "fields": fields, "comments": comments,
                                      "changelog": history, "remotelinks": links})  # fmt: skip
