"""Seeded worlds of any size with realistic shapes, for benchmarks, fault tests and the demo.

`make_world(seed, zendesk_tickets=..., ...)` draws one shared cast (see `generators/cast.py`) and lets each
vendor's builder in `generators/` fill its part from its own random stream, so the same seed and counts give
the same world, and adding a vendor never changes what the others generate.

Extension point: a new vendor adds `generators/<vendor>.py` with `COUNTS = ("slack_messages", ...)` and
`build(world, cast, counts, rng)`; `make_world(..., slack_messages=200)` reaches it through `**more_counts`
(and its default credentials go in `DEFAULT_CREDENTIALS`).
"""

from __future__ import annotations

import random
from datetime import datetime

from caseline.emulator.generators import GENERATORS
from caseline.emulator.generators.cast import make_cast
from caseline.emulator.world import World

__all__ = ["DEFAULT_CREDENTIALS", "make_world"]

DEFAULT_CREDENTIALS = {
    "zendesk": {"email": "agent@example.com", "token": "zd-emulator-token"},
    "intercom": {"token": "ic-emulator-token"},
    "hubspot": {"token": "hs-emulator-token"},
    "slack": {"token": "xoxb-emulator-token"},
    "jira": {"email": "ops@example.com", "token": "jira-emulator-token"},
    "linear": {"token": "lin_api_emulator_token"},
}


def make_world(
    seed: int = 0,
    *,
    zendesk_tickets: int = 20,
    intercom_conversations: int = 20,
    hubspot_tickets: int = 10,
    hubspot_notes: int = 20,
    companies: int = 6,
    now: datetime | None = None,
    **more_counts: int,
) -> World:
    """A deterministic world laid out over the 30 days before `now` (default: the current time)."""
    counts = {
        "zendesk_tickets": zendesk_tickets,
        "intercom_conversations": intercom_conversations,
        "hubspot_tickets": hubspot_tickets,
        "hubspot_notes": hubspot_notes,
        **more_counts,
    }
    unknown = set(more_counts) - {name for names, _ in GENERATORS.values() for name in names}
    if unknown:
        raise TypeError(f"make_world() got unknown counts: {', '.join(sorted(unknown))}")
    world = World(now=now, credentials=DEFAULT_CREDENTIALS)
    cast = make_cast(seed, world.now, companies)
    for vendor, (names, build) in sorted(GENERATORS.items()):
        build(world, cast, {name: counts[name] for name in names if name in counts}, random.Random(f"{seed}:{vendor}"))
    return world
