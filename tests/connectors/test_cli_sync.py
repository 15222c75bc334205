"""`caseline sync`: JSON and table output, and the contract's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx

from caseline.connectors import CONNECTORS
from tests.cli_helpers import run_cli
from tests.connectors.test_sync import Fake

ZENDESK = "https://acme.zendesk.com"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setitem(CONNECTORS, "alpha", Fake)
    path = tmp_path / "caseline.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "c.db"}"\n\n'
        f'[sources.zendesk]\nbase_url = "{ZENDESK}"\nemail = "ops@acme.com"\ntoken = "zd-secret"\n\n'
        '[sources.alpha]\nbase_url = "https://alpha.test"\n'
    )
    return path


def _reject_zendesk(router: respx.MockRouter) -> None:
    router.get(f"{ZENDESK}/api/v2/incremental/tickets/cursor.json").mock(
        return_value=httpx.Response(401, json={"error": "Couldn't authenticate you"})
    )


def test_one_source_failing_while_another_stored_exits_1(
    config: Path, router: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    _reject_zendesk(router)
    result = run_cli(capsys, "sync", "--json", "--config", str(config))
    assert result.code == 1
    assert json.loads(result.out) == [
        {"source": "zendesk", "fetched": 0, "stored": 0, "failed": 0,
         "error": "zendesk: 401 Unauthorized on GET /api/v2/incremental/tickets/cursor.json — "
                  "check sources.zendesk.token"},
        {"source": "alpha", "fetched": 5, "stored": 5, "failed": 0, "error": None},
    ]  # fmt: skip
    assert result.err.startswith("caseline: error: zendesk: 401 Unauthorized")
    assert "zd-secret" not in result.out + result.err


def test_every_source_rejecting_credentials_exits_2(
    config: Path, router: respx.MockRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    _reject_zendesk(router)
    result = run_cli(capsys, "sync", "--source", "zendesk", "--config", str(config))
    assert result.code == 2
    assert "check sources.zendesk.token" in result.err


def test_table_output_and_named_source(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "sync", "-s", "alpha", "--config", str(config))
    assert result.code == 0, result.err
    assert "alpha" in result.out and "zendesk" not in result.out
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.out.splitlines() if "alpha" in line]
    assert rows == [["alpha", "5", "5", "0", ""]], result.out


def test_unknown_source_and_no_sources_are_usage_errors(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unknown = run_cli(capsys, "sync", "--source", "gamma", "--config", str(config))
    assert unknown.code == 2 and "'gamma' is not configured" in unknown.err
    empty = config.with_name("empty.toml")
    empty.write_text(f'[store]\nurl = "sqlite:///{config.parent / "e.db"}"\n')
    none = run_cli(capsys, "sync", "--config", str(empty))
    assert none.code == 2 and "no sources configured" in none.err
