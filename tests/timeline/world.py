"""A multi-tool incident, written straight into a store (what sync + correlation would have left there).

The checkout outage of 2026-03-02 (all times UTC):

09:00 Zendesk #101 (acme)    report; 09:05 new → open; 09:20 public agent reply (mirrored into Slack 09:21)
                              09:25 internal note; 11:40 public agent reply; 11:45 open → solved
09:10 Zendesk #102 (globex)  report; 09:12 customer follow-up; 11:50 open → solved
09:15 Intercom 215 (initech) report; 09:16 customer message; 10:30 admin reply; 11:55 open → closed
09:21 Slack (bot mirror of the 09:20 Zendesk reply); replies 09:30, 09:40
09:35 Slack question; reply 09:45 (synced into Linear as a comment at 09:46)
09:40 Jira SUP-7 created; 09:41 To Do → In Progress; 09:50 comment; 11:30 In Progress → Done
09:44 Linear ENG-42 created; 09:46 synced comment; 10:15 In Progress → Done
10:00 HubSpot note (CSM call with Acme)
Zendesk #104 is deleted spam: a member, never on the timeline.

Alert threshold 3 reports from 3 accounts within 30m → detected 09:15 (Intercom 215).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from caseline.config import Settings
from caseline.evidence import Account, Activity, Evidence, Person
from caseline.incident import Incident, Member, Reason
from caseline.store import Store
from caseline.store.incidents import IncidentStore
from caseline.timeparse import to_utc

T0 = to_utc("2026-03-02T09:00:00Z")
INCIDENT_ID = "inc-chk502"
ZD = "https://acme.zendesk.com/agent/tickets"
IC = "https://app.intercom.com/a/inbox/abc123/inbox/conversation"
SLACK = "https://acme.slack.com/archives/C024BE91L"
JIRA = "https://acme.atlassian.net/browse"
LINEAR = "https://linear.app/acme/issue"
HUBSPOT = "https://app.hubspot.com/contacts/1234567/record/0-46"

SAM = Person(name="Sam Agent", email="sam@support.example")
DAVE = Person(name="Dave Oncall", email="dave@example.com")
FRANK = Person(name="Frank Eng", email="frank@example.com")
ALICE = Person(name="Alice Buyer", email="alice@acme.com")
BOB = Person(name="Bob Ops", email="bob@globex.com")
CAROL = Person(name="Carol Admin", email="carol@initech.com")

UPDATE_1 = "We are investigating checkout failures and will update you within the hour."
SYNCED = "Rolling back payment-service to the previous release now, ETA fifteen minutes."


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _slack_ts(minutes: float, n: int) -> str:
    return f"{int(at(minutes).timestamp())}.{n:06d}"


def evidence() -> list[Evidence]:
    """Every item of the incident, as connectors map them."""
    zd101 = Evidence(
        source="zendesk", kind="ticket", native_id="101", url=f"{ZD}/101", title="Checkout fails with error 502",
        body="Checkout fails with error 502 when paying by card. Call me on +1 (415) 555-0132.",
        author=ALICE, author_role="customer", account="acme.com", created_at=at(0), updated_at=at(105),
        status="solved",
        activities=[
            Activity(at=at(5), type="status_change", actor_role="system", text="status: new → open", url=f"{ZD}/101",
                     from_status="new", to_status="open"),
            Activity(at=at(20), type="comment", actor=SAM, actor_role="agent", public=True, text=UPDATE_1,
                     url=f"{ZD}/101#comment-9001"),
            Activity(at=at(25), type="note", actor=SAM, actor_role="agent", public=False,
                     text="Looks like payment gateway timeouts; escalating to engineering.",
                     url=f"{ZD}/101#comment-9002"),
            Activity(at=at(160), type="comment", actor=SAM, actor_role="agent", public=True,
                     text="A fix has been deployed and checkout works again. Sorry for the trouble.",
                     url=f"{ZD}/101#comment-9003"),
            Activity(at=at(165), type="status_change", actor=SAM, actor_role="agent", text="status: open → solved",
                     url=f"{ZD}/101", from_status="open", to_status="solved"),
        ],
    )
    zd102 = Evidence(
        source="zendesk", kind="ticket", native_id="102", url=f"{ZD}/102", title="Card payments failing (502)",
        body="Card payments failing at checkout with a 502 page since this morning.", author=BOB,
        author_role="customer", account="globex.com", created_at=at(10), updated_at=at(170), status="solved",
        activities=[
            Activity(at=at(12), type="comment", actor=BOB, actor_role="customer", public=True,
                     text="This is blocking all of our orders, please hurry.", url=f"{ZD}/102#comment-9101"),
            Activity(at=at(170), type="status_change", actor=SAM, actor_role="agent", text="", url=f"{ZD}/102",
                     from_status="open", to_status="solved"),
        ],
    )
    zd104 = Evidence(
        source="zendesk", kind="ticket", native_id="104", url=f"{ZD}/104", title="WIN A PRIZE", body="spam",
        author=Person(email="spam@spam.example"), created_at=at(11), deleted=True, status="deleted",
    )
    ic215 = Evidence(
        source="intercom", kind="conversation", native_id="215", url=f"{IC}/215", title="",
        body="checkout is broken for us too, cards get declined with a gateway error", author=CAROL,
        author_role="customer", account="initech.com", created_at=at(15), updated_at=at(175), status="closed",
        activities=[
            Activity(at=at(16), type="message", actor=CAROL, actor_role="customer",
                     text="Any news? Write to carol@initech.com", url=f"{IC}/215#part_id=comment-1"),
            Activity(at=at(90), type="comment", actor=SAM, actor_role="agent", public=True,
                     text="Our engineers are working on a fix for the checkout errors right now.",
                     url=f"{IC}/215#part_id=comment-2"),
            Activity(at=at(175), type="status_change", actor=SAM, actor_role="agent", url=f"{IC}/215",
                     from_status="open", to_status="closed"),
        ],
    )
    mirror_ts = _slack_ts(21, 100)
    slack_mirror = Evidence(
        source="slack", kind="message", native_id=f"C024BE91L:{mirror_ts}",
        url=f"{SLACK}/p{mirror_ts.replace('.', '')}",
        body=f"[Zendesk #101] {UPDATE_1}", author=Person(name="Zendesk"), author_role="bot", bot=True,
        created_at=at(21),
        activities=[
            Activity(at=at(30), type="reply", actor=DAVE, actor_role="agent",
                     text="Gateway latency spiked at 08:55, looking into the payment service.",
                     url=f"{SLACK}/p{_slack_ts(30, 200).replace('.', '')}?thread_ts={mirror_ts}"),
            Activity(at=at(40), type="reply", actor=DAVE, actor_role="agent", text="Filed SUP-7 for engineering.",
                     url=f"{SLACK}/p{_slack_ts(40, 300).replace('.', '')}?thread_ts={mirror_ts}"),
        ],
    )
    question_ts = _slack_ts(35, 400)
    slack_question = Evidence(
        source="slack", kind="message", native_id=f"C024BE91L:{question_ts}",
        url=f"{SLACK}/p{question_ts.replace('.', '')}",
        body="Is anyone else seeing checkout 502s? Three customers reporting so far.", author=DAVE,
        author_role="agent", created_at=at(35),
        activities=[
            Activity(at=at(45), type="reply", actor=FRANK, actor_role="agent", text=SYNCED,
                     url=f"{SLACK}/p{_slack_ts(45, 500).replace('.', '')}?thread_ts={question_ts}"),
        ],
    )
    jira = Evidence(
        source="jira", kind="issue", native_id="SUP-7", vendor_id="10007", url=f"{JIRA}/SUP-7",
        title="Checkout 502 errors from the payment gateway", body="Several customers cannot pay by card.",
        author=DAVE, author_role="agent", created_at=at(40), updated_at=at(150), status="Done",
        links=["zendesk:ticket:101"],
        activities=[
            Activity(at=at(41), type="status_change", actor=DAVE, url=f"{JIRA}/SUP-7", from_status="To Do",
                     to_status="In Progress"),
            Activity(at=at(50), type="comment", actor=FRANK, actor_role="agent",
                     text="Root cause: connection pool exhausted in payment-service after the config push.",
                     url=f"{JIRA}/SUP-7?focusedCommentId=10001"),
            Activity(at=at(150), type="status_change", actor=FRANK, url=f"{JIRA}/SUP-7", from_status="In Progress",
                     to_status="Done"),
        ],
    )
    linear = Evidence(
        source="linear", kind="issue", native_id="ENG-42", vendor_id="uuid-42", url=f"{LINEAR}/ENG-42",
        title="Roll back payment-service", author=FRANK, author_role="agent", created_at=at(44),
        updated_at=at(75), status="Done",
        activities=[
            Activity(at=at(46), type="comment", actor=Person(name="Slack sync"), actor_role="bot", text=SYNCED,
                     url=f"{LINEAR}/ENG-42#comment-abc"),
            Activity(at=at(75), type="status_change", actor=FRANK, url=f"{LINEAR}/ENG-42",
                     from_status="In Progress", to_status="Done"),
        ],
    )
    note = Evidence(
        source="hubspot", kind="note", native_id="5001", url=f"{HUBSPOT}/5001",
        body="CSM call with Acme: checkout outage is hurting their spring sale; they want hourly updates.",
        author=Person(name="Casey CSM", email="casey@example.com"), author_role="agent", account="acme.com",
        created_at=at(60),
    )
    return [zd101, zd102, zd104, ic215, slack_mirror, slack_question, jira, linear, note]


def accounts() -> list[Account]:
    return [
        Account(key="acme.com", name="Acme Corp", domains=["acme.com", "acme.co.uk"], plan="enterprise",
                arr=120000.0),
        Account(key="globex.com", name="Globex", domains=["globex.com"], plan="growth", arr=48000.0),
        Account(key="initech.com", name="Initech", domains=["initech.com"]),
    ]


def incident(items: list[Evidence], *, incident_id: str = INCIDENT_ID, status: str = "confirmed") -> Incident:
    first = items[0].id
    members = [
        Member(
            evidence_id=e.id,
            reasons=[Reason(kind="text", with_=first, score=91.5)] if e.id != first else [],
            added_at=at(200),
        )
        for e in items
    ]
    return Incident(
        id=incident_id, status=status, severity="sev2", title="Checkout fails with 502",
        first_seen=at(0), last_seen=at(60), created_at=at(16), updated_at=at(200), members=members,
        report_count=3, accounts=["acme.com", "globex.com", "initech.com"],
    )


def save_world(store: Store, items: list[Evidence] | None = None, *, status: str = "confirmed") -> Incident:
    items = evidence() if items is None else items
    store.upsert_evidence(items)
    store.upsert_accounts(accounts())
    saved = incident(items, status=status)
    IncidentStore(store).save([saved])
    return saved


def settings(**timeline: str) -> Settings:
    return Settings.model_validate(
        {
            "alerts": {"min_reports": 3, "min_accounts": 3, "window": "30m"},
            "timeline": {"update_cadence": "30m", "dedup_window": "10m", **timeline},
        }
    )


CONFIG_TOML = """
[store]
url = "sqlite:///{db}"

[timeline]
update_cadence = "30m"
dedup_window = "10m"

[alerts]
min_reports = 3
min_accounts = 3
window = "30m"
"""
