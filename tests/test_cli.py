from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli


def test_init_then_evidence_json_prints_an_empty_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "init").code == 0
    assert Path("caseline.toml").exists()
    result = run_cli(capsys, "evidence", "--json")
    assert result.code == 0
    assert json.loads(result.out) == []


def test_init_refuses_to_overwrite(capsys: pytest.CaptureFixture[str]) -> None:
    run_cli(capsys, "init")
    result = run_cli(capsys, "init")
    assert result.code == 2
    assert result.err.strip() == "caseline: error: caseline.toml already exists (use --force to overwrite)"


def test_import_stores_good_lines_and_names_the_bad_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    lines = [
        {"id": "statuspage:report:1", "created_at": "2026-03-01T12:00:00Z", "title": "API errors",
         "author": {"name": "Ann", "email": "ann@acme.com"}, "account": "acme.com",
         "links": ["zendesk:ticket:9"],
         "activities": [{"at": "2026-03-01T12:05:00Z", "type": "comment", "actor": {"name": "Bo"}, "text": "ack"}]},
        {"id": "statuspage:report:2", "created_at": "2026-03-01T12:00:00", "title": "no offset"},
        "not json at all",
        {"id": "statuspage:report:3", "created_at": "2026-03-01T13:00:00+01:00", "body": "Dashboard slow"},
        {"id": "statuspage:report:4", "created_at": "2026-03-01T13:00:00Z"},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    result = run_cli(capsys, "import", str(path), "--json")
    assert result.code == 1
    report = json.loads(result.out)
    assert report["stored"] == 2
    assert [s["line"] for s in report["skipped"]] == [2, 3, 5]
    assert "no UTC offset" in report["skipped"][0]["error"]
    assert "invalid JSON" in report["skipped"][1]["error"]
    assert "title" in report["skipped"][2]["error"]
    listed = json.loads(run_cli(capsys, "evidence", "--json").out)
    assert {e["id"] for e in listed} == {"statuspage:report:1", "statuspage:report:3"}
    first = next(e for e in listed if e["id"] == "statuspage:report:1")
    assert first["links"] == ["zendesk:ticket:9"] and first["account"] == "acme.com"
    assert next(e for e in listed if e["id"] == "statuspage:report:3")["created_at"] == "2026-03-01T12:00:00Z"
    # importing again is idempotent
    run_cli(capsys, "import", str(path), "--json")
    assert len(json.loads(run_cli(capsys, "evidence", "--json").out)) == 2


def test_unknown_config_key_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    Path("caseline.toml").write_text('[store]\nurl = "sqlite:///x.db"\nbogus = 1\n')
    result = run_cli(capsys, "evidence", "--json")
    assert result.code == 2
    assert result.err == "caseline: error: config: store.bogus: unknown key\n"


def test_missing_env_variable_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CASELINE_T_URL", raising=False)
    Path("c.toml").write_text('[store]\nurl = "${CASELINE_T_URL}"\n')
    result = run_cli(capsys, "evidence", "--config", "c.toml")
    assert result.code == 2
    assert result.err == "caseline: error: config: missing environment variable CASELINE_T_URL (in store.url)\n"


def test_debug_adds_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    Path("caseline.toml").write_text("[nope]\n")
    plain = run_cli(capsys, "evidence")
    assert "Traceback" not in plain.err and plain.err.count("\n") == 1
    debug = run_cli(capsys, "evidence", "--debug")
    assert "Traceback" in debug.err and debug.err.rstrip().endswith("config: nope: unknown key")


def test_bad_since_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "evidence", "--since", "last tuesday")
    assert result.code == 2 and "--since" in result.err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "evidence", "--no-such-flag").code == 2


def test_evidence_table_for_people(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"id": "statuspage:report:1", "created_at": "2026-03-01T12:00:00Z",
                                "title": "API errors on checkout"}) + "\n")
    run_cli(capsys, "import", str(path))
    result = run_cli(capsys, "evidence")
    assert result.code == 0
    assert "statuspage:report:1" in result.out and "API errors" in result.out
    assert "{" not in result.out  # a table, not a dict dump


def test_ctrl_c_prints_one_line_and_exits_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import caseline.cli

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(caseline.cli, "load_settings", interrupted)
    result = run_cli(capsys, "evidence", "--json")
    assert (result.code, result.err, result.out) == (130, "caseline: interrupted\n", "")
    # the same inside a sub-command group
    result = run_cli(capsys, "incident", "confirm", "inc-abc123")
    assert (result.code, result.err) == (130, "caseline: interrupted\n")


def test_evidence_table_shows_ids_and_bracketed_titles_verbatim(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"id": "zendesk:ticket:1", "created_at": "2026-03-01T12:00:00Z",
                                "title": "[urgent] checkout down"}) + "\n")
    run_cli(capsys, "import", str(path))
    result = run_cli(capsys, "evidence")
    assert "zendesk:ticket:1" in result.out  # not turned into an emoji
    assert "[urgent]" in result.out  # vendor text is not rich markup
