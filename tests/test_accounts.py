"""Account resolution: org/company ids first, then company domains, then aliases, then the business domain;
free-mail never forms an account; `resolve_all` rewrites only what changed; HubSpot plan/ARR reach the account."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from caseline.accounts import Directory, domain_of, is_free_mail, resolve, resolve_all
from caseline.config import AccountsSettings, parse_settings
from caseline.connectors.hubspot import HubSpot, HubSpotSettings
from caseline.connectors.sync import default_account_resolver
from caseline.evidence import Account, Evidence, Person
from caseline.store import Store

ACME = Account(key="acme.com", name="Acme", domains=["acme.com", "acme-corp.com"],
               external_ids=["zendesk:organization:1", "hubspot:company:11"])  # fmt: skip
GLOBEX = Account(key="globex.com", name="Globex", domains=["globex.com"], external_ids=["intercom:company:g1"])


def _evidence(
    n: int, email: str | None = None, ref: str | None = None, source: str = "zendesk", **extra: Any
) -> Evidence:
    kind = "ticket" if source != "intercom" else "conversation"
    return Evidence(id=f"{source}:{kind}:{n}", title=f"report {n}", author=Person(email=email) if email else None,
                    account_ref=ref, created_at="2026-03-01T09:00:00Z", **extra)  # fmt: skip


@pytest.fixture
def directory() -> Directory:
    settings = AccountsSettings(aliases={"Initech.com": ["initech.co.uk", "INITECH-corp.com"]})
    return Directory.build([ACME, GLOBEX], settings)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://www.Acme.com/about", "acme.com"),
        ("bob@Mail.ACME.com", "mail.acme.com"),
        ("acme.com.", "acme.com"),
        ("globex.co.uk", "globex.co.uk"),
        ("localhost", None),
        ("bob@localhost", None),
        ("10.0.0.1", None),
        ("not a domain", None),
        ("", None),
        (None, None),
    ],
)
def test_domain_of(value: Any, expected: str | None) -> None:
    assert domain_of(value) == expected


def test_free_mail_domains() -> None:
    for domain in ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "proton.me", "aol.com",
                   "gmx.de", "gmx.at", "mail.ru", "yandex.ru", "yandex.kz", "yahoo.co.uk", "hotmail.fr"):  # fmt: skip
        assert is_free_mail(domain), domain
    for domain in ("acme.com", "gmxsolutions.com", "mailchimp.com", "yahoo.acme.com"):
        assert not is_free_mail(domain), domain
    assert is_free_mail("corp-mail.example", ["corp-mail.example"])


def test_org_id_beats_the_email_domain(directory: Directory) -> None:
    # filed by someone at globex.com, but through Acme's Zendesk organization: Acme's account
    assert resolve(_evidence(1, "bob@globex.com", "zendesk:organization:1"), directory) == "acme.com"
    assert resolve(_evidence(2, "bob@globex.com", "hubspot:company:11"), directory) == "acme.com"
    # an id nobody knows falls through to the email
    assert resolve(_evidence(3, "bob@globex.com", "zendesk:organization:404"), directory) == "globex.com"


def test_email_domain_matches_company_domains(directory: Directory) -> None:
    assert resolve(_evidence(1, "ann@acme-corp.com"), directory) == "acme.com"  # a secondary domain
    assert resolve(_evidence(2, "ann@eu.ACME.com"), directory) == "acme.com"  # a sub-domain
    assert resolve(_evidence(3, "ann@globex.com"), directory) == "globex.com"


def test_free_mail_never_forms_an_account(directory: Directory) -> None:
    for email in ("joe@gmail.com", "joe@GMX.net", "joe@yahoo.co.uk", "joe@proton.me"):
        assert resolve(_evidence(1, email), directory) is None, email
    # not even when a CRM record carries a free-mail domain
    webmail = Account(key="gmail.com", name="Joe's Bakery", domains=["gmail.com"], external_ids=["hubspot:company:9"])
    tainted = Directory.build([webmail], None)
    assert resolve(_evidence(2, "amy@gmail.com"), tainted) is None
    assert resolve(_evidence(3, None, "hubspot:company:9"), tainted) is None
    # the config adds its own
    extra = Directory.build([], AccountsSettings(free_mail_domains=["Corp-Mail.example"]))
    assert resolve(_evidence(4, "x@corp-mail.example"), extra) is None


def test_aliases_then_the_business_domain(directory: Directory) -> None:
    assert resolve(_evidence(1, "kim@initech.co.uk"), directory) == "initech.com"
    assert resolve(_evidence(2, "kim@initech-corp.com"), directory) == "initech.com"
    assert resolve(_evidence(3, "kim@initech.com"), directory) == "initech.com"
    # no company, no alias: the reporter's own business domain is the key (contract: the primary domain)
    assert resolve(_evidence(4, "lee@Umbrella.io"), directory) == "umbrella.io"
    assert resolve(_evidence(5), directory) is None  # nothing to go on


def test_company_domains_win_over_aliases() -> None:
    settings = AccountsSettings(aliases={"acme-holdings.com": ["acme-corp.com"]})
    assert resolve(_evidence(1, "a@acme-corp.com"), Directory.build([ACME], settings)) == "acme.com"


def test_sync_runner_calls_resolve_all_with_store_and_settings() -> None:
    assert default_account_resolver() is resolve_all
    assert list(inspect.signature(resolve_all).parameters) == ["store", "settings"]


def test_resolve_all_writes_only_changes(store: Store) -> None:
    store.upsert_accounts([ACME, GLOBEX])
    items = [
        _evidence(1, "bob@globex.com", "zendesk:organization:1"),
        _evidence(2, "ann@globex.com"),
        _evidence(3, "joe@gmail.com"),
        _evidence(4, "kim@initech.co.uk", source="intercom"),
        _evidence(5, "pat@initech.co.uk", source="legacy", account="chosen-by-import.com"),  # explicit, imported
        _evidence(6, "sam@initech.co.uk", source="legacy"),
    ]
    store.upsert_evidence(items)
    settings = parse_settings({"accounts": {"aliases": {"initech.com": ["initech.co.uk"]}}})
    assert resolve_all(store, settings) == 4
    got = {e.id: e.account for e in store.query_evidence(include_deleted=True)}
    assert got == {
        "zendesk:ticket:1": "acme.com",
        "zendesk:ticket:2": "globex.com",
        "zendesk:ticket:3": None,
        "intercom:conversation:4": "initech.com",
        "legacy:ticket:5": "chosen-by-import.com",
        "legacy:ticket:6": "initech.com",
    }
    assert resolve_all(store, settings) == 0  # nothing changed, nothing written

    # a new company record moves the reports it claims; the next sync's re-delivery keeps the key
    store.upsert_accounts([Account(key="initech.com", domains=["initech.com", "initech.co.uk"],
                                   external_ids=["intercom:company:i1"])])  # fmt: skip
    store.upsert_evidence([_evidence(2, "ann@globex.com", "intercom:company:i1")])  # re-mapped: account_ref now
    assert resolve_all(store, parse_settings({})) == 1
    assert store.get_evidence("zendesk:ticket:2").account == "initech.com"  # type: ignore[union-attr]
    assert store.get_evidence("intercom:conversation:4").account == "initech.com"  # type: ignore[union-attr]


def test_hubspot_plan_and_arr_flow_into_the_account(store: Store) -> None:
    hubspot = HubSpot(HubSpotSettings(base_url="https://api.hubapi.com", token="t", plan_property="plan_tier"))
    company = {"id": "11", "properties": {"name": "Acme Inc", "domain": "ACME.com", "hs_additional_domains": "acme.de",
                                          "plan_tier": "enterprise", "annualrevenue": "250000"}}  # fmt: skip
    ticket = {"id": "5", "properties": {"subject": "Checkout down", "createdate": "2026-03-01T09:00:00Z"}}
    zendesk_org = Account(key="acme.com", name="Acme (support)", domains=["acme.com"],
                          external_ids=["zendesk:organization:1"])  # fmt: skip
    store.save_page(source="zendesk", stream="tickets", items=[zendesk_org], cursor=None)
    models = [hubspot.map({"company": company}),
              hubspot.map({"ticket": ticket, "companies": ["11"], "contacts": [{"email": "x@gmail.com"}]})]  # fmt: skip
    store.save_page(source="hubspot", stream="tickets", items=[m for m in models if m is not None], cursor=None)
    resolve_all(store, parse_settings({}))
    account = store.account("acme.com")
    assert account is not None and account.plan == "enterprise" and account.arr == 250000.0
    assert account.domains == ["acme.com", "acme.de"] and account.name == "Acme Inc"
    assert account.external_ids == ["hubspot:company:11", "zendesk:organization:1"]
    # the reporter wrote from gmail, but the ticket is associated with the company
    assert store.get_evidence("hubspot:ticket:5").account == "acme.com"  # type: ignore[union-attr]
