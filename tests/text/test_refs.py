from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caseline.text import extract_refs, extract_urls, url_to_evidence_id
from tests.text._strategies import nasty_text

EVIDENCE_ID = re.compile(r"^(zendesk|jira|linear|intercom|slack|hubspot):(ticket|issue|conversation|message):\S+$")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acme.zendesk.com/agent/tickets/123", "zendesk:ticket:123"),
        ("https://acme.zendesk.com/agent/tickets/123/events", "zendesk:ticket:123"),
        ("https://acme.zendesk.com/api/v2/tickets/124.json", "zendesk:ticket:124"),
        ("https://acme.zendesk.com/api/v2/tickets/124/comments.json", "zendesk:ticket:124"),
        ("https://acme.zendesk.com/hc/en-us/requests/125", "zendesk:ticket:125"),
        ("https://help.acme.com/hc/requests/126", "zendesk:ticket:126"),  # help center on its own domain
        ("https://example.com/agent/tickets/1", None),
        ("https://acme.atlassian.net/browse/OPS-12", "jira:issue:OPS-12"),
        ("https://acme.atlassian.net/rest/api/3/issue/OPS-13", "jira:issue:OPS-13"),
        ("https://acme.atlassian.net/jira/software/projects/OPS/boards/1?selectedIssue=OPS-14", "jira:issue:OPS-14"),
        ("https://jira.acme.com/browse/OPS-15", "jira:issue:OPS-15"),
        ("https://linear.app/acme/issue/ENG-42/checkout-fails-for-eu-cards", "linear:issue:ENG-42"),
        ("https://linear.app/acme/issue/ENG-43", "linear:issue:ENG-43"),
        ("https://app.intercom.com/a/inbox/abc123/inbox/conversation/777", "intercom:conversation:777"),
        ("https://app.intercom.com/a/inbox/abc123/inbox/shared/all/conversation/778", "intercom:conversation:778"),
        ("https://app.intercom.com/a/apps/abc123/conversations/779", "intercom:conversation:779"),
        ("https://app.eu.intercom.com/a/apps/abc123/conversations/780", "intercom:conversation:780"),
        ("https://acme.slack.com/archives/C024BE91L/p1512085950000216", "slack:message:C024BE91L:1512085950.000216"),
        (
            "https://acme.slack.com/archives/C024BE91L/p1512104434000490?thread_ts=1512085950.000216&cid=C024BE91L",
            "slack:message:C024BE91L:1512085950.000216",
        ),
        (
            "https://acme.slack.com/archives/C024BE91L/p1512104434000490?thread_ts=1512085950.000216&amp;cid=C1",
            "slack:message:C024BE91L:1512085950.000216",
        ),
        ("https://app.hubspot.com/contacts/12345/record/0-5/456", "hubspot:ticket:456"),
        ("https://app-eu1.hubspot.com/contacts/12345/ticket/457", "hubspot:ticket:457"),
        ("https://app.hubspot.com/contacts/12345/record/0-1/999", None),  # a contact, not evidence
        ("https://status.acme.com/incidents/7", None),
        ("ftp://acme.zendesk.com/agent/tickets/1", None),
        ("http://[::1", None),
        ("", None),
    ],
)
def test_url_to_evidence_id(url: str, expected: str | None) -> None:
    assert url_to_evidence_id(url) == expected


def test_vendor_sample_urls(vendor_sample: Callable[..., Any]) -> None:
    ticket = vendor_sample("zendesk", "ticket.json")["ticket"]
    assert url_to_evidence_id(ticket["url"]) == f"zendesk:ticket:{ticket['id']}"
    for ticket in vendor_sample("zendesk", "tickets.json")["tickets"]:
        assert url_to_evidence_id(ticket["url"]) == f"zendesk:ticket:{ticket['id']}"
    for org in vendor_sample("zendesk", "organizations.json")["organizations"]:
        assert url_to_evidence_id(org["url"]) is None
    permalink = vendor_sample("slack", "chat.getPermalink_ok.json")
    evidence_id = url_to_evidence_id(permalink["permalink"])
    assert evidence_id is not None
    source, kind, channel, ts = evidence_id.split(":")
    assert (source, kind, channel) == ("slack", "message", permalink["channel"])
    assert ts.replace(".", "") == permalink["permalink"].rsplit("/p", 1)[1]
    for link in vendor_sample("jira", "issue_remote_links_airbyte.json"):
        assert url_to_evidence_id(link["object"]["url"]) is None  # third-party trackers


def test_slack_history_message_permalink_round_trip(vendor_sample: Callable[..., Any]) -> None:
    # Permalinks are built as /archives/{channel}/p{ts without the dot} (vendor-apis.md).
    for message in vendor_sample("slack", "conversations.replies_ok.json")["messages"]:
        url = f"https://acme.slack.com/archives/C024BE91L/p{message['ts'].replace('.', '')}"
        if message["ts"] != message["thread_ts"]:
            url += f"?thread_ts={message['thread_ts']}&cid=C024BE91L"
        assert url_to_evidence_id(url) == f"slack:message:C024BE91L:{message['thread_ts']}"


TEXT = """Customer says checkout fails, see https://acme.zendesk.com/agent/tickets/123.
Engineering tracks it in OPS-12 (https://acme.atlassian.net/browse/OPS-12) and ENG-7,
Slack thread <https://acme.slack.com/archives/C024BE91L/p1512085950000216|here>, Intercom
https://app.intercom.com/a/apps/x1/conversations/777), HubSpot [ticket](https://app.hubspot.com/contacts/9/record/0-5/456).
Not keys: UTF-8, SHA-256, ISO-8601, HTTP-2, TLS-1, COVID-19, CVE-2024-1234, utf-8, x-OPS-9, OPS-10-rc, a.OPS-11.
Again OPS-12 and #42 and &#43; and https://acme.zendesk.com/agent/tickets/123#comment
"""


def test_extract_refs_default() -> None:
    assert extract_refs(TEXT) == [
        "zendesk:ticket:123",
        "jira:issue:OPS-12",
        "jira:issue:ENG-7",
        "slack:message:C024BE91L:1512085950.000216",
        "intercom:conversation:777",
        "hubspot:ticket:456",
    ]


def test_extract_refs_with_known_projects_teams_and_hash_refs() -> None:
    refs = extract_refs(TEXT, known_jira_projects=["ops", "UTF"], linear_teams={"ENG"}, zendesk_hash_refs=True)
    assert refs == [
        "zendesk:ticket:123",
        "jira:issue:OPS-12",
        "linear:issue:ENG-7",
        "slack:message:C024BE91L:1512085950.000216",
        "intercom:conversation:777",
        "hubspot:ticket:456",
        "jira:issue:UTF-8",  # listed as a project: the caller knows best
        "zendesk:ticket:42",
    ]


def test_bare_keys_need_a_listed_project_when_projects_are_given() -> None:
    assert extract_refs("OPS-1 and ENG-2", known_jira_projects=[]) == []
    assert extract_refs("OPS-1 and ENG-2", known_jira_projects=["ENG"]) == ["jira:issue:ENG-2"]
    assert extract_refs("ENG-2", known_jira_projects=["ENG"], linear_teams=["ENG"]) == [
        "linear:issue:ENG-2",
        "jira:issue:ENG-2",
    ]


def test_extract_urls() -> None:
    text = (
        "a https://x.io/a, (https://x.io/b) https://en.wikipedia.org/wiki/Foo_(bar). <https://x.io/c|c> https://x.io/a"
    )
    assert extract_urls(text) == [
        "https://x.io/a",
        "https://x.io/b",
        "https://en.wikipedia.org/wiki/Foo_(bar)",
        "https://x.io/c",
    ]
    assert extract_urls("") == []


@given(nasty_text, st.booleans(), st.none() | st.lists(st.text(max_size=3), max_size=3))
def test_refs_never_crash(text: str, hash_refs: bool, projects: list[str] | None) -> None:
    refs = extract_refs(text, known_jira_projects=projects, linear_teams=projects, zendesk_hash_refs=hash_refs)
    assert len(refs) == len(set(refs))
    assert all(EVIDENCE_ID.match(ref) for ref in refs)
    assert all(isinstance(url, str) for url in extract_urls(text))
    for url in extract_urls(text):
        assert url_to_evidence_id(url) is None or EVIDENCE_ID.match(url_to_evidence_id(url) or "")


def test_keys_next_to_escaped_urls_are_found() -> None:
    text = "<https://acme.slack.com/archives/C1/p1512085950000216?thread_ts=1512085950.000216&amp;cid=C1|x> OPS-5"
    assert extract_refs(text) == ["slack:message:C1:1512085950.000216", "jira:issue:OPS-5"]
    assert extract_refs("https://acme.zendesk.com/agent/tickets/9?x=OPS-6") == ["zendesk:ticket:9"]
