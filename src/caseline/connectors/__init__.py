"""The connector registry: `CONNECTORS[name]` is the connector class for `[sources.<name>]`.

Built-in vendors are listed below, one line each ("module:Class", imported here); third-party
packages add theirs through the `caseline.connectors` entry-point group. A connector that fails to
load is a ConfigError naming it, never a silently missing source.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from caseline.connectors.base import Connector, Cursors, Page, SourceSettings
from caseline.errors import ConfigError

__all__ = ["BUILTIN", "CONNECTORS", "Connector", "Cursors", "Page", "SourceSettings", "load_connectors"]

ENTRY_POINT_GROUP = "caseline.connectors"

BUILTIN: dict[str, str] = {
    "zendesk": "caseline.connectors.zendesk:Zendesk",
    "intercom": "caseline.connectors.intercom:Intercom",
    "hubspot": "caseline.connectors.hubspot:HubSpot",
    "slack": "caseline.connectors.slack:Slack",
    "jira": "caseline.connectors.jira:Jira",
    "linear": "caseline.connectors.linear:Linear",
}


def _check(name: str, obj: Any, origin: str) -> type[Connector[Any]]:
    if not (isinstance(obj, type) and issubclass(obj, Connector)):
        raise ConfigError(f"connector {name!r} ({origin}) is not a caseline Connector class")
    if getattr(obj, "name", None) != name:
        raise ConfigError(f"connector {name!r} ({origin}) declares name {getattr(obj, 'name', None)!r}")
    return obj


def _import(name: str, target: str) -> type[Connector[Any]]:
    module_name, _, attr = target.partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except Exception as exc:
        raise ConfigError(f"connector {name!r} failed to load from {target}: {type(exc).__name__}: {exc}") from exc
    return _check(name, obj, target)


def load_connectors() -> dict[str, type[Connector[Any]]]:
    """Built-ins, then entry points; a name registered twice is an error."""
    found = {name: _import(name, target) for name, target in BUILTIN.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            raise ConfigError(f"connector {ep.name!r} from entry point {ep.value} clashes with a built-in one")
        try:
            obj = ep.load()
        except Exception as exc:
            raise ConfigError(
                f"connector {ep.name!r} failed to load from entry point {ep.value}: {type(exc).__name__}: {exc}"
            ) from exc
        found[ep.name] = _check(ep.name, obj, f"entry point {ep.value}")
    return found


CONNECTORS: dict[str, type[Connector[Any]]] = load_connectors()
