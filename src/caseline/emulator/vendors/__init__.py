"""The emulated vendors: every public module here that defines `VENDOR` is one vendor.

Adding a vendor means adding one module (e.g. `slack.py`) with a `Vendor` subclass instance named `VENDOR`;
nothing else needs to change. Its routes are served under `/{VENDOR.name}/…` by the emulator.
"""

from __future__ import annotations

import importlib
import pkgutil

from caseline.emulator.vendors._base import Vendor

__all__ = ["VENDORS", "Vendor", "get_vendor"]


def _discover() -> dict[str, Vendor]:
    found: dict[str, Vendor] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        vendor = getattr(module, "VENDOR", None)
        if not isinstance(vendor, Vendor):
            raise TypeError(f"emulator vendor module {module.__name__} defines no VENDOR = Vendor subclass()")
        found[vendor.name] = vendor
    return found


VENDORS: dict[str, Vendor] = _discover()


def get_vendor(name: str) -> Vendor:
    try:
        return VENDORS[name]
    except KeyError:
        raise KeyError(f"no emulator module for vendor {name!r} (known: {', '.join(sorted(VENDORS))})") from None
