"""Account resolution: which customer account each report belongs to (contract: the key is a domain).

In order: the tool's own org/company id (`evidence.account_ref` matched to an Account's `external_ids`),
then the reporter's email domain matched to a company's domains (sub-domains too), then the `[accounts]`
aliases, then the reporter's business domain itself. Free-mail domains (gmail.com, …) never form or join an
account, so two strangers on gmail.com never count as one customer.

`resolve` is pure; `resolve_all` runs after each sync and rewrites only the keys that changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from caseline.evidence import Account, Evidence

__all__ = [
    "FREE_MAIL_DOMAINS",
    "Directory",
    "domain_of",
    "is_free_mail",
    "resolve",
    "resolve_all",
    "resolve_fields",
]

# Consumer mailbox providers: a reporter on one of these says nothing about their employer.
# fmt: off
FREE_MAIL_DOMAINS: frozenset[str] = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "passport.com",
    "yahoo.com", "ymail.com", "rocketmail.com", "icloud.com", "me.com", "mac.com", "aol.com", "aim.com",
    "proton.me", "protonmail.com", "protonmail.ch", "pm.me", "tutanota.com", "tuta.io", "zoho.com",
    "zohomail.com", "mail.com", "email.com", "inbox.com", "gmx.com", "gmx.net", "gmx.de", "web.de",
    "t-online.de", "freenet.de", "mail.ru", "inbox.ru", "list.ru", "bk.ru", "yandex.com", "yandex.ru",
    "ya.ru", "rambler.ru", "qq.com", "163.com", "126.com", "yeah.net", "sina.com", "naver.com",
    "hanmail.net", "daum.net", "rediffmail.com", "fastmail.com", "fastmail.fm", "hey.com", "duck.com",
    "mailbox.org", "posteo.de", "orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "libero.it",
    "virgilio.it", "seznam.cz", "wp.pl", "o2.pl", "interia.pl", "btinternet.com", "sky.com",
    "comcast.net", "verizon.net", "att.net", "sbcglobal.net", "bellsouth.net", "cox.net", "shaw.ca",
    "rogers.com", "bigpond.com", "optusnet.com.au", "uol.com.br", "bol.com.br", "terra.com.br",
})
# fmt: on
# Providers with a domain per country (gmx.at, yahoo.co.uk, hotmail.fr, yandex.kz, …).
_FREE_MAIL_FAMILIES = re.compile(r"^(?:gmx|yahoo|hotmail|outlook|live|yandex|aol|web|mail)\.[a-z.]{2,6}$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def domain_of(value: object) -> str | None:
    """A bare lowercase domain from an email, URL, host or domain (`https://www.Acme.com/x` → `acme.com`)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().lower()
    if "@" in text and "://" not in text:
        text = text.rsplit("@", 1)[1]
    if "://" in text or "/" in text:
        try:
            text = urlsplit(text if "://" in text else f"//{text}").hostname or ""
        except ValueError:
            return None
    text = text.strip().rstrip(".")
    text = text.removeprefix("www.")
    labels = text.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        return None
    return text


def is_free_mail(domain: str, extra: Iterable[str] = ()) -> bool:
    """Whether `domain` is a consumer mailbox provider (built-in list, families, and `extra`)."""
    return domain in FREE_MAIL_DOMAINS or domain in set(extra) or bool(_FREE_MAIL_FAMILIES.match(domain))


@dataclass(frozen=True)
class Directory:
    """The lookup tables resolution needs, built once per run from the stored accounts and the config."""

    by_ref: Mapping[str, str] = field(default_factory=dict)
    by_domain: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    free_mail: frozenset[str] = FREE_MAIL_DOMAINS

    @classmethod
    def build(cls, accounts: Iterable[Account], settings: Any = None) -> Directory:
        """`settings` is the `[accounts]` table (AccountsSettings) or the whole Settings, or None."""
        accounts_settings = getattr(settings, "accounts", settings)
        extra = {d for d in (domain_of(x) for x in getattr(accounts_settings, "free_mail_domains", ()) or ()) if d}
        free = FREE_MAIL_DOMAINS | extra
        by_ref: dict[str, str] = {}
        by_domain: dict[str, str] = {}
        for account in accounts:
            if is_free_mail(account.key, free):
                continue  # a "company" on gmail.com would merge every gmail customer
            for ref in account.external_ids:
                by_ref.setdefault(ref, account.key)
            for domain in (account.key, *account.domains):
                if (d := domain_of(domain)) and not is_free_mail(d, free):
                    by_domain.setdefault(d, account.key)
        aliases: dict[str, str] = {}
        for key, alias_domains in (getattr(accounts_settings, "aliases", None) or {}).items():
            for alias in (key, *alias_domains):
                if d := domain_of(alias):
                    aliases.setdefault(d, key.strip().lower())
        return cls(by_ref, by_domain, aliases, free)

    def _lookup(self, table: Mapping[str, str], domain: str) -> str | None:
        """`domain` or its closest parent domain (eu.acme.com → acme.com) in `table`."""
        labels = domain.split(".")
        for start in range(len(labels) - 1):
            if (key := table.get(".".join(labels[start:]))) is not None:
                return key
        return None

    def for_fields(self, account_ref: str | None, email: str | None) -> str | None:
        if account_ref and (key := self.by_ref.get(account_ref)):
            return key
        domain = domain_of(email) if email and "@" in email else None
        if domain is None or is_free_mail(domain, self.free_mail):
            return None
        return self._lookup(self.by_domain, domain) or self._lookup(self.aliases, domain) or domain


def resolve_fields(account_ref: str | None, email: str | None, directory: Directory) -> str | None:
    """The account key for an org/company ref and a reporter email; None when neither identifies one."""
    return directory.for_fields(account_ref, email)


def resolve(evidence: Evidence, directory: Directory) -> str | None:
    """The account key of one evidence item (pure)."""
    return directory.for_fields(evidence.account_ref, evidence.author.email if evidence.author else None)


class _AccountStore(Protocol):
    def accounts(self) -> list[Account]: ...

    def account_inputs(self) -> list[tuple[str, str, str | None, str | None, str | None]]: ...

    def set_accounts(self, assignments: dict[str, str | None]) -> int: ...


def resolve_all(store: _AccountStore, settings: Any = None) -> int:
    """Re-resolve every stored item's account from its columns and write the ones that changed.

    Items from sources caseline syncs always get the derived key. Items from elsewhere (`caseline import`
    under another source name) keep an account they were given; only a missing one is filled in.
    """
    from caseline.connectors import CONNECTORS

    directory = Directory.build(store.accounts(), settings)
    changes: dict[str, str | None] = {}
    for evidence_id, source, current, account_ref, email in store.account_inputs():
        if current is not None and source not in CONNECTORS:
            continue
        key = directory.for_fields(account_ref, email)
        if key != current:
            changes[evidence_id] = key
    return store.set_accounts(changes)
