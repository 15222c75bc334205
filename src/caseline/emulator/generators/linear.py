"""Generated Linear issues (team ENG) with comments, state history and attachments pointing at Intercom
conversations and Zendesk tickets, as the Linear integrations create them."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import TYPE_CHECKING

from caseline.emulator.generators.cast import Cast
from caseline.emulator.vendors._base import Record, iso_millis

if TYPE_CHECKING:
    from caseline.emulator.world import World

COUNTS = ("linear_issues",)

_STATES = [("Todo", "unstarted"), ("In Progress", "started"), ("Done", "completed"), ("Canceled", "canceled")]


def build(world: World, cast: Cast, counts: Mapping[str, int], rng: random.Random) -> None:
    subdomain = world.settings["zendesk"]["subdomain"]
    for number in range(1, counts.get("linear_issues", 0) + 1):
        topic, created = cast.topic(rng)
        creator = rng.choice(cast.agents)
        name, kind = rng.choice(_STATES)
        updated = moved = cast.later(rng, created, 48)
        history: list[Record] = []
        if kind != "unstarted":
            history.append({"createdAt": iso_millis(moved), "fromState": {"name": "Todo", "type": "unstarted"},
                            "toState": {"name": name, "type": kind},
                            "actor": {"name": creator.name, "email": creator.email}})  # fmt: skip
        attachments = rng.choice([
            [], [{"url": f"https://app.intercom.com/a/inbox/abc123/inbox/conversation/{rng.randint(1, 40)}",
                  "title": "Intercom conversation", "sourceType": "intercom"}],
            [{"url": f"https://{subdomain}.zendesk.com/agent/tickets/{rng.randint(1, 40)}", "title": "Zendesk ticket",
              "sourceType": "zendesk"}],
        ])  # fmt: skip
        said = sorted(cast.later(rng, created, 24) for _ in range(rng.randint(0, 2)))
        comments = [{"body": cast.reply(rng), "createdAt": iso_millis(when), "user": {"name": a.name, "email": a.email}}
                    for a, when in ((rng.choice(cast.agents), when) for when in said)]  # fmt: skip
        updated = max([updated, *said])
        issue: Record = {
            "identifier": f"ENG-{number}", "title": topic, "description": f"**{topic}**\n\nReported by customers.",
            "priority": rng.randint(0, 4), "createdAt": iso_millis(created), "updatedAt": iso_millis(updated),
            "state": {"name": name, "type": kind}, "team": {"key": "ENG"},
            "creator": {"name": creator.name, "email": creator.email}, "labels": ["customer"],
            "attachments": attachments, "comments": comments, "history": history,
            "completedAt": iso_millis(moved) if kind == "completed" else None,
            "canceledAt": iso_millis(moved) if kind == "canceled" else None,
        }  # fmt: skip
        world._put("linear", "issues", issue)
