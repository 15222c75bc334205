"""A vendor file declares, the shared layer acts: vendor modules never import HTTP, retry, sleep or store code."""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

import pytest

from caseline.connectors import CONNECTORS

SHARED_LAYER = {"__init__", "auth", "base", "budget", "http", "paging", "retry", "sync"}
BANNED = ("httpx", "tenacity", "asyncio", "time", "caseline.store", "sqlalchemy", "sqlmodel")


def _vendor_files() -> list[Path]:
    """Each registered built-in connector's file, plus its `<vendor>_map.py` split-off if any."""
    files = set()
    for cls in CONNECTORS.values():
        if cls.__module__.startswith("caseline.connectors."):
            path = Path(inspect.getfile(sys.modules[cls.__module__]))
            files.add(path)
            files.update(path.parent.glob(f"{path.stem}_*.py"))
    return sorted(f for f in files if f.stem not in SHARED_LAYER)


@pytest.mark.parametrize("path", _vendor_files(), ids=lambda p: p.name)
def test_vendor_module_imports_only_the_shared_layer(path: Path) -> None:
    imported: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.append(node.module)
    bad = [name for name in imported if any(name == b or name.startswith(b + ".") for b in BANNED)]
    assert not bad, f"{path.name} imports {bad}: use VendorClient / the runner instead"
