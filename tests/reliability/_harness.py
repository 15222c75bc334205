"""Shared pieces of the reliability suite: a six-vendor world, configs for the real CLI, store snapshots.

The oracles are independent of the code under test where they can be: `expected_ids` reads the emulator's
world (vendor-shaped records), not anything caseline stored; `snapshot` is what two stores must agree on
(evidence documents, activities, links, aliases, content hashes, accounts), never row timestamps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from caseline.config import Settings, parse_settings
from caseline.connectors.slack_map import SKIPPED_SUBTYPES
from caseline.emulator import Emulator, World, make_world
from caseline.emulator.generate import DEFAULT_CREDENTIALS
from caseline.store import Store
from caseline.store.rows import AliasRow, EvidenceRow
from tests.e2e._emulated import source_table

__all__ = [
    "VENDORS",
    "CliRun",
    "clean_env",
    "expected_ids",
    "run_caseline",
    "sample_world",
    "settings_for",
    "snapshot",
    "start_caseline",
    "write_config",
]

VENDORS = ("zendesk", "intercom", "hubspot", "slack", "jira", "linear")
_EV = EvidenceRow.__table__  # type: ignore[attr-defined]
_ALIAS = AliasRow.__table__  # type: ignore[attr-defined]
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def sample_world(seed: int, size: int = 12) -> World:
    """All six vendors, `size` top-level items each (HubSpot: tickets and notes); Jira pages of 4 issues."""
    world = make_world(
        seed=seed, zendesk_tickets=size, intercom_conversations=size, hubspot_tickets=size // 2,
        hubspot_notes=size // 2, slack_messages=size, jira_issues=size, linear_issues=size,
    )  # fmt: skip
    world.settings["jira"]["max_results"] = 4
    return world


def settings_for(emu: Emulator, store_url: str, vendors: Iterable[str] = VENDORS) -> Settings:
    return parse_settings({"store": {"url": store_url}, "sources": {v: source_table(emu, v) for v in vendors}})


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string (JSON escapes are TOML escapes)


def write_config(
    path: Path,
    emu: Emulator,
    store_url: str,
    *,
    vendors: Iterable[str] = VENDORS,
    tokens: Mapping[str, Mapping[str, str]] | None = None,
    extra: str = "",
) -> Path:
    """A caseline.toml pointing every source at the emulator (HubSpot's search and Slack's Tier 3 pacing
    off: no real waits)."""
    lines = ["[store]", f"url = {_toml(store_url)}", ""]
    for vendor in vendors:
        table = source_table(emu, vendor) | dict((tokens or {}).get(vendor, {}))
        if vendor == "hubspot":
            table.setdefault("search_interval_s", 0)
        if vendor == "slack":
            table.setdefault("tier3_interval_s", 0)
        lines.append(f"[sources.{vendor}]")
        lines += [f"{key} = {_toml(value)}" for key, value in table.items()]
        lines.append("")
    path.write_text("\n".join(lines) + extra, encoding="utf-8")
    return path


def expected_ids(world: World) -> set[str]:
    """The evidence ids a complete sync of `world` must hold, read from the vendor-shaped records."""
    ids = {f"zendesk:ticket:{t['id']}" for t in world.all("zendesk", "tickets")}
    ids |= {f"intercom:conversation:{c['id']}" for c in world.all("intercom", "conversations")}
    ids |= {f"hubspot:ticket:{t['id']}" for t in world.all("hubspot", "tickets")}
    ids |= {f"hubspot:note:{n['id']}" for n in world.all("hubspot", "notes")}
    members = {c["id"] for c in world.all("slack", "channels") if c.get("is_member")}
    ids |= {
        f"slack:message:{m['channel']}:{m['ts']}"
        for m in world.all("slack", "messages")
        if m["channel"] in members and m.get("thread_ts", m["ts"]) == m["ts"]
        and m.get("subtype") not in SKIPPED_SUBTYPES
    }  # fmt: skip
    ids |= {f"jira:issue:{(i.get('_old_keys') or [i['key']])[0]}" for i in world.all("jira", "issues")}
    ids |= {f"linear:issue:{([*i.get('previousIdentifiers', []), i['identifier']])[0]}"
            for i in world.all("linear", "issues")}  # fmt: skip
    return ids


def snapshot(store: Store, *, skip: Iterable[str] = ()) -> dict[str, Any]:
    """What two stores of the same world must agree on; `skip` leaves out ids (e.g. tombstones)."""
    skipped = set(skip)
    items = [e for e in store.query_evidence(include_deleted=True, with_activities=True) if e.id not in skipped]
    with store.engine.connect() as conn:
        hashes = {r.id: r.content_hash for r in conn.execute(select(_EV.c.id, _EV.c.content_hash))}
        aliases = sorted((r.alias_id, r.evidence_id) for r in conn.execute(select(_ALIAS)))
    return {
        "evidence": {e.id: e.model_dump(mode="json") for e in items},
        "hashes": {k: v for k, v in hashes.items() if k not in skipped},
        "links": sorted(link for link in store.all_links() if link[0] not in skipped),
        "aliases": aliases,
        "accounts": [a.model_dump() for a in store.accounts()],
    }


def diff(a: Mapping[str, Any], b: Mapping[str, Any], limit: int = 5) -> str:
    """A short description of how two snapshots differ (for assertion messages)."""
    out = []
    for part in a:
        if a[part] == b[part]:
            continue
        if isinstance(a[part], dict):
            missing, extra = sorted(set(b[part]) - set(a[part])), sorted(set(a[part]) - set(b[part]))
            changed = [k for k in a[part] if k in b[part] and a[part][k] != b[part][k]]
            out.append(f"{part}: missing {missing[:limit]} extra {extra[:limit]} changed {changed[:limit]}")
        else:
            out.append(f"{part}: {len(a[part])} vs {len(b[part])} entries differ")
    return "; ".join(out) or "equal"


# ---- the real CLI in a real process ------------------------------------------------------------------
def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: no proxies (the emulator is on 127.0.0.1), no stray config."""
    env = {k: v for k, v in os.environ.items() if k not in _PROXIES}
    for name in ("CASELINE_CONFIG", "CASELINE_DB_URL"):
        env.pop(name, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env | extra


def start_caseline(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """`python -m caseline ARGS` as its own process (the same entry point as the console script)."""
    return subprocess.Popen(
        [sys.executable, "-m", "caseline", *args], cwd=cwd, env=dict(env or clean_env()),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@dataclass
class CliRun:
    code: int
    out: str
    err: str


def run_caseline(*args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120) -> CliRun:
    proc = start_caseline(*args, cwd=cwd, env=env)
    out, err = proc.communicate(timeout=timeout)
    return CliRun(proc.returncode, out, err)


DEFAULT_TOKENS = DEFAULT_CREDENTIALS
