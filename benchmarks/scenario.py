"""A labeled correlation scenario: real-looking support traffic from all six tools, with the truth.

`generate(seed)` returns evidence (Evidence objects, no HTTP), accounts and labels (evidence id →
incident name, or None for everything that is not part of an incident). What it holds:

- several incidents, each reported by many accounts in paraphrases (titles and sentences from a pool,
  typos, greetings, quoted replies, signatures), through Zendesk tickets, Intercom conversations and
  HubSpot tickets, with context: a Jira issue linking some tickets, sometimes a Linear issue linking the
  Jira issue, Slack messages (one naming a ticket), a HubSpot CSM note;
- one long outage reported every half hour or so for six hours, and two incidents at overlapping times;
- plentiful noise: one-off questions and bugs, Slack chatter, unrelated Jira/Linear issues (some linked to
  a single ticket), CSM notes;
- routine questions that recur daily over the whole history ("how do I invite a user?", "question about
  our invoice", "how do I export my data?"), some days five or more on one afternoon;
- hard negatives: one account repeating a look-alike problem many times in a few hours, and vague
  messages and reports ("anyone else seeing errors?") while two incidents overlap.

Run it to print a summary: `python benchmarks/scenario.py --seed 1`.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from caseline.evidence import Account, Evidence, Person

__all__ = ["THEMES", "Scenario", "generate"]

START = datetime(2026, 2, 1, tzinfo=UTC)

# ---- text pools ------------------------------------------------------------------------------------
THEMES: dict[str, dict[str, list[str]]] = {
    "export": {
        "titles": [
            "CSV export failing",
            "Export to CSV returns 500",
            "Can't export report to CSV",
            "Report export broken",
            "Error when exporting data",
            "CSV download not working",
            "Exports failing since this morning",
        ],
        "lines": [
            "When I click Export CSV I get a 500 error.",
            "The export spinner runs forever and then shows Internal Server Error.",
            "Our scheduled CSV exports did not arrive this morning.",
            "Exporting the monthly report to CSV fails every time.",
            "Download as CSV gives an error page.",
            "The CSV export button returns something went wrong.",
        ],
        "eng": ["CSV export endpoint returning 500", "Export worker crashing on large reports"],
    },
    "sso": {
        "titles": [
            "SSO login failing",
            "Can't sign in with SAML",
            "Okta SSO login error",
            "Single sign-on broken",
            "SAML error on login",
            "Users locked out, SSO not working",
        ],
        "lines": [
            "Our users get a SAML error when signing in through Okta.",
            "SSO login redirects back to the login page in a loop.",
            "Nobody on our team can log in with single sign-on since this morning.",
            "We see Invalid SAML response after authenticating with SSO.",
            "Signing in with Azure AD SSO fails with an error on your side.",
        ],
        "eng": ["SAML assertion validation failing after cert rotation", "SSO callback returns 500"],
    },
    "webhooks": {
        "titles": [
            "Webhooks delayed",
            "Webhook events not arriving",
            "Missing webhook callbacks",
            "Webhooks stopped firing",
            "Integration not receiving webhooks",
        ],
        "lines": [
            "Our endpoint has not received any webhook events for the last hour.",
            "Webhook deliveries are delayed by 40 minutes or more.",
            "The order.created webhook stopped firing.",
            "Webhook callbacks to our integration are missing since noon.",
        ],
        "eng": ["Webhook delivery queue backed up", "Webhook dispatcher stalled"],
    },
    "dashboard": {
        "titles": [
            "Dashboard not loading",
            "Blank dashboard",
            "Dashboard stuck on spinner",
            "Home dashboard won't load",
            "Dashboard shows a blank page",
        ],
        "lines": [
            "The dashboard just shows a spinner and never loads.",
            "After login the dashboard page is completely blank.",
            "Our dashboards will not load for anyone in the team.",
            "Dashboard widgets are empty and the page hangs.",
        ],
        "eng": ["Dashboard API timing out", "Dashboard bundle fails to load"],
    },
    "email": {
        "titles": [
            "Notification emails not sent",
            "Emails not being delivered",
            "Users not receiving notification emails",
            "No email notifications since yesterday",
            "Notification emails stopped",
        ],
        "lines": [
            "None of our users are getting notification emails.",
            "Email notifications stopped arriving yesterday evening.",
            "Assignment notification emails are not delivered to anyone.",
            "We are not receiving any email alerts from the app.",
        ],
        "eng": ["Outbound email provider rejecting sends", "Notification mailer queue stuck"],
    },
    "api": {
        "titles": [
            "API returning 503",
            "API timeouts",
            "API requests failing",
            "503 Service Unavailable from the API",
            "REST API very slow and timing out",
        ],
        "lines": [
            "All our API calls return 503 Service Unavailable.",
            "API requests time out after 30 seconds.",
            "Our integration gets 503 errors from the REST API.",
            "The API is failing for every request we send.",
        ],
        "eng": ["API gateway returning 503 under load", "API latency spike"],
    },
    "mobile": {
        "titles": [
            "iOS app crashes on launch",
            "Mobile app crashing",
            "App crashes after update",
            "Android app closes immediately",
            "App crash on startup",
        ],
        "lines": [
            "Since the latest update the mobile app crashes right after opening.",
            "The iOS app closes as soon as I launch it.",
            "Our field staff cannot use the app, it crashes on startup.",
            "The Android app crashes on the splash screen.",
        ],
        "eng": ["Mobile crash on launch in 5.2.0", "Startup crash after release"],
    },
    "payments": {
        "titles": [
            "Card payments failing at checkout",
            "Checkout broken",
            "Customers can't pay",
            "Payment declined errors",
            "Payments failing at checkout",
        ],
        "lines": [
            "Our customers get payment declined at checkout with valid cards.",
            "Checkout fails with a payment error for every card.",
            "No card payments have gone through since this morning.",
            "The checkout page shows payment failed for all customers.",
        ],
        "eng": ["Payment provider integration returning errors", "Checkout payment intents failing"],
    },
    "search": {
        "titles": [
            "Search returns no results",
            "Search not working",
            "Search is broken",
            "Can't find records with search",
            "Search results empty",
        ],
        "lines": [
            "Search returns nothing even for records I know exist.",
            "The search bar gives no results at all.",
            "Global search stopped finding anything today.",
            "Searching by name returns an empty list.",
        ],
        "eng": ["Search index not updating", "Search cluster degraded"],
    },
    "crm": {
        "titles": [
            "Salesforce sync stopped",
            "CRM sync not updating",
            "Salesforce integration error",
            "Contacts not syncing from Salesforce",
            "Salesforce sync failing",
        ],
        "lines": [
            "Our Salesforce sync has not updated any contacts since this morning.",
            "The Salesforce integration shows a sync error.",
            "New leads from Salesforce are not syncing anymore.",
            "CRM sync with Salesforce fails with an authentication error.",
        ],
        "eng": ["Salesforce connector token refresh failing", "CRM sync jobs failing"],
    },
}

ROUTINE: dict[str, dict[str, list[str]]] = {
    "invite": {
        "titles": [
            "How do I invite a user?",
            "Adding a new team member",
            "How to add users to our workspace",
            "Invite a colleague",
            "Where do I invite users?",
        ],
        "lines": [
            "How can I invite a new colleague to our account?",
            "Where do I add new users to the team?",
            "I want to give my coworker access, how do I invite them?",
        ],
    },
    "invoice": {
        "titles": [
            "Question about our invoice",
            "Invoice question",
            "Billing question about last invoice",
            "Need a copy of our invoice",
            "Invoice shows the wrong address",
        ],
        "lines": [
            "We have a question about the latest invoice.",
            "Could you send us a copy of the last invoice?",
            "Our invoice shows the old company address, can you fix it?",
        ],
    },
    "password": {
        "titles": ["Reset my password", "Forgot password", "Password reset help", "How do I change my password?"],
        "lines": [
            "I forgot my password, how can I reset it?",
            "How do I change the password for my account?",
            "Can you help me reset my password?",
        ],
    },
    "plan": {
        "titles": [
            "Upgrade our plan",
            "Change subscription plan",
            "Question about pricing tiers",
            "How to upgrade to Pro",
        ],
        "lines": [
            "We would like to upgrade to the Pro plan.",
            "What is the difference between the pricing tiers?",
            "How do we change our subscription plan?",
        ],
    },
    "howexport": {
        "titles": [
            "How do I export my data?",
            "Export data to Excel?",
            "Is there a way to export reports?",
            "Bulk export question",
        ],
        "lines": [
            "Is there a way to export all our data to Excel?",
            "How can I export a report for our board meeting?",
            "Can we export contacts in bulk?",
        ],
    },
    "apikey": {
        "titles": ["Where is my API key?", "Generate API token", "API key question", "How to create an API key"],
        "lines": [
            "Where can I find our API key?",
            "How do I generate a new API token?",
            "We need to rotate our API key, how?",
        ],
    },
    "ssosetup": {
        "titles": [
            "How do I set up SSO?",
            "SAML configuration question",
            "Setting up Okta SSO",
            "Does our plan include SSO?",
        ],
        "lines": [
            "We want to configure SAML single sign-on with Okta, is there a guide?",
            "Which plan includes SSO?",
            "How do we set up SSO for our company?",
        ],
    },
    "twofa": {
        "titles": ["Enable two-factor authentication", "2FA setup question", "Lost my 2FA device"],
        "lines": [
            "How do I turn on two-factor authentication?",
            "I lost my phone with the 2FA app, help.",
            "Can we require 2FA for all users?",
        ],
    },
}

FEATURES = [
    "custom report builder",
    "kanban board",
    "calendar view",
    "tag manager",
    "user roles",
    "audit log",
    "time tracking",
    "invoice templates",
    "zapier integration",
    "slack integration",
    "dark mode",
    "bulk edit",
    "import wizard",
    "saved filters",
    "automation rules",
    "approval workflow",
    "file attachments",
    "comment mentions",
    "project templates",
    "gantt chart",
    "recurring tasks",
    "guest access",
    "custom domains",
    "activity feed",
    "form builder",
    "data retention settings",
    "timezone settings",
    "language settings",
    "priority labels",
    "sub tasks",
    "checklists",
    "email templates",
    "print view",
    "keyboard shortcuts",
    "pdf reports",
    "google drive integration",
    "budget tracking",
    "team workload view",
    "document editor",
    "survey module",
]
PROBLEMS = [
    "is slow for one of our larger projects",
    "shows the wrong timezone",
    "doesn't save my changes",
    "has a confusing label",
    "needs an option to hide archived items",
    "looks broken on Safari",
    "shows duplicate entries",
    "is missing a column we need",
    "does not respect our permissions",
    "sorts items in a strange order",
    "loses formatting when pasting",
    "could use a keyboard shortcut",
    "feature request: allow custom colors",
    "only shows the first 50 items",
    "ignores my filter",
    "translates some words wrong",
    "is hard to find in the menu",
    "sends me too many notifications",
    "shows an outdated count",
    "would be great with an API",
]
DETAILS = [
    "This is not urgent.",
    "Could you let me know if this is expected?",
    "We noticed this last week.",
    "It happens for one user in our team only.",
    "Happy to jump on a call.",
    "Screenshot attached.",
    "Is this on your roadmap?",
    "Thanks for looking into it.",
    "It worked fine before.",
    "We are evaluating this for a wider rollout.",
]
FILLER = [
    "This is urgent for us.",
    "Can you please look into it?",
    "We have a demo tomorrow.",
    "This is blocking our team.",
    "Please advise.",
    "Any update would be appreciated.",
    "We need this for month end.",
    "Let me know if you need more details.",
]
GREETINGS = ["Hi team,", "Hello,", "Hi there,", "Hey,", "Good morning,", "Dear support,", ""]
CLOSINGS = ["Thanks,", "Best regards,", "Cheers,", "Kind regards,", "Thank you,"]
CHATTER = [
    "deploying the web app to production now",
    "lunch order going out in 10 minutes",
    "reminder: standup at 10",
    "who owns the billing page copy?",
    "new hire starting Monday, please say hi",
    "retro notes are in the doc",
    "release notes draft ready for review",
    "can someone review my PR for the settings page",
    "customer asked about our roadmap for Q3",
    "office wifi is flaky again",
    "QBR deck for a big customer is in the shared drive",
    "support rotation swap next week?",
    "the docs site has a typo on the pricing page",
    "who can cover the Friday afternoon shift",
    "metrics review moved to Thursday",
]
VAGUE = [
    "anyone else seeing errors?",
    "lots of customers complaining today, is something broken?",
    "seeing a bunch of weird errors, anyone know what's going on?",
    "is something down right now?",
]
VAGUE_REPORTS = [
    "Getting errors everywhere",
    "Is something broken?",
    "Something is wrong with the app today",
    "Lots of errors for us today",
]
ENG_NOISE = [
    "Refactor settings page state handling",
    "Upgrade build toolchain",
    "Add index on events table",
    "Flaky test in billing suite",
    "Improve onboarding copy",
    "Dark mode contrast fixes",
    "Migrate cron jobs to the new scheduler",
    "Remove legacy feature flag",
    "Bump dependency versions",
    "Tag manager slow for large accounts",
    "Calendar view timezone bug",
    "Kanban drag and drop glitch",
]
CSM_NOTES = [
    "QBR with the customer, discussed renewal and expansion.",
    "Onboarding call went well, they want training for admins.",
    "Customer asked about pricing for more seats.",
    "Renewal coming up next quarter, champion is happy.",
    "They are evaluating a competitor, schedule an exec call.",
]
WORDS = [
    "bright",
    "lane",
    "north",
    "peak",
    "blue",
    "river",
    "stone",
    "field",
    "grove",
    "ridge",
    "maple",
    "cedar",
    "nova",
    "apex",
    "orbit",
    "pixel",
    "quartz",
    "harbor",
    "summit",
    "vertex",
    "delta",
    "ember",
    "lumen",
    "forge",
]
FIRST = [
    "Ann",
    "Bo",
    "Chen",
    "Dana",
    "Eli",
    "Fatima",
    "Gus",
    "Hana",
    "Ivan",
    "Jo",
    "Kai",
    "Lena",
    "Mo",
    "Nina",
    "Omar",
    "Pia",
    "Raj",
    "Sara",
    "Tom",
    "Uma",
    "Vik",
    "Wen",
    "Yara",
    "Zoe",
]
LAST = ["Smith", "Garcia", "Kim", "Müller", "Rossi", "Nguyen", "Okafor", "Silva", "Tanaka", "Novak", "Haddad"]
STAFF = [
    Person(name="Sam Support", email="sam@caseline-vendor.com"),
    Person(name="Ola Ops", email="ola@caseline-vendor.com"),
    Person(name="Lee Eng", email="lee@caseline-vendor.com"),
]


@dataclass
class Scenario:
    evidence: list[Evidence] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    labels: dict[str, str | None] = field(default_factory=dict)
    incidents: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)

    @property
    def reports(self) -> list[Evidence]:
        return [e for e in self.evidence if e.is_report]


class _Gen:
    def __init__(self, seed: int, days: int) -> None:
        self.rng = random.Random(seed)
        self.days = days
        self.end = START + timedelta(days=days)
        self.out = Scenario()
        self.counters: Counter[str] = Counter()
        self.people: dict[str, list[Person]] = {}
        self._accounts()

    # ---- helpers -------------------------------------------------------------------------------------
    def _accounts(self) -> None:
        rng = self.rng
        seen: set[str] = set()
        while len(seen) < 260:
            name = rng.choice(WORDS) + rng.choice(WORDS)
            domain = f"{name}.{rng.choice(['com', 'io', 'co', 'net'])}"
            if domain in seen:
                continue
            seen.add(domain)
            plan = rng.choices(["free", "starter", "pro", "enterprise"], [3, 4, 3, 1])[0]
            arr = {"free": 0.0, "starter": 3000.0, "pro": 24000.0, "enterprise": 180000.0}[plan] * rng.uniform(0.5, 2)
            self.out.accounts.append(
                Account(key=domain, name=name.title(), domains=[domain], plan=plan, arr=round(arr))
            )
            self.people[domain] = [
                Person(name=f"{f} {ln}", email=f"{f.lower()}.{ln.lower()}@{domain}".replace("ü", "u"))
                for f, ln in {(rng.choice(FIRST), rng.choice(LAST)) for _ in range(rng.randint(1, 4))}
            ]

    def account(self) -> str:
        return self.rng.choice(self.out.accounts).key

    def typo(self, text: str, rate: float = 0.08) -> str:
        words = text.split(" ")
        for i, w in enumerate(words):
            if len(w) > 3 and self.rng.random() < rate:
                k = self.rng.randrange(len(w) - 1)
                op = self.rng.randrange(3)
                words[i] = (
                    w[:k] + w[k + 1] + w[k] + w[k + 2 :]
                    if op == 0
                    else w[:k] + w[k + 1 :]
                    if op == 1
                    else w[:k] + w[k] + w[k:]
                )
        return " ".join(words)

    def business_time(self, day: int) -> datetime:
        hour = self.rng.choices(range(24), [1, 1, 1, 1, 1, 2, 3, 5, 8, 9, 9, 9, 8, 9, 9, 9, 8, 6, 4, 3, 2, 2, 1, 1])[0]
        return START + timedelta(days=day, hours=hour, minutes=self.rng.random() * 60)

    def report_body(self, lines: list[str], who: Person, *, extra: str = "") -> str:
        rng = self.rng
        parts = []
        greeting = rng.choice(GREETINGS)
        if greeting:
            parts.append(greeting + "\n")
        said = rng.sample(lines, k=min(len(lines), rng.choice([1, 1, 2])))
        parts.append(self.typo(" ".join(said)))
        if rng.random() < 0.6:
            parts.append(rng.choice(FILLER))
        if extra:
            parts.append(extra)
        if rng.random() < 0.3:
            parts.append(f"Request id {rng.getrandbits(48):x}, account #{rng.randint(1000, 99999)}.")
        body = " ".join(parts[1:]) if greeting else " ".join(parts)
        body = (parts[0] + body) if greeting else body
        if rng.random() < 0.7:
            company = (who.email or "x@x").split("@")[1].split(".")[0].title()
            body += (
                f"\n\n{rng.choice(CLOSINGS)}\n{who.name}\n{rng.choice(['CTO', 'Ops lead', 'Admin', 'Finance'])}, "
                f"{company}\n+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
            )
        if rng.random() < 0.2:
            quoted = rng.choice(CSM_NOTES + [d for d in DETAILS])
            body += (
                f"\n\nOn Mon, Feb 2, 2026 at 9:14 AM Sam Support <sam@caseline-vendor.com> wrote:\n> {quoted}\n> "
                f"Let us know if there is anything else."
            )
        return body

    def add(self, item: Evidence, label: str | None) -> Evidence:
        self.out.evidence.append(item)
        self.out.labels[item.id] = label
        return item

    def report(self, at: datetime, account: str, title: str, lines: list[str], label: str | None) -> Evidence:
        rng = self.rng
        who = rng.choice(self.people[account])
        source = rng.choices(["zendesk", "intercom", "hubspot"], [6, 3, 1.5])[0]
        kind = "conversation" if source == "intercom" else "ticket"
        self.counters[source] += 1
        native = str(
            (10_000 if source == "zendesk" else 50_000 if source == "hubspot" else 700_000) + self.counters[source]
        )
        shown_title = "" if source == "intercom" and rng.random() < 0.5 else self.typo(title, 0.05)
        body = self.report_body(lines if shown_title else [title, *lines], who)
        return self.add(
            Evidence(
                id=f"{source}:{kind}:{native}",
                source=source,
                kind=kind,
                native_id=native,
                title=shown_title,
                body=body,
                author=who,
                author_role="customer",
                account=account,
                created_at=at,
                updated_at=at,
                status="open",
            ),
            label,
        )

    def slack(self, at: datetime, text: str, label: str | None, links: list[str] | None = None) -> Evidence:
        ts = f"{at.timestamp():.6f}"
        channel = self.rng.choice(["C0SUPPORT", "C0ENG", "C0GENERAL"])
        return self.add(
            Evidence(
                id=f"slack:message:{channel}:{ts}",
                source="slack",
                kind="message",
                native_id=f"{channel}:{ts}",
                body=text,
                author=self.rng.choice(STAFF),
                created_at=at,
                updated_at=at,
                links=links or [],
            ),
            label,
        )

    def issue(self, source: str, at: datetime, title: str, body: str, links: list[str], label: str | None) -> Evidence:
        self.counters[source] += 1
        native = f"OPS-{self.counters[source]}" if source == "jira" else f"ENG-{self.counters[source]}"
        return self.add(
            Evidence(
                id=f"{source}:issue:{native}",
                source=source,
                kind="issue",
                native_id=native,
                title=title,
                body=body,
                author=self.rng.choice(STAFF),
                created_at=at,
                updated_at=at,
                links=links,
            ),
            label,
        )

    def note(self, at: datetime, account: str, text: str, label: str | None) -> Evidence:
        self.counters["note"] += 1
        return self.add(
            Evidence(
                id=f"hubspot:note:{900_000 + self.counters['note']}",
                source="hubspot",
                kind="note",
                native_id=str(900_000 + self.counters["note"]),
                body=text,
                author=STAFF[0],
                account=account,
                created_at=at,
                updated_at=at,
            ),
            label,
        )

    # ---- traffic -------------------------------------------------------------------------------------
    def background(self, per_day: float) -> None:
        rng = self.rng
        for day in range(self.days):
            weekday = (START + timedelta(days=day)).weekday() < 5
            scale = 1.0 if weekday else 0.35
            for _ in range(int(per_day * 0.45 * scale)):  # one-off questions and bugs
                feature, problem = rng.choice(FEATURES), rng.choice(PROBLEMS)
                title = f"{feature.capitalize()} {problem}"
                self.report(
                    self.business_time(day),
                    self.account(),
                    title,
                    [f"The {feature} {problem}.", rng.choice(DETAILS)],
                    None,
                )
            for name, pool in ROUTINE.items():  # routine questions recur every day
                rate = {"invite": 3, "invoice": 3, "password": 3, "howexport": 2}.get(name, 1.5) * scale
                for _ in range(_poisson(rng, rate * per_day / 60)):
                    self.report(
                        self.business_time(day), self.account(), rng.choice(pool["titles"]), pool["lines"], None
                    )
            for _ in range(int(per_day * 0.4 * scale)):
                self.slack(self.business_time(day), rng.choice(CHATTER), None)
            for _ in range(int(per_day * 0.05 * scale) + 1):
                at = self.business_time(day)
                title = rng.choice(ENG_NOISE)
                tickets = [e.id for e in self.out.evidence[-40:] if e.is_report]
                links = [rng.choice(tickets)] if tickets and rng.random() < 0.4 else []
                self.issue(rng.choice(["jira", "linear"]), at, title, f"{title}. See notes.", links, None)
            for _ in range(int(per_day * 0.08 * scale)):
                self.note(self.business_time(day), self.account(), rng.choice(CSM_NOTES), None)

    def routine_afternoons(self, count: int) -> None:
        """Some days a routine question comes from five or more customers in one afternoon."""
        rng = self.rng
        for _ in range(count):
            name = rng.choice(["invite", "invoice", "password", "howexport", "apikey"])
            pool = ROUTINE[name]
            day = rng.randrange(self.days - 12, self.days)
            start = START + timedelta(days=day, hours=13 + rng.random() * 2)
            for _ in range(rng.randint(5, 6)):
                at = start + timedelta(minutes=rng.random() * 180)
                self.report(at, self.account(), rng.choice(pool["titles"]), pool["lines"], None)

    def incident(self, name: str, theme: str, start: datetime, hours: float, reports: int) -> None:
        rng = self.rng
        pool = THEMES[theme]
        end = start + timedelta(hours=hours)
        self.out.incidents[name] = (start, end)
        accounts = rng.sample([a.key for a in self.out.accounts], k=reports)
        made: list[Evidence] = []
        for k, account in enumerate(accounts):
            if hours >= 4:  # a long outage: reports keep coming every half hour or so
                at = start + timedelta(hours=hours * k / reports, minutes=rng.uniform(-8, 8))
            else:
                at = start + timedelta(hours=hours * min(rng.expovariate(2.5), 1.0))
            made.append(self.report(at, account, rng.choice(pool["titles"]), pool["lines"], name))
            if rng.random() < 0.12:  # the same customer follows up
                follow = at + timedelta(minutes=rng.uniform(10, 50))
                made.append(
                    self.report(
                        follow, account, rng.choice(pool["titles"]), [*pool["lines"], "Any update on this?"], name
                    )
                )
        made.sort(key=lambda e: e.created_at)
        ticket_ids = [e.id for e in made]
        jira = self.issue(
            "jira",
            start + timedelta(minutes=rng.uniform(30, 70)),
            rng.choice(pool["eng"]),
            f"Customers report: {pool['lines'][0]} Linked tickets below.",
            rng.sample(ticket_ids, k=min(len(ticket_ids), rng.randint(2, 6))),
            name,
        )
        if rng.random() < 0.5:
            self.issue(
                "linear",
                jira.created_at + timedelta(minutes=20),
                rng.choice(pool["eng"]),
                "Engineering follow-up.",
                [jira.id],
                name,
            )
        for k in range(rng.randint(2, 4)):
            at = start + timedelta(minutes=rng.uniform(5, 60 * hours))
            if k == 0:
                self.slack(
                    at,
                    f"seeing several tickets like this: {made[0].id.split(':')[-1]} {pool['titles'][0].lower()}",
                    name,
                    [made[0].id],
                )
            else:
                self.slack(at, f"heads up, more customers report {rng.choice(pool['lines']).lower()}", name)
        self.note(
            start + timedelta(minutes=rng.uniform(20, 90)),
            accounts[0],
            f"Call with the customer: {rng.choice(pool['lines'])} They are frustrated.",
            name,
        )

    def lookalike(self, theme: str, day: int) -> None:
        """One account repeating a look-alike problem: not an incident."""
        rng = self.rng
        account = self.account()
        start = START + timedelta(days=day, hours=10)
        lines = {
            "export": [
                "Our export of the full history times out for our large workspace.",
                "The big CSV export for our workspace still times out.",
            ],
            "sso": ["SSO login fails for one of our contractors.", "Our contractor still cannot sign in with SSO."],
        }.get(theme, THEMES[theme]["lines"][:2])
        for k in range(rng.randint(5, 7)):
            self.report(start + timedelta(minutes=25 * k), account, rng.choice(THEMES[theme]["titles"]), lines, None)

    def vague(self, around: datetime, a: str, b: str) -> None:
        """Vague messages while two incidents overlap, some naming both symptoms at once: bridges that
        must not fuse the two incidents."""
        rng = self.rng
        for _ in range(3):
            self.slack(around + timedelta(minutes=rng.uniform(-30, 60)), rng.choice(VAGUE), None)
        for _ in range(2):
            title = rng.choice(VAGUE_REPORTS)
            self.report(
                around + timedelta(minutes=rng.uniform(0, 60)),
                self.account(),
                title,
                [title + " Please check.", "Several pages show errors for us."],
                None,
            )
        for _ in range(2):
            mixed = f"{rng.choice(VAGUE)} {rng.choice(THEMES[a]['lines'])} {rng.choice(THEMES[b]['lines'])}"
            self.slack(around + timedelta(minutes=rng.uniform(0, 60)), mixed.lower(), None)
        title = rng.choice(VAGUE_REPORTS)
        self.report(
            around + timedelta(minutes=rng.uniform(0, 60)),
            self.account(),
            title,
            [f"{rng.choice(THEMES[a]['lines'])} {rng.choice(THEMES[b]['lines'])}"],
            None,
        )


def _poisson(rng: random.Random, lam: float) -> int:
    count, total = 0, rng.expovariate(1.0)
    while total < lam:
        count += 1
        total += rng.expovariate(1.0)
    return count


def generate(seed: int, *, days: int = 21, per_day: float = 60, incidents: int = 8) -> Scenario:
    """A labeled scenario (see the module docstring); the same seed gives the same scenario."""
    gen = _Gen(seed, days)
    rng = gen.rng
    gen.background(per_day)
    gen.routine_afternoons(4)
    themes = rng.sample(sorted(THEMES), k=min(incidents, len(THEMES)))
    recent = days - 10
    # the long outage, two overlapping incidents, then the rest spread over the last ten days
    first_day = recent + rng.randrange(0, 3)
    gen.incident("inc-long", themes[0], START + timedelta(days=first_day, hours=9), 6.0, 14)
    overlap_day = recent + rng.randrange(3, 6)
    both = START + timedelta(days=overlap_day, hours=11 + rng.random())
    gen.incident("inc-overlap-a", themes[1], both, 2.0, rng.randint(8, 16))
    gen.incident("inc-overlap-b", themes[2], both + timedelta(minutes=rng.uniform(10, 50)), 2.0, rng.randint(8, 16))
    gen.vague(both + timedelta(minutes=30), themes[1], themes[2])
    for k, theme in enumerate(themes[3:]):
        day = recent + rng.randrange(0, 10)
        size = 4 if k == 0 else rng.randint(8, 30)
        gen.incident(
            f"inc-{theme}", theme, START + timedelta(days=day, hours=8 + rng.random() * 8), rng.uniform(1.0, 3.0), size
        )
    for theme in ("export", "sso"):
        gen.lookalike(theme, recent + rng.randrange(0, 10))
    gen.out.evidence.sort(key=lambda e: (e.created_at, e.id))
    return gen.out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    scenario = generate(args.seed)
    sources = Counter(e.source + ":" + e.kind for e in scenario.evidence)
    labeled = Counter(v for k, v in scenario.labels.items() if v)
    print(f"{len(scenario.evidence)} evidence items, {len(scenario.reports)} reports: {dict(sources)}")
    for name, count in sorted(labeled.items()):
        start, end = scenario.incidents[name]
        print(f"  {name}: {count} items, {start:%m-%d %H:%M} → {end:%H:%M}")


if __name__ == "__main__":
    main()
