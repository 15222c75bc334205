"""The `caseline.incident.v1` export: contract fields, schema snapshot and validity, why, redaction, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from caseline.evidence import Evidence
from caseline.store import Store, open_store
from caseline.timeline.export import IncidentExport, build_export, export_schema, mask_text
from tests.cli_helpers import run_cli
from tests.timeline import world
from tests.timeline.world import INCIDENT_ID, at

SNAPSHOT = Path(__file__).resolve().parents[2] / "src" / "caseline" / "timeline" / "caseline.incident.v1.schema.json"

# The contract's required fields (CONTRACT.md, "The export: caseline.incident.v1")
CONTRACT_TOP = {
    "schema", "id", "title", "status", "severity", "first_seen", "last_seen", "detected_at", "escalated_at",
    "resolved_at", "metrics", "accounts", "evidence", "timeline", "communication_gaps", "why",
}
CONTRACT_NESTED = {
    "Metrics": {"reports", "accounts_affected", "arr_affected", "time_to_detect_s", "time_to_escalate_s",
                "time_to_resolve_s"},
    "AccountEntry": {"key", "name", "domain", "plan", "arr", "reports"},
    "ExportEvidence": {"id", "source", "kind", "url", "title", "account", "author", "created_at"},
    "TimelineEntry": {"at", "source", "evidence_id", "type", "actor", "text", "url"},
    "GapEntry": {"from", "to", "minutes"},
    "WhyEntry": {"evidence_id", "reasons"},
}


@pytest.fixture
def cli_env(tmp_path: Path) -> tuple[Store, Path]:
    """A SQLite store with the world in it, and a config file pointing at it (for CLI runs)."""
    db = tmp_path / "cli.db"
    store = open_store(f"sqlite:///{db}")
    world.save_world(store)
    config = tmp_path / "caseline.toml"
    config.write_text(world.CONFIG_TOML.format(db=db.as_posix()), encoding="utf-8")
    return store, config


def test_schema_snapshot_matches_the_models() -> None:
    """A failing test here means the contract changed: update the snapshot deliberately."""
    assert json.loads(SNAPSHOT.read_text(encoding="utf-8")) == export_schema()


def test_required_fields_are_exactly_the_contracts() -> None:
    schema = export_schema()
    assert set(schema["required"]) == CONTRACT_TOP
    for name, fields in CONTRACT_NESTED.items():
        assert set(schema["$defs"][name]["required"]) == fields, name
    assert schema["properties"]["schema"]["const"] == "caseline.incident.v1"
    types = schema["$defs"]["TimelineEntry"]["properties"]["type"]["enum"]
    assert set(types) == {"report", "message", "comment", "status_change", "escalation", "customer_update",
                          "resolution"}
    assert set(schema["$defs"]["Reason"]["properties"]["kind"]["enum"]) == {"link", "text", "account", "time",
                                                                           "decision"}


def test_schema_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "schema")
    assert outcome.code == 0
    assert json.loads(outcome.out) == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_export_validates_against_the_printed_schema(
    cli_env: tuple[Store, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, config = cli_env
    schema = json.loads(run_cli(capsys, "schema").out)
    for args in (("export", INCIDENT_ID), ("timeline", INCIDENT_ID, "--format", "json"),
                 ("export", INCIDENT_ID, "--redact")):
        outcome = run_cli(capsys, *args, "--config", str(config))
        assert outcome.code == 0, outcome.err
        document = json.loads(outcome.out)
        jsonschema.Draft202012Validator(schema).validate(document)
        assert document["schema"] == "caseline.incident.v1"
        assert document["id"] == INCIDENT_ID


def test_export_content(store: Store) -> None:
    world.save_world(store)
    doc = build_export(store, INCIDENT_ID, world.settings(), now=at(300)).to_dict()
    assert (doc["first_seen"], doc["detected_at"], doc["escalated_at"], doc["resolved_at"]) == (
        "2026-03-02T09:00:00Z", "2026-03-02T09:15:00Z", "2026-03-02T09:40:00Z", "2026-03-02T11:30:00Z",
    )
    assert doc["metrics"] == {
        "reports": 3, "accounts_affected": 3, "arr_affected": 168000.0, "time_to_detect_s": 900.0,
        "time_to_escalate_s": 2400.0, "time_to_resolve_s": 9000.0,
    }
    assert doc["communication_gaps"] == [
        {"from": "2026-03-02T09:20:00Z", "to": "2026-03-02T10:30:00Z", "minutes": 70.0, "ongoing": False},
        {"from": "2026-03-02T10:30:00Z", "to": "2026-03-02T11:30:00Z", "minutes": 60.0, "ongoing": False},
    ]
    # evidence[] entries are Evidence.summary(), unchanged
    by_id = {e.id: e for e in world.evidence()}
    for item in doc["evidence"]:
        expected = by_id[item["id"]].summary()
        assert {k: item[k] for k in expected} == expected
    assert len(doc["evidence"]) == len(by_id)
    times = [e["at"] for e in doc["timeline"]]
    assert times == sorted(times)
    assert len({(e["at"], e["evidence_id"], e["type"], e["text"]) for e in doc["timeline"]}) == len(times)
    mirrored = next(e for e in doc["timeline"] if e["also"])
    assert mirrored["url"] == f"{world.ZD}/101#comment-9001"
    assert mirrored["also"][0]["source"] == "slack"


def test_why_comes_from_stored_member_reasons(store: Store) -> None:
    world.save_world(store)
    doc = build_export(store, INCIDENT_ID, world.settings(), now=at(300)).to_dict()
    why = {w["evidence_id"]: w["reasons"] for w in doc["why"]}
    first = world.evidence()[0].id
    assert set(why) == {e.id for e in world.evidence()}
    assert why[first] == []
    assert why["jira:issue:SUP-7"] == [{"kind": "text", "with": first, "score": 91.5, "detail": None}]


def test_redact_masks_emails_and_phones_everywhere(store: Store) -> None:
    world.save_world(store)
    plain = build_export(store, INCIDENT_ID, world.settings(), now=at(300)).to_json()
    redacted_doc = build_export(store, INCIDENT_ID, world.settings(), now=at(300), redact=True)
    redacted = redacted_doc.to_json()
    emails = {p.email for e in world.evidence() for p in [e.author, *(a.actor for a in e.activities)]
              if p is not None and p.email}
    assert emails and all(email in plain for email in emails)  # the unredacted export does hold them
    for secret in [*emails, "carol@initech.com", "+1 (415) 555-0132", "555-0132"]:
        assert secret not in redacted, secret
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", redacted.replace("[email]@", ""))
    assert "[phone]" in redacted and "[email]@acme.com" in redacted
    # ids, times and URLs are untouched
    doc, red = json.loads(plain), json.loads(redacted)
    assert [e["id"] for e in red["evidence"]] == [e["id"] for e in doc["evidence"]]
    assert [(e["at"], e["url"]) for e in red["timeline"]] == [(e["at"], e["url"]) for e in doc["timeline"]]
    assert red["redacted"] is True
    IncidentExport.model_validate(red)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call +44 20 7946 0958 today", "call [phone] today"),
        ("or 415-555-0132", "or [phone]"),
        ("ring (020) 7946 0958", "ring [phone]"),
        ("mail jane.doe+x@acme.co.uk now", "mail [email]@acme.co.uk now"),
        *[(same, same) for same in ("order 4417 failed at 2026-03-02 09:15, v2.3.1 on 10.0.0.12",
                                    "ticket 123456 costs 1,250.00")],
    ],
)
def test_mask_text(text: str, expected: str) -> None:
    assert mask_text(text) == expected


def test_unknown_incident_exits_1_with_one_line(
    cli_env: tuple[Store, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, config = cli_env
    for command in ("export", "timeline"):
        outcome = run_cli(capsys, command, "inc-unknown", "--config", str(config))
        assert outcome.code == 1
        assert outcome.err == "caseline: error: incident inc-unknown not found\n"
        assert outcome.out == ""


def test_out_writes_files(cli_env: tuple[Store, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _, config = cli_env
    for fmt, marker in (("text", "Timeline (24 entries)"), ("markdown", "## Communication"),
                        ("html", "<!DOCTYPE html>"), ("json", '"schema": "caseline.incident.v1"')):
        target = tmp_path / f"out.{fmt}"
        outcome = run_cli(capsys, "timeline", INCIDENT_ID, "--format", fmt, "--out", str(target), "--config",
                          str(config))
        assert outcome.code == 0, outcome.err
        assert outcome.out == ""
        assert marker in target.read_text(encoding="utf-8")
    exported = tmp_path / "export.json"
    assert run_cli(capsys, "export", INCIDENT_ID, "--out", str(exported), "--config", str(config)).code == 0
    assert json.loads(exported.read_text(encoding="utf-8"))["id"] == INCIDENT_ID


def test_timeline_prints_text_and_rejects_unknown_formats(
    cli_env: tuple[Store, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, config = cli_env
    outcome = run_cli(capsys, "timeline", INCIDENT_ID, "--config", str(config))
    assert outcome.code == 0, outcome.err
    assert "Checkout fails with 502" in outcome.out and "Timeline (24 entries)" in outcome.out
    assert "\N{TICKET}" not in outcome.out  # `:ticket:` in an evidence id is not an emoji code
    assert run_cli(capsys, "timeline", INCIDENT_ID, "--format", "pdf", "--config", str(config)).code == 2
    markdown = run_cli(capsys, "timeline", INCIDENT_ID, "--format", "markdown", "--config", str(config))
    assert markdown.code == 0 and markdown.out.startswith("# Postmortem draft: Checkout fails with 502\n")


def test_evidence_entry_model_is_derived_from_evidence() -> None:
    """The export's evidence[] model has exactly `Evidence.summary()`'s keys."""
    probe = Evidence.model_validate({"id": "a:b:c", "created_at": 0}).summary()
    assert set(export_schema()["$defs"]["ExportEvidence"]["properties"]) == set(probe)
