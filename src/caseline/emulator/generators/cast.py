"""The cast every generated vendor shares: companies with domains, their people, agents and incidents.

Drawing it once (from its own random stream) makes the same customer appear in Zendesk, Intercom and
HubSpot, and makes several customers report the same symptom within hours, as in a real incident.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Cast", "Company", "Person", "make_cast"]

_FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Elif",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Luca",
    "Maya",
    "Nils",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
]
_LAST = [
    "Alvarez",
    "Brown",
    "Chen",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Okafor",
    "Patel",
]
_COMPANY_A = [
    "Acme",
    "Blue",
    "Cedar",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Harbor",
    "Ion",
    "Juniper",
    "Kite",
    "Lumen",
    "Maple",
    "Nova",
    "Orbit",
    "Pine",
]
_COMPANY_B = [
    "Robotics",
    "Logistics",
    "Health",
    "Analytics",
    "Foods",
    "Labs",
    "Energy",
    "Retail",
    "Media",
    "Finance",
    "Travel",
    "Systems",
]
_FREE_MAIL = ["gmail.com", "outlook.com", "yahoo.com"]
_PLANS = ["starter", "growth", "enterprise"]
_INCIDENTS = [
    "Checkout fails with 502 Bad Gateway",
    "Login page times out after SSO redirect",
    "Webhooks delayed by several hours",
    "CSV export returns an empty file",
]
_ROUTINE = [
    "How do I add a teammate?",
    "Please update our invoice address",
    "Feature request: dark mode for the dashboard",
    "Password reset email not received",
    "How do we rotate an API token?",
    "Question about SSO setup",
    "Upgrade to the annual plan",
    "Data retention policy question",
]
MAX_COMPANIES = len(_COMPANY_A) * len(_COMPANY_B)


@dataclass(frozen=True)
class Company:
    name: str
    domain: str
    plan: str


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    company: int | None  # index into Cast.companies; None for free-mail customers and agents


@dataclass
class Cast:
    """Who exists and when things happen."""

    now: datetime
    companies: list[Company]
    customers: list[Person]
    agents: list[Person]
    incidents: list[tuple[str, datetime]]  # (symptom, start)
    jira_keys: list[str]  # issue keys mentioned in replies and notes (cross-tool links)

    def topic(self, rng: random.Random) -> tuple[str, datetime]:
        """A subject and creation time: about a third fall in an incident window, the rest are routine."""
        if self.incidents and rng.random() < 0.35:
            symptom, start = rng.choice(self.incidents)
            return symptom, start + timedelta(minutes=rng.randint(0, 360))
        return rng.choice(_ROUTINE), self.now - timedelta(seconds=rng.randint(3600, 30 * 86400))

    def later(self, rng: random.Random, start: datetime, max_hours: int = 72) -> datetime:
        """A time up to `max_hours` after `start`, never after now."""
        room = int(min(max_hours * 3600, (self.now - start).total_seconds()))
        return start + timedelta(seconds=rng.randint(min(60, room), room)) if room > 0 else self.now

    def ago(self, rng: random.Random, min_days: int, max_days: int) -> datetime:
        return self.now - timedelta(days=rng.randint(min_days, max_days), seconds=rng.randint(0, 86399))

    def reply(self, rng: random.Random) -> str:
        return rng.choice(
            [
                "Thanks, we are looking into it.",
                "Still happening on our side.",
                f"Tracked in {rng.choice(self.jira_keys)}.",
                "Could you send a screenshot and the request id?",
                "Engineering confirmed a fix is rolling out.",
                "It works again, thanks!",
            ]
        )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def _person(rng: random.Random, domain: str, company: int | None, suffix: str = "") -> Person:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    return Person(f"{first} {last}", f"{first}.{last}{suffix}@{domain}".lower(), company)


def make_cast(seed: int, now: datetime, companies: int) -> Cast:
    if not 1 <= companies <= MAX_COMPANIES:
        raise ValueError(f"companies must be between 1 and {MAX_COMPANIES}")
    rng = random.Random(f"{seed}:cast")
    names = rng.sample([f"{a} {b}" for a in _COMPANY_A for b in _COMPANY_B], companies)
    firms = [Company(name, f"{_slug(name)}.{rng.choice(['com', 'io', 'co'])}", rng.choice(_PLANS)) for name in names]
    customers = [_person(rng, firm.domain, i) for i, firm in enumerate(firms) for _ in range(rng.randint(2, 5))]
    customers += [
        _person(rng, rng.choice(_FREE_MAIL), None, str(rng.randint(1, 99))) for _ in range(companies // 3 + 2)
    ]
    customers = list(dict.fromkeys(customers))  # the same name can be drawn twice in one company
    agents = list(dict.fromkeys(_person(rng, "support.example.com", None) for _ in range(3)))
    incidents = [
        (symptom, now - timedelta(days=rng.randint(1, 20), hours=rng.randint(0, 23)))
        for symptom in rng.sample(_INCIDENTS, 2)
    ]
    jira_keys = [f"OPS-{rng.randint(100, 999)}" for _ in incidents]
    return Cast(now, firms, customers, agents, incidents, jira_keys)
