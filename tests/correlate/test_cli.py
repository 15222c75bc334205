"""`caseline correlate`, `caseline incidents` and `caseline incident ...` as a user runs them."""

from __future__ import annotations

import json

import pytest

from caseline.store import open_store
from tests.cli_helpers import run_cli

from .helpers import EXPORT, LOGIN, burst

INCIDENT_KEYS = {"id", "title", "status", "severity", "first_seen", "last_seen", "report_count", "accounts",
                 "sources", "evidence"}


@pytest.fixture
def seeded(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "init").code == 0
    store = open_store("sqlite:///caseline.db")
    store.upsert_evidence([*burst(EXPORT, 0, [f"e{k}.com" for k in range(5)], first_id=100),
                           *burst(LOGIN, 10, [f"l{k}.com" for k in range(4)], first_id=200)])
    store.engine.dispose()


def _incidents(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    result = run_cli(capsys, "incidents", "--json", *args)
    assert result.code == 0, result.err
    return list(json.loads(result.out))


def test_correlate_and_incidents_print_the_contract_shapes(seeded: None, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "correlate", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {"scored": 9, "incidents_created": 2, "incidents_updated": 0}
    listed = _incidents(capsys)
    assert len(listed) == 2 and all(set(i) == INCIDENT_KEYS for i in listed)
    export = next(i for i in listed if i["report_count"] == 5)
    assert export["status"] == "candidate" and export["severity"] in {"sev1", "sev2", "sev3", "sev4"}
    assert export["sources"] == {"zendesk": 5} and export["accounts"] == [f"e{k}.com" for k in range(5)]
    assert export["evidence"] == [f"zendesk:ticket:{100 + k}" for k in range(5)]
    assert str(export["first_seen"]).endswith("Z") and export["title"] in EXPORT
    why = json.loads(run_cli(capsys, "incidents", "--why", str(export["id"]), "--json").out)
    assert [w["evidence_id"] for w in why["why"]] == export["evidence"]
    assert all(r["kind"] in {"link", "text", "time", "account"} and "with" in r for w in why["why"]
               for r in w["reasons"])
    table = run_cli(capsys, "incidents")
    assert table.code == 0 and str(export["id"]) in table.out
    explained = run_cli(capsys, "incidents", "--why", str(export["id"]))
    assert explained.code == 0 and "zendesk:ticket" in explained.out and "🎫" not in explained.out


def test_decisions_from_the_command_line(seeded: None, capsys: pytest.CaptureFixture[str]) -> None:
    run_cli(capsys, "correlate")
    export, login = sorted(_incidents(capsys), key=lambda i: -int(i["report_count"]))  # type: ignore[call-overload]
    assert run_cli(capsys, "incident", "confirm", str(export["id"])).code == 0
    dismissed = run_cli(capsys, "incident", "dismiss", str(login["id"]), "--json")
    assert json.loads(dismissed.out)["status"] == "dismissed"
    assert [i["id"] for i in _incidents(capsys)] == [export["id"]]  # open only by default
    assert {i["status"] for i in _incidents(capsys, "--all")} == {"confirmed", "dismissed"}
    parts = json.loads(run_cli(capsys, "incident", "split", str(export["id"]), "zendesk:ticket:104", "--json").out)
    assert [p["evidence"] for p in parts][1] == ["zendesk:ticket:104"]
    left = run_cli(capsys, "incident", "exclude", str(export["id"]), "zendesk:ticket:103", "--json")
    assert "zendesk:ticket:103" not in json.loads(left.out)["evidence"]
    merged = run_cli(capsys, "incident", "merge", str(export["id"]), str(parts[1]["id"]), "--json")
    assert "zendesk:ticket:104" in json.loads(merged.out)["evidence"]
    assert run_cli(capsys, "correlate", "--json").code == 0


@pytest.mark.parametrize(
    "args",
    [("incident", "confirm", "inc-nope"), ("incident", "merge", "inc-nope", "inc-other"),
     ("incidents", "--why", "inc-nope")],
)
def test_an_unknown_incident_is_one_line_and_exit_1(seeded: None, capsys: pytest.CaptureFixture[str],
                                                   args: tuple[str, ...]) -> None:
    result = run_cli(capsys, *args)
    assert result.code == 1
    assert result.err == "caseline: error: unknown incident 'inc-nope'\n"
