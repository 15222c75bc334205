"""Secrets never leave where they belong: not in logs, output, errors, exports, alert bodies or the database.

Every source token, every sink secret and the database password are distinctive strings. Everything a user
or an attacker with the files could see is collected and searched for them: log records of EVERY logger at
DEBUG (httpx, httpcore and SQLAlchemy included), stdout/stderr of every command (with `--debug`
tracebacks forced by failures), the sync reports' error messages, the timeline and export files, the
bodies the alert receiver got, and a dump of every table. The SQLite file's 0600 mode is asserted in
tests/store/test_repo.py (`test_sqlite_file_is_private`-style check on a fresh file) and again here.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from caseline.emulator import Emulator, World, serve
from caseline.store import open_store
from tests.alerts.helpers import Receiver, serve_receiver
from tests.cli_helpers import Outcome, run_cli
from tests.reliability._harness import clean_env, run_caseline

pytestmark = pytest.mark.slow

TOKENS = {  # vendor → the credentials the emulator accepts, distinctive enough to grep for
    "zendesk": {"email": "ops@example.com", "token": "zd-Tok-7f3a9c1e"},
    "intercom": {"token": "ic-Tok-52be0d9a"},
    "hubspot": {"token": "hs-Tok-c4e18f07"},
    "slack": {"token": "xoxb-Tok-9d61a2f3"},
    "jira": {"email": "ops@example.com", "token": "jira-Tok-0e7b44c2"},
    "linear": {"token": "lin_api_Tok3a8f55d1"},
}
WRONG = {vendor: f"{vendor}-Wrong-{n:04d}beef" for n, vendor in enumerate(TOKENS)}
SLACK_HOOK = "/services/T0SECRET1/B0SECRET2/slk-Tok-a1b2c3d4e5"
WEBHOOK_SECRET = "whk-Tok-66f0b1d9"
PD_KEY = "pd-Tok-0c9e7a31"
POST_TOKEN = "post-Tok-e3d2c1b0"
BAD_DB_PASSWORD = "pgpw-Tok-5a4b3c2d"


def _secrets(store_url: str) -> list[str]:
    found = [t["token"] for t in TOKENS.values()] + list(WRONG.values())
    found += [SLACK_HOOK.rsplit("/", 1)[1], WEBHOOK_SECRET, PD_KEY, POST_TOKEN, BAD_DB_PASSWORD]
    url = make_url(store_url)
    if url.password:  # the real password is whatever the test server uses: search for it as a URL would show it
        found += [f"{url.username}:{url.password}@", f"password={url.password}"]
    return found


def _config(path: Path, emu: Emulator, receiver: Receiver, store_url: str) -> Path:
    lines = ["[store]", f"url = {json.dumps(store_url)}", ""]
    for vendor, creds in TOKENS.items():
        lines += [f"[sources.{vendor}]", f'base_url = "{emu.base_url(vendor)}"']
        env = f"${{{vendor.upper()}_TOKEN}}"
        lines += [f'{k} = "{v}"' if k != "token" else f'token = "{env}"' for k, v in creds.items()]
        if vendor == "jira":
            lines.append('jql = "project = OPS"')
        if vendor == "hubspot":
            lines.append("search_interval_s = 0")
        if vendor == "slack":
            lines.append("tier3_interval_s = 0")
        lines.append("")
    lines += [
        "[alerts]", "min_reports = 5", "min_accounts = 3", 'window = "30m"', 'max_age = "24h"', "",
        "[[alerts.sinks]]", 'type = "slack"', 'url = "${SLACK_WEBHOOK_URL}"', "",
        "[[alerts.sinks]]", 'type = "webhook"', f'url = "{receiver.url}/hook"', 'secret = "${WEBHOOK_SECRET}"', "",
        "[[alerts.sinks]]", 'type = "pagerduty"', 'routing_key = "${PD_ROUTING_KEY}"', f'base_url = "{receiver.url}"',
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def everything_at_debug(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every logger (caseline's, httpx, httpcore, sqlalchemy, …) at DEBUG, all captured by caplog."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    caplog.set_level(logging.DEBUG)
    names = ["", "caseline", "httpx", "httpcore", "sqlalchemy", "sqlalchemy.engine", "sqlalchemy.pool",
             *logging.root.manager.loggerDict]  # fmt: skip
    before = {n: logging.getLogger(n).level for n in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)
    root = logging.getLogger("caseline")
    for handler in [h for h in root.handlers if h.get_name() == "caseline.run"]:
        root.removeHandler(handler)


def _dump(store_url: str) -> str:
    """Every row of every table, as text (SQLite: iterdump; PostgreSQL: select all rows)."""
    if store_url.startswith("sqlite"):
        path = make_url(store_url).database
        assert path is not None
        with sqlite3.connect(path) as conn:
            return "\n".join(conn.iterdump())
    store = open_store(store_url, create=False)
    try:
        with store.engine.connect() as conn:
            tables = SQLModel.metadata.sorted_tables
            return "\n".join(repr(tuple(row)) for table in tables for row in conn.execute(select(table)))
    finally:
        store.engine.dispose()


@pytest.mark.usefixtures("everything_at_debug")
def test_no_secret_in_logs_output_errors_exports_alerts_or_the_database(
    empty_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    world = World.from_dict(json.loads(
        resources.files("caseline.emulator").joinpath("worlds/demo.json").read_text(encoding="utf-8")
    ))  # fmt: skip
    world.credentials.update({vendor: dict(creds) for vendor, creds in TOKENS.items()})
    outcomes: list[Outcome] = []
    seen_text: list[str] = []

    def cli(*args: str) -> Outcome:
        outcome = run_cli(capsys, *args)
        outcomes.append(outcome)
        return outcome

    with serve(world) as emu, serve_receiver() as receiver:
        config = _config(tmp_path / "caseline.toml", emu, receiver, empty_store_url)
        c = ("--config", str(config))
        monkeypatch.setenv("SLACK_WEBHOOK_URL", f"{receiver.url}{SLACK_HOOK}")
        monkeypatch.setenv("WEBHOOK_SECRET", WEBHOOK_SECRET)
        monkeypatch.setenv("PD_ROUTING_KEY", PD_KEY)

        for vendor in TOKENS:  # wrong tokens first: every source answers 401 → exit 2, the key is named
            monkeypatch.setenv(f"{vendor.upper()}_TOKEN", WRONG[vendor])
        rejected = cli("sync", "--json", "--debug", *c)
        assert rejected.code == 2, rejected.err
        assert all(r["error"] for r in json.loads(rejected.out))
        assert "check sources.zendesk.token" in rejected.err
        assert sum(emu.stats.unauthorized.values()) >= len(TOKENS)

        for vendor, creds in TOKENS.items():
            monkeypatch.setenv(f"{vendor.upper()}_TOKEN", creds["token"])
        synced = cli("sync", "--json", "--debug", *c)
        assert synced.code == 0, synced.err
        seen_text += [str(r["error"]) for r in json.loads(rejected.out) + json.loads(synced.out)]
        assert cli("correlate", "--json", *c).code == 0
        listed = cli("incidents", "--json", *c)
        incidents = json.loads(listed.out)
        assert incidents, "the demo world makes incidents"
        top = incidents[0]["id"]
        for fmt in ("text", "markdown", "json", "html"):
            assert cli("timeline", top, "--format", fmt, "--out", str(tmp_path / f"timeline.{fmt}"), *c).code == 0
        assert cli("export", top, "--out", str(tmp_path / "export.json"), *c).code == 0
        assert cli("export", top, "--redact", "--out", str(tmp_path / "redacted.json"), *c).code == 0
        posted = cli("export", top, "--post", f"{receiver.url}/postmortem?token={POST_TOKEN}", *c)
        assert posted.code == 0, posted.err
        dry = cli("alert", "--dry-run", "--json", *c)
        assert dry.code == 0 and json.loads(dry.out)
        sent = cli("alert", "--json", *c)
        assert sent.code == 0, sent.err
        assert "sent" in {o["status"] for o in json.loads(sent.out)}
        assert cli("run", "--once", "--debug", *c).code == 0

        # forced failures with --debug tracebacks: an unknown incident, a store refusing a password
        unknown = cli("timeline", "inc-unknown1", "--debug", *c)
        assert unknown.code == 1 and "Traceback" in unknown.err
        bad_db = tmp_path / "bad-db.toml"
        bad_url = make_url(empty_store_url)
        if bad_url.get_backend_name() == "postgresql":
            bad_url = bad_url.set(password=BAD_DB_PASSWORD)
        else:
            bad_url = make_url(f"postgresql+psycopg://caseline:{BAD_DB_PASSWORD}@127.0.0.1:9/nowhere")
        bad_db.write_text(f"[store]\nurl = {json.dumps(bad_url.render_as_string(hide_password=False))}\n")
        refused = cli("evidence", "--debug", "--config", str(bad_db))
        assert refused.code == 1 and "store: cannot open" in refused.err and "Traceback" in refused.err
        # and the real console script in its own process, failing with --debug
        proc = run_caseline("timeline", "inc-unknown2", "--debug", "--config", str(config), cwd=tmp_path,
                            env=clean_env(**{f"{v.upper()}_TOKEN": c["token"] for v, c in TOKENS.items()},
                                          SLACK_WEBHOOK_URL=f"{receiver.url}{SLACK_HOOK}",
                                          WEBHOOK_SECRET=WEBHOOK_SECRET, PD_ROUTING_KEY=PD_KEY))  # fmt: skip
        assert proc.code == 1 and "Traceback" in proc.err
        seen_text += [proc.out, proc.err]
        bodies = list(receiver.requests)

    # alerts reached every sink; PagerDuty's body must carry its routing key, in that one field only
    paths = {r.path.split("?")[0] for r in bodies}
    assert {SLACK_HOOK, "/hook", "/v2/enqueue", "/postmortem"} <= paths
    for request in bodies:
        body = request.body.decode("utf-8")
        if request.path == "/v2/enqueue":
            event = json.loads(body)
            assert event.pop("routing_key") == PD_KEY
            body = json.dumps(event)
        seen_text.append(body)
        seen_text += [f"{k}: {v}" for k, v in request.headers.items() if k != "x-caseline-signature"]

    seen_text += [o.out + "\n" + o.err for o in outcomes]
    seen_text += [r.getMessage() + "\n" + (r.exc_text or "") for r in caplog.records]
    seen_text += [p.read_text(encoding="utf-8") for p in tmp_path.glob("timeline.*")]
    seen_text += [(tmp_path / name).read_text(encoding="utf-8") for name in ("export.json", "redacted.json")]
    seen_text.append(_dump(empty_store_url))
    assert len(caplog.records) > 200  # DEBUG really was on everywhere: httpx, httpcore, sqlalchemy, caseline
    assert {r.name.split(".")[0] for r in caplog.records} >= {"caseline", "httpx", "httpcore", "sqlalchemy"}

    everything = "\n".join(seen_text)
    leaked = [secret for secret in _secrets(empty_store_url) if secret in everything]
    where = [line[:200] for secret in leaked for text in seen_text for line in text.splitlines() if secret in line]
    assert leaked == [], where[:6]
    if empty_store_url.startswith("sqlite"):
        path = make_url(empty_store_url).database
        assert path is not None and stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_redacted_export_masks_every_email_and_phone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A full export of a real incident, with phone numbers and emails written into its items' text."""
    world = World.from_dict(json.loads(
        resources.files("caseline.emulator").joinpath("worlds/demo.json").read_text(encoding="utf-8")
    ))  # fmt: skip
    phones = ["+1 (415) 555-0142", "+44 20 7946 0958", "030 901820 77", "(212) 555-0199"]
    with world.lock:
        tickets = sorted(world.table("zendesk", "tickets"))
    for n, ticket in enumerate(tickets[:4]):
        world.add_comment("zendesk", "tickets", ticket, f"Call me back on {phones[n]} or mail pat.lee{n}@example.org")
    with serve(world) as emu:
        lines = ["[store]", f'url = "sqlite:///{tmp_path / "r.db"}"', ""]
        for vendor, creds in world.credentials.items():
            lines += [f"[sources.{vendor}]", f'base_url = "{emu.base_url(vendor)}"']
            lines += [f'{k} = "{v}"' for k, v in creds.items()]
            lines += ['jql = "project = OPS"'] if vendor == "jira" else []
            lines += ["search_interval_s = 0"] if vendor == "hubspot" else []
            lines += ["tier3_interval_s = 0"] if vendor == "slack" else []
        (tmp_path / "caseline.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        c = ("--config", str(tmp_path / "caseline.toml"))
        assert run_cli(capsys, "sync", *c).code == 0
    assert run_cli(capsys, "correlate", *c).code == 0
    ids = [i["id"] for i in json.loads(run_cli(capsys, "incidents", "--all", "--json", *c).out)]
    plain = {i: run_cli(capsys, "export", i, *c).out for i in ids}
    redacted = {i: run_cli(capsys, "export", i, "--redact", *c).out for i in ids}
    # the emails and phones of the world (people, authors, actors, text) all show up unredacted somewhere...
    emails = _emails(world) | {f"pat.lee{n}@example.org" for n in range(4)}
    shown = [e for e in emails if any(e in text for text in plain.values())]
    assert len(shown) >= 5 and any(p in text for p in phones for text in plain.values())
    # ...and nowhere once redacted, while the export stays valid JSON that says it was redacted
    everything = "\n".join(redacted.values())
    assert [e for e in emails if e in everything] == [] and [p for p in phones if p in everything] == []
    assert all(json.loads(text).get("redacted") is True for text in redacted.values())
    assert "[email]@" in everything and "[phone]" in everything


def _emails(world: World) -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and "@" in value and " " not in value and "." in value.rsplit("@", 1)[-1]:
            found.add(value.strip("<>").lower())

    walk(world.to_dict()["vendors"])
    return {e for e in found if e.count("@") == 1 and not e.startswith(("http", "mailto"))}
