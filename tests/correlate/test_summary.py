"""Severity rules, titles and the derived fields of an incident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from caseline.correlate.summary import MemberInfo, severity, summarize
from caseline.evidence import Account
from caseline.incident import Incident, Member

T = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"accounts": 2}, "sev4"),
        ({"accounts": 3, "escalated": True}, "sev4"),
        ({"accounts": 3, "outage": True}, "sev3"),
        ({"accounts": 10, "escalated": True}, "sev3"),
        ({"accounts": 10, "outage": True, "escalated": True}, "sev2"),
        ({"accounts": 4, "data_loss": True, "arr": 150_000}, "sev3"),
        ({"accounts": 25, "outage": True, "arr": 200_000, "escalated": True}, "sev1"),
        ({"accounts": 10, "outage": True, "arr": 1_500_000, "enterprise": True}, "sev1"),
    ],
)
def test_severity_rule(facts: dict[str, object], expected: str) -> None:
    args: dict[str, object] = {"accounts": 0, "arr": 0.0, "enterprise": False, "escalated": False, "outage": False,
                               "data_loss": False, **facts}
    assert severity(**args) == expected  # type: ignore[arg-type]


def _info(k: int, text: str, *, source: str = "zendesk", account: str | None = None, minutes: int = 0,
          email: str | None = None) -> MemberInfo:
    kind = "issue" if source in ("jira", "linear") else "ticket"
    return MemberInfo(id=f"{source}:{kind}:{k}", source=source, kind=kind, report=source == "zendesk",
                      deleted=False, created_at=T + timedelta(minutes=minutes), account=account, email=email,
                      title=text, search_text=text.lower(), match_text=text.lower())


def _summarize(infos: list[MemberInfo], accounts: dict[str, Account] | None = None) -> Incident:
    incident = Incident(id="inc-test01", created_at=T, updated_at=T,
                        members=[Member(evidence_id=i.id, added_at=T) for i in infos])
    return summarize(incident, {i.id: i for i in infos}, accounts=accounts or {}, min_reports=3, min_accounts=3,
                     alert_window=timedelta(minutes=30), scorer="token_sort")


def test_summary_counts_titles_and_detection() -> None:
    infos = [
        _info(1, "Login page is down, we get a 500", account="a.com", minutes=0),
        _info(2, "login page down with error 500", account="b.com", minutes=5),
        _info(3, "Login page down, error 500 for everyone", account="a.com", minutes=10),
        _info(4, "login down 500", email="ann@gmail.com", minutes=20),
        _info(5, "Engineering: login 500s", source="jira", minutes=25),
    ]
    big = {"a.com": Account(key="a.com", arr=900_000.0, plan="Enterprise")}
    incident = _summarize(infos, big)
    assert incident.report_count == 4 and incident.accounts == ["a.com", "b.com"]
    assert incident.sources == {"jira": 1, "zendesk": 4}
    assert incident.first_seen == T and incident.last_seen == T + timedelta(minutes=25)
    assert incident.detected_at == T + timedelta(minutes=20)  # 4th report; the 3rd "account" is a person
    assert incident.title.lower().startswith("login page")
    # 3 accounts (1) + ARR 900k (1) + enterprise (1) + escalated (1) + outage words (2) = 6 → sev2
    assert incident.severity == "sev2"


def test_a_quiet_question_cluster_is_sev4_without_detection() -> None:
    incident = _summarize([_info(1, "How do I add a tag?", account="a.com"),
                           _info(2, "How can I add tags?", account="b.com", minutes=3)])
    assert incident.severity == "sev4" and incident.detected_at is None


CHAT = ("Hi, is there a problem with card payments? Our customer tried to pay an invoice and got an error 500 "
        "on the checkout page, card payments fail every time")


def test_the_title_is_a_concise_subject_of_a_central_report_rather_than_a_chat_opener() -> None:
    infos = [
        _info(1, CHAT, account="a.com"),  # the most central text, but a whole opening message
        _info(2, CHAT + " for us too", account="b.com", minutes=1),
        _info(3, "Card payments fail at checkout with error 500", account="c.com", minutes=2),
        _info(4, CHAT.replace("Hi, ", "Hello, "), account="d.com", minutes=3),
    ]
    assert _summarize(infos).title == "Card payments fail at checkout with error 500"
    # of two concise subjects, the more central one
    infos.append(_info(5, "Hi, is there a problem with card payments? error 500", account="e.com", minutes=4))
    assert _summarize(infos).title == "Is there a problem with card payments? error 500"  # greeting dropped


def test_without_a_concise_title_the_headline_is_the_first_sentence_without_the_greeting() -> None:
    infos = [_info(k, CHAT + " " * k, account=f"a{k}.com", minutes=k) for k in range(4)]
    assert _summarize(infos).title == "Is there a problem with card payments?"
    long = "Everything about our checkout is failing " + "and failing " * 20
    title = _summarize([_info(k, long, account=f"a{k}.com", minutes=k) for k in range(3)]).title
    assert title.endswith("…") and len(title) <= 121 and title.startswith("Everything about our checkout")
