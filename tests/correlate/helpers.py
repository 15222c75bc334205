"""Builders for correlation tests: evidence from every tool, at given minutes past a fixed start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from caseline.config.models import AlertSettings, CorrelateSettings, Settings
from caseline.evidence import Evidence, Person

T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)

EXPORT = [
    "CSV export fails with error 500 when exporting the report",
    "Export to CSV fails with a 500 error for our report",
    "CSV export of the report fails with error 500",
    "Exporting the report to CSV fails, error 500",
    "Report CSV export fails with 500 error",
    "csv export fails with error 500 on every report",
]
LOGIN = [
    "SSO login broken, users cannot sign in with Okta SAML",
    "Users cannot sign in with SSO, Okta SAML login broken",
    "Okta SAML SSO login broken for our users",
    "SAML SSO sign in broken, users cannot login via Okta",
    "Our users cannot sign in, Okta SSO SAML login is broken",
]
INVITE = [
    "How do I invite a new user to our workspace?",
    "How can I invite a new user to the workspace?",
    "Question: how do I invite a user to our workspace",
    "How to invite a new user into our workspace?",
]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ticket(native: int | str, text: str, minutes: float, account: str | None, *, source: str = "zendesk",
           email: str | None = None, **extra: object) -> Evidence:
    kind = "conversation" if source == "intercom" else "ticket"
    who = Person(name="Pat", email=email or (f"pat@{account}" if account else None))
    return Evidence.model_validate({
        "id": f"{source}:{kind}:{native}", "title": text, "body": text, "account": account, "author": who,
        "created_at": at(minutes), **extra,
    })


def slack(ts: float, text: str, minutes: float, links: list[str] | None = None) -> Evidence:
    return Evidence(id=f"slack:message:C1:{ts:.6f}", source="slack", kind="message", native_id=f"C1:{ts:.6f}",
                    body=text, created_at=at(minutes), updated_at=at(minutes), links=links or [])


def issue(source: str, key: str, text: str, minutes: float, links: list[str]) -> Evidence:
    return Evidence(id=f"{source}:issue:{key}", source=source, kind="issue", native_id=key, title=text, body=text,
                    created_at=at(minutes), updated_at=at(minutes), links=links)


def settings(**correlate: object) -> Settings:
    return Settings(correlate=CorrelateSettings(**correlate), alerts=AlertSettings(min_reports=3, min_accounts=3))


def burst(texts: list[str], start: float, accounts: list[str], *, first_id: int, step: float = 7.0,
          source: str = "zendesk") -> list[Evidence]:
    """One report per account, every `step` minutes, cycling through paraphrases."""
    return [ticket(first_id + k, texts[k % len(texts)], start + step * k, acct, source=source)
            for k, acct in enumerate(accounts)]
