"""`${NAME}` expansion in every string value, with errors that name the variable and the key."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from caseline.errors import ConfigError

__all__ = ["interpolate"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def interpolate(value: Any, *, env: Mapping[str, str] | None = None, path: str = "") -> Any:
    """Return `value` with `${NAME}` replaced from `env` (default: the process environment)."""
    environ = os.environ if env is None else env
    if isinstance(value, str):

        def _replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                where = f" (in {path})" if path else ""
                raise ConfigError(f"config: missing environment variable {name}{where}")
            return environ[name]

        return _VAR.sub(_replace, value)
    if isinstance(value, dict):
        return {k: interpolate(v, env=environ, path=f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env=environ, path=f"{path}[{i}]") for i, v in enumerate(value)]
    return value
