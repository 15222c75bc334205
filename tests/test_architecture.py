"""The folders show the architecture, and data flows one way:
connectors → store → correlate → timeline → export/alerts. Nothing imports upward, and vendor files
declare while the shared layer acts (no httpx, tenacity, asyncio.sleep or store in a vendor file)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "caseline"

# Each layer may import the layers to its left (and the foundation), never those to its right.
LAYERS = ["connectors", "store", "correlate", "timeline", "alerts"]
FOUNDATION = {"errors", "timeparse", "evidence", "incident", "text", "config"}
VENDOR_FILES = {"zendesk", "intercom", "hubspot", "slack", "jira", "linear"}
VENDOR_BANNED = ("httpx", "tenacity", "caseline.store", "asyncio.sleep")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) > 1 and parts[0] == "caseline":
        return parts[1]
    return None


@pytest.mark.parametrize("layer", LAYERS)
def test_no_layer_imports_a_later_one(layer: str) -> None:
    later = set(LAYERS[LAYERS.index(layer) + 1 :])
    folder = SRC / layer
    if not folder.exists():
        pytest.skip(f"{layer}/ not built yet")
    offenders = []
    for path in folder.rglob("*.py"):
        for module in _imports(path):
            target = _layer_of(module)
            # the store persists incidents and alert state, so it may know the incident model only
            if target in later or target in {"cli", "commands", "schedule", "demo"}:
                offenders.append(f"{path.relative_to(SRC)} imports {module}")
    assert offenders == []


def test_foundation_imports_no_layer() -> None:
    offenders = []
    for name in FOUNDATION:
        paths = [SRC / f"{name}.py"] if (SRC / f"{name}.py").exists() else list((SRC / name).rglob("*.py"))
        for path in paths:
            for module in _imports(path):
                target = _layer_of(module)
                if target in LAYERS and not (name == "config" and target == "connectors"):
                    offenders.append(f"{path.relative_to(SRC)} imports {module}")
    assert offenders == []


def test_vendor_files_declare_and_the_shared_layer_acts() -> None:
    offenders = []
    for path in (SRC / "connectors").glob("*.py"):
        if path.stem.split("_")[0] not in VENDOR_FILES:
            continue
        for module in _imports(path):
            if any(module == b or module.startswith(b + ".") for b in VENDOR_BANNED):
                offenders.append(f"{path.name} imports {module}")
        source = path.read_text(encoding="utf-8")
        if "asyncio.sleep" in source:
            offenders.append(f"{path.name} sleeps by itself")
    assert offenders == []


def test_vendor_connectors_stay_small() -> None:
    too_big = {
        p.name: n
        for p in (SRC / "connectors").glob("*.py")
        if p.stem in VENDOR_FILES and (n := len(p.read_text(encoding="utf-8").splitlines())) > 300
    }
    assert too_big == {}


def test_the_cli_imports_its_command_modules_where_tools_can_see_it() -> None:
    """Plain imports (not `__import__` strings): this file's checks, ruff and mypy all follow them."""
    commands = {f"caseline.commands.{p.stem}" for p in (SRC / "commands").glob("*.py") if p.stem != "__init__"}
    assert commands and commands <= _imports(SRC / "cli.py")
    assert "__import__(" not in (SRC / "cli.py").read_text(encoding="utf-8")
