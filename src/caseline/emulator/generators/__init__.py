"""Per-vendor builders of generated worlds: every public module here with `COUNTS` and `build` is one.

A builder module declares the `make_world` count keywords it takes (`COUNTS = ("slack_messages",)`) and
`build(world, cast, counts, rng)`, which puts vendor-shaped records into the world with `world._put`
(no clock ticks). Adding a vendor's generator is one new module; nothing else changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from random import Random
from typing import Any

from caseline.emulator.generators.cast import Cast

__all__ = ["GENERATORS", "Builder", "Cast"]

Builder = Callable[[Any, Cast, Mapping[str, int], Random], None]


def _discover() -> dict[str, tuple[tuple[str, ...], Builder]]:
    found: dict[str, tuple[tuple[str, ...], Builder]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "cast":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[info.name] = (tuple(module.COUNTS), module.build)
    return found


GENERATORS: dict[str, tuple[tuple[str, ...], Builder]] = _discover()
