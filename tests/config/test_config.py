from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from caseline.config import load_settings, parse_settings, template_text
from caseline.config.models import AlertSettings, PagerDutySink, ScheduleSettings, SlackSink, WebhookSink
from caseline.connectors import CONNECTORS
from caseline.connectors.base import SourceSettings
from caseline.errors import ConfigError

_HEADER = re.compile(r"^\[\[?([\w.]+)\]\]?")
_KEY = re.compile(r"^(\w+)\s*=")


def test_template_loads_as_written_with_no_environment(tmp_path: Path) -> None:
    path = tmp_path / "caseline.toml"
    path.write_text(template_text())
    settings = load_settings(path, env={})
    assert settings.correlate.window == timedelta(hours=2)
    assert settings.alerts.min_reports == 5 and settings.alerts.window == timedelta(minutes=30)
    assert settings.sources == {}


def test_missing_default_file_means_defaults() -> None:
    assert load_settings(None, env={}).store.url == "sqlite:///caseline.db"


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml")


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings({"correlate": {"windw": "2h"}}, env={})
    assert str(err.value) == "config: correlate.windw: unknown key"
    assert err.value.exit_code == 2


def test_unknown_top_level_table_is_named() -> None:
    with pytest.raises(ConfigError, match=r"config: alert: unknown key"):
        parse_settings({"alert": {}}, env={})


def test_bad_duration_names_key_and_problem() -> None:
    with pytest.raises(ConfigError, match=r"config: alerts.window: bad duration '30 minutes'"):
        parse_settings({"alerts": {"window": "30 minutes"}}, env={})


def test_missing_environment_variable_is_named_with_its_key() -> None:
    raw = {"alerts": {"sinks": [{"type": "slack", "url": "${SLACK_WEBHOOK_URL}"}]}}
    with pytest.raises(ConfigError) as err:
        parse_settings(raw, env={})
    assert str(err.value) == "config: missing environment variable SLACK_WEBHOOK_URL (in alerts.sinks[0].url)"


def test_secrets_are_interpolated_and_never_printed() -> None:
    raw = {"alerts": {"sinks": [{"type": "webhook", "url": "https://example.com/hook", "secret": "${S}"}]}}
    settings = parse_settings(raw, env={"S": "hunter2-very-secret"})
    sink = settings.alerts.sinks[0]
    assert sink.secret is not None and sink.secret.get_secret_value() == "hunter2-very-secret"  # type: ignore[union-attr]
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings)


def test_bad_url_is_named() -> None:
    with pytest.raises(ConfigError, match=r"config: alerts.sinks.0.url: "):
        parse_settings({"alerts": {"sinks": [{"type": "webhook", "url": "not a url"}]}}, env={})


def test_invalid_toml_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[store\nurl=1")
    with pytest.raises(ConfigError, match="invalid TOML") as err:
        load_settings(path)
    assert "\n" not in str(err.value)


def test_aliases_are_lowercased() -> None:
    settings = parse_settings({"accounts": {"aliases": {"ACME.com": ["Acme.CO.uk"]}}}, env={})
    assert settings.accounts.aliases == {"acme.com": ["acme.co.uk"]}


def _template_keys() -> dict[str, set[str]]:
    """The keys the template shows, commented out or not, per table (`alerts.sinks`: every sink's)."""
    keys: dict[str, set[str]] = {}
    table = ""
    for line in template_text().splitlines():
        text = line.lstrip("# ")
        if header := _HEADER.match(text):
            table = header.group(1)
        elif key := _KEY.match(text):
            keys.setdefault(table, set()).add(key.group(1))
    return keys


def test_template_documents_every_source_schedule_and_alert_knob() -> None:
    keys = _template_keys()
    anywhere = set().union(*(v for k, v in keys.items() if k.startswith("sources.")))
    missing = []
    for name, connector in CONNECTORS.items():
        for field in connector.Settings.model_fields:
            # the base fields every source shares (start_date) may be documented once, for all of them
            shown = keys.get(f"sources.{name}", set()) | (anywhere if field in SourceSettings.model_fields else set())
            missing += [] if field in shown else [f"sources.{name}.{field}"]
    tables: list[tuple[str, type[BaseModel]]] = [("schedule", ScheduleSettings), ("alerts", AlertSettings)]
    tables += [("alerts.sinks", sink) for sink in (SlackSink, WebhookSink, PagerDutySink)]
    for table, model in tables:
        missing += [f"{table}.{f}" for f in model.model_fields if f != "sinks" and f not in keys.get(table, set())]
    assert missing == []


def test_every_documented_source_and_alert_example_is_valid(tmp_path: Path) -> None:
    """Uncommenting the examples of [sources.*] and [alerts] (sinks included) gives a valid configuration."""
    lines, table = [], ""
    for line in template_text().splitlines():
        text = line.lstrip("# ")
        table = header.group(1) if (header := _HEADER.match(text)) else table
        ours = table.startswith(("sources.", "alerts", "schedule"))
        lines.append(text if ours and line.startswith("# ") and (header or _KEY.match(text)) else line)
    path = tmp_path / "caseline.toml"
    path.write_text("\n".join(lines) + "\n")
    names = re.findall(r"\$\{(\w+)\}", path.read_text())
    settings = load_settings(path, env=dict.fromkeys(names, "x"))
    assert sorted(settings.sources) == sorted(CONNECTORS)
    assert [s.type for s in settings.alerts.sinks] == ["slack", "webhook", "pagerduty"]
    assert tomllib.loads(path.read_text())["sources"]["hubspot"]["search_interval_s"] == 0.2
