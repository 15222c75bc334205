"""Auth classes put the right header on the request and never show the secret in repr."""

from __future__ import annotations

import base64

import httpx
import pytest
from pydantic import SecretStr

from caseline.connectors.auth import Basic, Bearer, BearerOrRaw, EmailToken

TOKEN = "tok-9f8e7d6c5b4a"


def _header(auth: httpx.Auth) -> str:
    request = httpx.Request("GET", "https://example.test/x")
    flow = auth.sync_auth_flow(request)
    return next(flow).headers["Authorization"]


def _basic(header: str) -> str:
    scheme, _, value = header.partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(value).decode()


def test_bearer_header() -> None:
    assert _header(Bearer(SecretStr(TOKEN))) == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("token", "expected"),
    [("lin_api_abc123", "lin_api_abc123"), ("oauth-token-xyz", "Bearer oauth-token-xyz")],
)
def test_linear_api_keys_go_without_bearer(token: str, expected: str) -> None:
    assert _header(BearerOrRaw(token)) == expected


def test_zendesk_email_token_basic() -> None:
    assert _basic(_header(EmailToken("ops@acme.com", SecretStr(TOKEN)))) == f"ops@acme.com/token:{TOKEN}"


def test_jira_basic() -> None:
    assert _basic(_header(Basic("ops@acme.com", TOKEN))) == f"ops@acme.com:{TOKEN}"


@pytest.mark.parametrize(
    "auth",
    [Bearer(TOKEN), BearerOrRaw(TOKEN), Basic("ops@acme.com", TOKEN), EmailToken("ops@acme.com", TOKEN)],
    ids=lambda a: type(a).__name__,
)
def test_repr_redacts(auth: httpx.Auth) -> None:
    assert TOKEN not in repr(auth)
    assert TOKEN not in str(vars(auth))
    assert "***" in repr(auth)
