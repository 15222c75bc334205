"""Configuration: find the TOML file, expand `${ENV}`, validate, and say exactly which key is wrong."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from caseline.config.interpolate import interpolate
from caseline.config.models import (
    AccountsSettings,
    AlertSettings,
    CorrelateSettings,
    ScheduleSettings,
    Settings,
    StoreSettings,
    TimelineSettings,
)
from caseline.errors import ConfigError

__all__ = [
    "AccountsSettings",
    "AlertSettings",
    "CorrelateSettings",
    "ScheduleSettings",
    "Settings",
    "StoreSettings",
    "TimelineSettings",
    "config_path",
    "load_settings",
    "parse_settings",
    "template_text",
]

DEFAULT_PATH = "caseline.toml"


def config_path(path: str | Path | None = None) -> tuple[Path, bool]:
    """The file to read and whether the user named it (`--config`, then `$CASELINE_CONFIG`)."""
    if path:
        return Path(path), True
    if os.environ.get("CASELINE_CONFIG"):
        return Path(os.environ["CASELINE_CONFIG"]), True
    return Path(DEFAULT_PATH), False


def template_text() -> str:
    """The commented template `caseline init` writes."""
    return resources.files("caseline.config").joinpath("template.toml").read_text(encoding="utf-8")


def load_settings(path: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the configuration; a missing default file means all defaults."""
    file, named = config_path(path)
    if not file.exists():
        if named:
            raise ConfigError(f"config: file not found: {file}")
        return parse_settings({}, env=env)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {file}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # found by tests/reliability: it escaped as "unexpected", exit 1
        raise ConfigError(f"config: {file}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"config: cannot read {file}: {exc.strerror}") from None
    return parse_settings(raw, env=env)


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def parse_settings(raw: dict[str, Any], *, env: Mapping[str, str] | None = None) -> Settings:
    """Validate a parsed TOML document (after `${ENV}` expansion); a problem is one ConfigError line.

    Messages name keys, and TOML keys may hold any character: a quoted key with a newline made the error
    two lines. Control characters are shown escaped (`\\n`).
    """
    try:
        return _parse_settings(raw, env=env)
    except ConfigError as exc:
        text = str(exc)
        if not _CONTROL.search(text):
            raise
        raise ConfigError(_CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode(), text)) from None


def _parse_settings(raw: dict[str, Any], *, env: Mapping[str, str] | None = None) -> Settings:
    data = interpolate(raw, env=env)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None
    sources = {name: _source_settings(name, table) for name, table in settings.sources.items()}
    return settings.model_copy(update={"sources": sources})


def _source_settings(name: str, table: Any) -> BaseModel:
    from caseline.connectors import CONNECTORS  # the registry knows each vendor's Settings class

    connector = CONNECTORS.get(name)
    if connector is None:
        known = ", ".join(sorted(CONNECTORS))
        raise ConfigError(f"config: sources.{name}: unknown source (known: {known})")
    if not isinstance(table, dict):
        raise ConfigError(f"config: sources.{name}: expected a table")
    try:
        return connector.Settings.model_validate(table)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, prefix=f"sources.{name}")) from None


def _one_line(exc: ValidationError, *, prefix: str = "") -> str:
    """The first problem as `config: dotted.key: what is wrong` (never the value: it may be a secret)."""
    error = exc.errors()[0]
    parts = [prefix] if prefix else []
    parts += [str(p) for p in error["loc"] if not (isinstance(p, str) and p in {"slack", "webhook", "pagerduty"})]
    key = ".".join(p for p in parts if p)
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "missing":
        message = "missing required key"
    else:
        message = str(error["msg"]).replace("Value error, ", "")
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"config: {key}: {message}{suffix}"
