"""Generated Slack data: incident and support channels, the agents as users, messages with threads.

Shapes follow shared/vendor-samples/slack (conversations.history_ok.json, conversations.replies_ok.json):
string `ts`, replies with `thread_ts`/`parent_user_id`; thread counts are derived by the emulator.
Some messages paste a Zendesk ticket URL or name a Jira key, as responders do.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import TYPE_CHECKING

from caseline.emulator.generators.cast import Cast
from caseline.emulator.vendors._base import Record, epoch
from caseline.emulator.vendors.slack import slack_ts

if TYPE_CHECKING:
    from caseline.emulator.world import World

COUNTS = ("slack_messages",)

CHANNELS = [
    ("C0INCIDNT", "incidents", True),
    ("C0SUPPORT", "support-escalations", True),
    ("C0RANDOM1", "random", False),
]


def build(world: World, cast: Cast, counts: Mapping[str, int], rng: random.Random) -> None:
    messages = counts.get("slack_messages", 0)
    if not messages:
        return
    for channel_id, name, member in CHANNELS:
        world._put("slack", "channels", {"id": channel_id, "name": name, "is_member": member,
                                         "created": epoch(cast.ago(rng, 300, 900))})  # fmt: skip
    users = [f"U0AGENT{n:02d}" for n in range(len(cast.agents))]
    for user_id, agent in zip(users, cast.agents, strict=True):
        profile = {"real_name": agent.name, "display_name": agent.name.split()[0], "email": agent.email}
        world._put("slack", "users", {"id": user_id, "name": agent.email.split("@")[0], "real_name": agent.name,
                                      "is_bot": False, "profile": profile})  # fmt: skip
    subdomain = world.settings["zendesk"]["subdomain"]
    for n in range(messages):
        channel = CHANNELS[n % 2][0]
        topic, when = cast.topic(rng)
        text = rng.choice([
            f"Seeing reports: {topic}",
            f"Customers report {topic.lower()} — <https://{subdomain}.zendesk.com/agent/tickets/{rng.randint(1, 40)}>",
            f"{topic}. Tracking in {rng.choice(cast.jira_keys)}",
            f"FYI {topic.lower()}",
        ])  # fmt: skip
        parent: Record = {"channel": channel, "ts": slack_ts(when, n), "user": rng.choice(users), "text": text}
        world._put("slack", "messages", parent)
        for r in range(rng.choice([0, 0, 1, 2, 3])):
            reply_at = cast.later(rng, when, 6)
            world._put("slack", "messages", {"channel": channel, "ts": slack_ts(reply_at, 500000 + n * 10 + r),
                                             "thread_ts": parent["ts"], "parent_user_id": parent["user"],
                                             "user": rng.choice(users), "text": cast.reply(rng)})  # fmt: skip
