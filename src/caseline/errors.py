"""The exception tree, and the exit codes the CLI maps it to.

    CaselineError                 exit 1: the work failed in part or whole
    ├── ConfigError               exit 2: bad usage or configuration, found before any work
    ├── CredentialsError          a source rejected its credentials (401/403); never retried
    ├── VendorError               a vendor answered with an error we do not retry (or ran out of retries)
    │   └── RateLimitExhausted    a quota that retrying cannot fix now (HubSpot DAILY)
    ├── MalformedItem             one payload item could not be mapped; counted, never fatal to a sync
    ├── ImportLineError           one line of an import file is bad
    ├── NotFound                  an unknown incident or evidence id
    └── LockHeld                  another `caseline run` works on this store

Messages are one line and name the thing (vendor, method, path, status, config key); they never
contain a secret. Only `cli.py` turns these into stderr lines and exit codes.
"""

from __future__ import annotations

__all__ = [
    "CaselineError",
    "ConfigError",
    "CredentialsError",
    "ImportLineError",
    "LockHeld",
    "MalformedItem",
    "NotFound",
    "RateLimitExhausted",
    "VendorError",
]


class CaselineError(Exception):
    """Base of every error caseline raises on purpose."""

    exit_code = 1


class ConfigError(CaselineError):
    """Bad configuration or usage, detected before any work."""

    exit_code = 2


class CredentialsError(CaselineError):
    """A source answered 401/403: its credentials key is named, its value never."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source


class VendorError(CaselineError):
    """A vendor request failed for good; the message names vendor, method, path and status."""

    def __init__(self, message: str, *, source: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.status = status


class RateLimitExhausted(VendorError):
    """A quota that retrying will not fix within this run (e.g. HubSpot's daily limit)."""


class MalformedItem(CaselineError):
    """One vendor item that cannot be mapped; the runner counts it and goes on."""


class ImportLineError(CaselineError):
    """One bad line of an import file."""


class NotFound(CaselineError):
    """An unknown incident or evidence id."""


class LockHeld(CaselineError):
    """Another scheduled job holds the store's lock."""
