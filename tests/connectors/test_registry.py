"""The registry: built-ins plus the `caseline.connectors` entry points; a bad plugin is a clear error."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest

import caseline.connectors as registry
from caseline.connectors import CONNECTORS, load_connectors
from caseline.connectors.zendesk import Zendesk
from caseline.errors import ConfigError
from tests.connectors.test_sync import Fake


def _with_entry_points(monkeypatch: pytest.MonkeyPatch, *points: EntryPoint) -> None:
    def fake(group: str) -> list[EntryPoint]:
        assert group == "caseline.connectors"
        return list(points)

    monkeypatch.setattr(registry, "entry_points", fake)


def test_builtins_are_registered_under_their_names() -> None:
    assert CONNECTORS["zendesk"] is Zendesk
    assert all(cls.name == name for name, cls in CONNECTORS.items())


def test_entry_point_connector_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    _with_entry_points(monkeypatch, EntryPoint("alpha", "tests.connectors.test_sync:Fake", "caseline.connectors"))
    assert load_connectors()["alpha"] is Fake


@pytest.mark.parametrize(
    ("point", "message"),
    [
        (EntryPoint("alpha", "no_such_module_xyz:Thing", "caseline.connectors"),
         "connector 'alpha' failed to load from entry point no_such_module_xyz:Thing: ModuleNotFoundError"),
        (EntryPoint("beta", "tests.connectors.test_sync:Fake", "caseline.connectors"),
         "connector 'beta' (entry point tests.connectors.test_sync:Fake) declares name 'alpha'"),
        (EntryPoint("gamma", "tests.connectors.test_registry:NOT_A_CONNECTOR", "caseline.connectors"),
         "is not a caseline Connector class"),
        (EntryPoint("zendesk", "tests.connectors.test_sync:Fake", "caseline.connectors"),
         "clashes with a built-in one"),
    ],
    ids=["import-error", "wrong-name", "not-a-connector", "clash"],
)  # fmt: skip
def test_bad_entry_points_are_clear_errors(monkeypatch: pytest.MonkeyPatch, point: EntryPoint, message: str) -> None:
    _with_entry_points(monkeypatch, point)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_connectors()


NOT_A_CONNECTOR: Any = object()
