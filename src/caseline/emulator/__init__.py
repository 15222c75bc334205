"""A local test double of the vendors' documented APIs, for end-to-end tests, benchmarks and `caseline demo`.

    world = make_world(seed=1)                      # or World.load("world.json")
    with serve(world, faults=Faults(seed=3, error_rate=0.1)) as emu:
        httpx.get(f"{emu.base_url('zendesk')}/api/v2/incremental/tickets/cursor.json?start_time=0", auth=...)

It emulates the vendors, not caseline's client: nothing here imports `caseline.connectors`.
"""

from caseline.emulator.generate import make_world
from caseline.emulator.policy import Faults, RateLimit, RateLimits
from caseline.emulator.server import Emulator, Stats, serve
from caseline.emulator.vendors import VENDORS
from caseline.emulator.world import World

__all__ = ["VENDORS", "Emulator", "Faults", "RateLimit", "RateLimits", "Stats", "World", "make_world", "serve"]
