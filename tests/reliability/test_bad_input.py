"""Bad input never crashes caseline: fuzzed vendor payloads, fuzzed configuration, and a CLI facing nothing.

- Every connector's `map`, fed mutated versions of real payloads (the recorded samples in ../shared and the
  raw items the real connectors hand over when syncing the emulator): random deletions, nulls, wrong types,
  odd unicode. It returns a model (or None) or raises MalformedItem, nothing else; and removing or nulling
  one optional field of the record never makes it MalformedItem (it is stored with what it has).
- Configuration loading, fed random TOML documents, values and bytes: Settings or a one-line ConfigError.
- The real CLI with an unknown incident id, an empty store, and hosts where nothing listens: one line on
  stderr, the contract's exit code. (Text normalizers are fuzzed in tests/text; not repeated here.)
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from caseline.config import load_settings, parse_settings
from caseline.connectors import CONNECTORS
from caseline.connectors.base import Connector
from caseline.connectors.retry import set_testing
from caseline.connectors.sync import run_sync
from caseline.emulator import serve
from caseline.errors import ConfigError, MalformedItem
from caseline.evidence import Account, Evidence
from caseline.store import open_store
from tests.cli_helpers import run_cli
from tests.conftest import SHARED, load_sample
from tests.reliability._harness import VENDORS, sample_world, settings_for

# ---- raw items ------------------------------------------------------------------------------------------
SOURCES = {
    "zendesk": {"base_url": "https://acme.zendesk.com", "email": "ops@acme.com", "token": "t"},
    "intercom": {"base_url": "https://api.intercom.io", "token": "t", "app_id": "abc"},
    "hubspot": {"base_url": "https://api.hubapi.com", "token": "t", "plan_property": "plan_tier", "portal_id": "1"},
    "slack": {"base_url": "https://slack.com", "token": "t"},
    "jira": {"base_url": "https://acme.atlassian.net", "email": "ops@acme.com", "token": "t", "jql": "project = OPS"},
    "linear": {"base_url": "https://api.linear.app", "token": "t"},
}
CONNECTOR: dict[str, Connector[Any]] = {
    name: CONNECTORS[name](parse_settings({"sources": {name: table}}).sources[name]) for name, table in SOURCES.items()
}
# What identifies a record (or dates it) per envelope key: removing these may rightly make an item malformed.
IDENTITY: dict[str, set[str]] = {
    "ticket": {"id", "created_at", "properties", "createdAt"},
    "organization": {"id"},
    "conversation": {"id", "created_at"},
    "company": {"id", "properties"},
    "note": {"id", "properties", "createdAt"},
    "contact": set(),
    "message": {"ts"},
    "issue": {"key", "fields"},
    "": {"id", "identifier", "createdAt"},  # a Linear node is the record itself
}


def _sample_raws() -> dict[str, list[dict[str, Any]]]:
    """Envelopes built from the recorded vendor payloads (empty when ../shared is absent)."""
    if not SHARED.exists():
        return {}
    zd = load_sample("zendesk", "ticket.json")["ticket"]
    zendesk = [
        {"ticket": zd, "comments": load_sample("zendesk", "ticket_comments.json")["comments"],
         "audits": load_sample("zendesk", "ticket_audits.json")["audits"],
         "users": load_sample("zendesk", "users.json")["users"]},
        *({"ticket": t, "comments": [], "audits": [], "users": []} for t in load_sample("zendesk", "tickets.json")[
            "tickets"][:3]),
        *({"organization": o} for o in load_sample("zendesk", "organizations.json")["organizations"][:2]),
    ]  # fmt: skip
    contact = load_sample("intercom", "contact.json")
    intercom = [
        {"conversation": load_sample("intercom", "conversation_with_parts.json"),
         "contacts": [{"id": contact["id"], "name": contact.get("name"), "email": contact.get("email"),
                       "role": contact.get("role"), "companies": []}]},
        *({"conversation": c} for c in load_sample("intercom", "conversations_search_response.json")["conversations"]),
        {"company": load_sample("intercom", "company.json")},
    ]  # fmt: skip
    hubspot = [
        *({"ticket": t, "companies": ["1"], "contacts": [{"id": "9", "email": "a@b.co", "name": "A", "company": "1"}]}
          for t in load_sample("hubspot", "tickets_list_dlt.json")["results"][:3]),
        *({"company": c} for c in load_sample("hubspot", "companies_list_dlt.json")["results"][:2]),
        *({"contact": c} for c in load_sample("hubspot", "contacts_list_dlt.json")["results"][:1]),
    ]  # fmt: skip
    replies = load_sample("slack", "conversations.replies_ok.json")["messages"]
    slack = [{"channel": "C024BE91L", "channel_name": "incidents", "team_url": "https://acme.slack.com/",
              "message": m, "replies": replies[1:] if i == 0 else [], "users": {}}
             for i, m in enumerate(load_sample("slack", "conversations.history_ok.json")["messages"][:4])]  # fmt: skip
    jira = [
        {"issue": issue, "comments": load_sample("jira", "issue_comments_airbyte.json")["comments"], "changelog": [],
         "remotelinks": load_sample("jira", "issue_remote_links_airbyte.json")}
        for issue in [load_sample("jira", "issue_adf_description_jira-cli.json"),
                      *load_sample("jira", "search_jql_page1_jira-cli.json")["issues"][:2]]
    ]  # fmt: skip
    return {"zendesk": zendesk, "intercom": intercom, "hubspot": hubspot, "slack": slack, "jira": jira}


def _emulator_raws(tmp: Path) -> dict[str, list[dict[str, Any]]]:
    """The raw items the real connectors hand to `map` while syncing the emulator."""
    seen: dict[str, list[dict[str, Any]]] = {v: [] for v in VENDORS}

    def recording(base: type[Connector[Any]]) -> type[Connector[Any]]:
        class Recording(base):  # type: ignore[valid-type,misc]
            def map(self, raw: Mapping[str, Any]) -> Evidence | Account | None:
                seen[self.name].append(copy.deepcopy(dict(raw)))
                return super().map(raw)

        return Recording

    world = sample_world(seed=9, size=4)
    store = open_store(f"sqlite:///{tmp / 'record.db'}")
    with serve(world) as emu:
        reports = asyncio.run(run_sync(settings_for(emu, "sqlite://"), store, resolve_accounts=False,
                                       connectors={v: recording(CONNECTORS[v]) for v in VENDORS}))  # fmt: skip
    assert all(r.error is None for r in reports)
    store.engine.dispose()
    return seen


class Raws(dict[str, list[dict[str, Any]]]):
    def __repr__(self) -> str:  # hypothesis prints its arguments on failure: the counts, not the payloads
        return f"Raws({ {k: len(v) for k, v in self.items()} })"


@pytest.fixture(scope="module")
def raws(tmp_path_factory: pytest.TempPathFactory) -> Raws:
    found = Raws(_emulator_raws(tmp_path_factory.mktemp("raws")))
    for vendor, items in _sample_raws().items():
        found[vendor] = items + found[vendor]
    assert all(found[v] for v in VENDORS)
    return found


# ---- mutations ------------------------------------------------------------------------------------------
ODD = st.lists(
    st.sampled_from(["\u200b", "\u200f", "\u202e", "\u2066", "\x00", "\ud800", "\udfff", "\ufeff", "😀", "\r\n",
                     "<b>", "&amp;", "${X}", "@", "ZD-1", "https://x.zendesk.com/agent/tickets/1", " ", "é"])
    | st.characters(),
    max_size=12,
).map("".join)  # fmt: skip
WRONG = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), ODD, st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2), st.builds(list), st.builds(dict),
)  # fmt: skip


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value[:4]):
            yield (*prefix, index)
            yield from _paths(child, (*prefix, index))


def _apply(raw: dict[str, Any], path: tuple[Any, ...], action: str, value: Any) -> None:
    parent: Any = raw
    for step in path[:-1]:
        parent = parent[step]
    if action == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value


def _main(raw: Mapping[str, Any]) -> str:
    """The envelope key of the record in `raw` ('' for a bare Linear node)."""
    return next((k for k in IDENTITY if k and isinstance(raw.get(k), Mapping)), "")


def _map(vendor: str, raw: dict[str, Any]) -> Evidence | Account | None:
    """`map`, allowed to refuse only with MalformedItem (anything else fails the test as itself)."""
    return CONNECTOR[vendor].map(raw)


@pytest.mark.parametrize("vendor", VENDORS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_map_returns_a_model_or_malformed_item_never_another_exception(
    vendor: str, raws: Raws, data: st.DataObject
) -> None:
    raw = copy.deepcopy(raws[vendor][data.draw(st.integers(0, len(raws[vendor]) - 1), label="raw")])
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        paths = list(_paths(raw))
        if not paths:
            break
        path = data.draw(st.sampled_from(paths), label="path")
        action = data.draw(st.sampled_from(["delete", "null", "wrong", "odd"]), label="action")
        value = {"null": None, "delete": None}.get(action) if action in ("null", "delete") else data.draw(
            ODD if action == "odd" else WRONG, label="value")  # fmt: skip
        _apply(raw, path, action, value)
    try:
        model = _map(vendor, raw)
    except MalformedItem as exc:
        assert str(exc).strip()  # the reason the item is quarantined with (the runner makes it one line)
        return
    assert model is None or isinstance(model, Evidence | Account)


@pytest.mark.parametrize("vendor", VENDORS)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_an_optional_field_missing_or_null_still_maps(vendor: str, raws: Raws, data: st.DataObject) -> None:
    raw = copy.deepcopy(raws[vendor][data.draw(st.integers(0, len(raws[vendor]) - 1), label="raw")])
    try:
        before = _map(vendor, raw)
    except MalformedItem:
        before = None  # this payload is not readable to begin with (a sample of an odd case)
    assume(isinstance(before, Evidence))  # accounts without a domain are rightly skipped (None)
    main = _main(raw)
    record = raw[main] if main else raw
    optional = sorted(k for k in record if k not in IDENTITY[main])
    assume(optional)
    key = data.draw(st.sampled_from(optional), label="field")
    if data.draw(st.booleans(), label="delete"):
        del record[key]
    else:
        record[key] = None
    after = _map(vendor, raw)  # MalformedItem here fails the test: the item has its id, it must be stored
    assert type(after) is type(before)
    if isinstance(after, Evidence) and isinstance(before, Evidence):
        assert after.id == before.id


# ---- configuration ------------------------------------------------------------------------------------
KEYS = st.sampled_from([
    "store", "url", "sources", "zendesk", "intercom", "slack", "jira", "linear", "hubspot", "base_url", "token",
    "email", "jql", "channels", "start_date", "alerts", "sinks", "type", "secret", "routing_key", "min_reports",
    "window", "correlate", "timeline", "update_cadence", "schedule", "sync_every", "accounts", "aliases",
    "text_threshold", "linkage", "max_age", "portal_id", "thread_lookback",
]) | st.text(min_size=1, max_size=8)  # fmt: skip
SCALARS = st.one_of(
    st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(allow_nan=True),
    st.sampled_from(["2h", "-5m", "0s", "1d", "https://x.zendesk.com", "sqlite:///x.db", "${MISSING_VAR}",
                     "${HOME}", "slack", "webhook", "pagerduty", "2026-01-01", "token\nwith\nlines"]),
    st.text(max_size=10),
)  # fmt: skip
DOCS = st.recursive(
    st.dictionaries(KEYS, SCALARS, max_size=4),
    lambda inner: st.dictionaries(KEYS, inner | st.lists(inner, max_size=2) | st.lists(SCALARS, max_size=3),
                                  max_size=4),
    max_leaves=12,
)  # fmt: skip


def _toml_key(key: str) -> str:
    return json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


def _toml(doc: Mapping[str, Any]) -> str:
    """Tables as [headers] (what users write), everything below them inline."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for key, value in doc.items():
        if isinstance(value, dict):
            lines.append(f"[{_toml_key(key)}]")
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()]
    return "\n".join(lines) + "\n"


def _load(path: Path) -> None:
    """Settings, or a ConfigError whose message is one line starting with `config:`; nothing else."""
    try:
        load_settings(path, env={"HOME": "/home/x"})
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("config:") and "\n" not in message and "\r" not in message, repr(message)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=DOCS)
def test_random_toml_documents_load_or_fail_with_one_config_line(tmp_path: Path, doc: dict[str, Any]) -> None:
    path = tmp_path / "caseline.toml"
    path.write_text(_toml(doc), encoding="utf-8")
    _load(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=80) | st.binary(max_size=60).map(lambda b: b.decode("latin-1")))
def test_random_text_as_config_fails_with_one_config_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "caseline.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _load(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(min_size=1, max_size=40))
def test_bytes_that_are_not_utf8_fail_with_one_config_line(tmp_path: Path, blob: bytes) -> None:
    path = tmp_path / "caseline.toml"
    path.write_bytes(b'[store]\nurl = "' + blob + b'"\n')
    _load(path)


# ---- the CLI facing nothing -----------------------------------------------------------------------------
def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("caseline: error: "), err
    return lines[0]


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def no_waits() -> Iterator[None]:
    set_testing(True, scale=0.0)  # retries still happen (and are counted), without sleeping
    yield
    set_testing(False)


def test_unknown_incident_and_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "caseline.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "empty.db"}"\n', encoding="utf-8")
    c = ("--config", str(config))
    for args in (("timeline", "inc-nope42"), ("export", "inc-nope42"), ("incident", "confirm", "inc-nope42"),
                 ("timeline", "inc-nope42", "--format", "json")):  # fmt: skip
        outcome = run_cli(capsys, *args, *c)
        assert outcome.code == 1, (args, outcome.err)
        assert "inc-nope42" in _one_error_line(outcome.err)
    for args in (("incidents", "--json"), ("evidence", "--json"), ("alert", "--json")):
        outcome = run_cli(capsys, *args, *c)
        assert (outcome.code, json.loads(outcome.out)) == (0, []), outcome.err
    correlated = run_cli(capsys, "correlate", "--json", *c)
    assert correlated.code == 0 and json.loads(correlated.out)["incidents_created"] == 0
    synced = run_cli(capsys, "sync", *c)  # no sources configured: a configuration problem
    assert synced.code == 2 and "no sources configured" in _one_error_line(synced.err)


@pytest.mark.usefixtures("no_waits")
def test_unreachable_hosts_give_one_line_and_the_contract_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _closed_port()
    config = tmp_path / "caseline.toml"
    body = [f'[store]\nurl = "sqlite:///{tmp_path / "c.db"}"\n']
    for vendor in ("zendesk", "jira"):
        table = {k: v for k, v in SOURCES[vendor].items() if k != "base_url"}
        body.append(f'[sources.{vendor}]\nbase_url = "http://127.0.0.1:{port}"\n')
        body += [f"{k} = {json.dumps(v)}\n" for k, v in table.items()]
    body.append(f'[[alerts.sinks]]\ntype = "webhook"\nurl = "http://127.0.0.1:{port}/hook"\n')
    config.write_text("".join(body), encoding="utf-8")
    c = ("--config", str(config))

    synced = run_cli(capsys, "sync", "--json", *c)  # every source down (not a credentials problem): exit 1
    assert synced.code == 1
    lines = [line for line in synced.err.splitlines() if line.strip()]
    assert len(lines) == 2 and all(line.startswith("caseline: error: ") for line in lines), synced.err
    assert any("zendesk: ConnectError on GET /api/v2/incremental/tickets/cursor.json" in x for x in lines)
    assert any("jira: ConnectError on GET /rest/api/3/myself" in x for x in lines)
    assert all("gave up after 6 attempts" in line for line in lines)
    assert [r["error"] is not None for r in json.loads(synced.out)] == [True, True]

    posted = run_cli(capsys, "export", "inc-nope42", "--post", f"http://127.0.0.1:{port}/x", *c)
    assert posted.code == 1 and "inc-nope42" in _one_error_line(posted.err)

    store_down = tmp_path / "down.toml"
    store_down.write_text(f'[store]\nurl = "postgresql+psycopg://u:pw-1234@127.0.0.1:{port}/db"\n', encoding="utf-8")
    for args in (("evidence",), ("sync",), ("incidents",)):
        outcome = run_cli(capsys, *args, "--config", str(store_down))
        line = _one_error_line(outcome.err)
        assert outcome.code == 1 and f"store: cannot open postgresql+psycopg://u:***@127.0.0.1:{port}/db" in line
        assert "pw-1234" not in outcome.err + outcome.out
