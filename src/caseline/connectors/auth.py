"""httpx.Auth classes for the vendors: the secret stays a SecretStr until the header is set.

Every class redacts itself in `repr`, so an auth object that ends up in a log line, a traceback or a
debugger never shows the token.
"""

from __future__ import annotations

import base64
from collections.abc import Generator

import httpx
from pydantic import SecretStr

__all__ = ["Basic", "Bearer", "BearerOrRaw", "EmailToken"]

_REDACTED = "**********"


def _secret(value: SecretStr | str) -> SecretStr:
    return value if isinstance(value, SecretStr) else SecretStr(value)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class Bearer(httpx.Auth):
    """`Authorization: Bearer <token>` (Intercom, Slack, HubSpot, OAuth tokens anywhere)."""

    def __init__(self, token: SecretStr | str) -> None:
        self._token = _secret(token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token={_REDACTED!r})"


class BearerOrRaw(Bearer):
    """Linear: personal API keys (`lin_api_…`) go without `Bearer`, OAuth tokens with it.

    https://linear.app/developers/graphql#authentication
    """

    RAW_PREFIX = "lin_api_"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._token.get_secret_value()
        request.headers["Authorization"] = token if token.startswith(self.RAW_PREFIX) else f"Bearer {token}"
        yield request


class Basic(httpx.Auth):
    """HTTP Basic `user:password` (Jira Cloud: account email and API token)."""

    def __init__(self, user: str, password: SecretStr | str) -> None:
        self._user = user
        self._password = _secret(password)

    def _credentials(self) -> tuple[str, str]:
        return self._user, self._password.get_secret_value()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = _basic(*self._credentials())
        yield request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(user={self._user!r}, password={_REDACTED!r})"


class EmailToken(Basic):
    """Zendesk API token auth: Basic with `{email}/token` as user and the token as password.

    https://developer.zendesk.com/api-reference/introduction/security-and-auth/#api-token
    """

    def __init__(self, email: str, token: SecretStr | str) -> None:
        super().__init__(email, token)

    def _credentials(self) -> tuple[str, str]:
        return f"{self._user}/token", self._password.get_secret_value()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(email={self._user!r}, token={_REDACTED!r})"
