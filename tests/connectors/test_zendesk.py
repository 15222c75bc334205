"""Zendesk: `map` on every recorded sample (no HTTP), and `fetch` against respx (the requests it makes)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from caseline.connectors import CONNECTORS
from caseline.connectors.zendesk import Zendesk, ZendeskSettings
from caseline.errors import MalformedItem
from caseline.evidence import Account, Evidence, Person
from tests.conftest import SHARED

BASE = "https://acme.zendesk.com"
Sample = Callable[[str, str], Any]


@pytest.fixture
def zendesk() -> Zendesk:
    settings = ZendeskSettings(base_url=BASE, email="ops@acme.com", token="zd-token", start_date="2025-01-01")
    return Zendesk(settings)


def _envelopes(name: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Each sample file as the raw items `fetch` yields."""
    if name == "ticket.json":
        return [{"ticket": data["ticket"]}]
    if name == "tickets.json":
        return [{"ticket": t} for t in data["tickets"]]
    if name == "organizations.json":
        return [{"organization": o} for o in data["organizations"]]
    if name == "users.json":
        return [{"user": u} for u in data["users"]]
    if name in {"ticket_comments.json", "ticket_audits.json"}:  # children travel inside a ticket
        return [{"ticket": {"id": 666, "created_at": "2011-09-25T22:00:00Z", "requester_id": 377922500012},
                 name.removeprefix("ticket_").removesuffix(".json"): data[name.removeprefix("ticket_")
                                                                         .removesuffix(".json")]}]  # fmt: skip
    raise AssertionError(f"no test adapter for vendor sample {name}: add one")


def test_registered() -> None:
    assert CONNECTORS["zendesk"] is Zendesk


def test_every_sample_file_maps(zendesk: Zendesk, vendor_sample: Sample) -> None:
    folder = SHARED / "vendor-samples" / "zendesk"
    if not folder.exists():
        pytest.skip("../shared/vendor-samples/zendesk is absent")
    names = sorted(p.name for p in Path(folder).glob("*.json"))
    assert names, "no zendesk samples"
    for name in names:
        for raw in _envelopes(name, vendor_sample("zendesk", name)):
            result = zendesk.map(raw)
            if "user" in raw:
                assert result is None
            elif "organization" in raw:
                assert isinstance(result, Account)
            else:
                assert isinstance(result, Evidence) and result.id == f"zendesk:ticket:{raw['ticket']['id']}"
            assert zendesk.map(copy.deepcopy(raw)) == result  # pure: same input, same output


def test_ticket_sample(zendesk: Zendesk, vendor_sample: Sample) -> None:
    raw = vendor_sample("zendesk", "ticket.json")
    item = zendesk.map(raw)
    assert isinstance(item, Evidence)
    assert item.id == "zendesk:ticket:2" and item.kind == "ticket" and item.is_report
    assert item.url == f"{BASE}/agent/tickets/2"
    assert item.title == "Mail to create fixture ticket for testing"
    assert item.body == raw["ticket"]["description"]
    assert item.author == Person(name="Yosuke Tamura", email="nukosuke@lavabit.com")  # via.source.from
    assert item.author_role == "customer"
    assert item.account_ref == "zendesk:organization:360363695492"
    assert item.status == "solved" and item.priority is None and not item.deleted
    assert item.created_at.isoformat() == "2019-06-03T02:23:47+00:00"
    assert item.updated_at.isoformat() == "2019-06-05T01:13:24+00:00"
    assert item.raw["id"] == 2


def test_ticket_with_children_and_users(zendesk: Zendesk, vendor_sample: Sample) -> None:
    ticket = vendor_sample("zendesk", "ticket.json")["ticket"]
    comments = vendor_sample("zendesk", "ticket_comments.json")["comments"]
    audits = vendor_sample("zendesk", "ticket_audits.json")["audits"]
    users = vendor_sample("zendesk", "users.json")["users"]
    requester = {"id": ticket["requester_id"], "name": "Yosuke T.", "email": "yosuke@hoth.com", "role": "end-user"}
    agent = {"id": audits[0]["author_id"], "name": "Agent Smith", "email": "smith@acme.com", "role": "agent"}
    item = zendesk.map({"ticket": ticket, "comments": comments, "audits": audits, "users": [*users, requester, agent]})
    assert isinstance(item, Evidence)
    assert item.author == Person(name="Yosuke T.", email="yosuke@hoth.com")  # the requester's user record wins
    kinds = [(a.type, a.native_id) for a in item.activities]
    # ordered by time: the sample audit (2011) precedes both comments (2019); the first comment differs
    # from the description, so it is kept
    assert kinds == [("status_change", "2127301143:2127301163"), ("comment", "2"), ("comment", "3")]
    by_type = {a.type: a for a in item.activities}
    change = by_type["status_change"]
    assert (change.from_status, change.to_status) == ("new", "open")
    assert change.actor == Person(name="Agent Smith", email="smith@acme.com")
    assert change.actor_role == "system"  # the change came from a trigger (via.channel == "rule")
    comment = by_type["comment"]
    assert comment.actor_role == "customer" and comment.public is True
    assert comment.text == "Mail to create fixture ticket for testing"
    assert [a.at for a in item.activities] == sorted(a.at for a in item.activities)


def _ticket(**extra: Any) -> dict[str, Any]:
    base = {"id": 41, "subject": "Checkout fails", "description": "Checkout returns 500 since 9:00.",
            "created_at": "2026-03-01T09:05:00Z", "updated_at": "2026-03-01T10:00:00Z", "status": "open",
            "priority": "high", "tags": ["checkout", "sev2"], "requester_id": 7, "organization_id": 99}  # fmt: skip
    return {**base, **extra}


def test_description_is_not_repeated_as_first_comment(zendesk: Zendesk) -> None:
    comments = [
        {"id": 1, "body": "Checkout returns 500\n since 9:00.", "public": True, "author_id": 7,
         "created_at": "2026-03-01T09:05:00Z"},
        {"id": 2, "body": "Looking into it.", "public": True, "author_id": 8, "created_at": "2026-03-01T09:10:00Z"},
        {"id": 3, "body": "", "html_body": "<p>Escalated to <b>OPS</b></p>", "public": False, "author_id": 8,
         "created_at": "2026-03-01T09:12:00Z"},
    ]  # fmt: skip
    users = [{"id": 7, "name": "Ann", "email": "ann@globex.com", "role": "end-user"},
             {"id": 8, "name": "Bob", "email": "bob@acme.com", "role": "agent"}]  # fmt: skip
    item = zendesk.map({"ticket": _ticket(), "comments": comments, "users": users})
    assert isinstance(item, Evidence)
    assert [(a.native_id, a.type, a.actor_role) for a in item.activities] == [
        ("2", "comment", "agent"),
        ("3", "note", "agent"),
    ]
    assert item.activities[1].text == "Escalated to OPS" and item.activities[1].public is False
    assert item.author == Person(name="Ann", email="ann@globex.com")
    assert item.tags == ["checkout", "sev2"] and item.priority == "high"


def test_links_from_text_fields_and_comments(zendesk: Zendesk) -> None:
    ticket = _ticket(
        description="Same as https://acme.atlassian.net/browse/OPS-12 and see #ignored",
        external_id="ENG-7",
        custom_fields=[{"id": 1, "value": "OPS-99"}, {"id": 2, "value": None}, {"id": 3, "value": 5}],
        problem_id=40,
    )
    comments = [{"id": 5, "body": "Slack: https://acme.slack.com/archives/C024BE91L/p1700000000123456",
                 "public": True, "author_id": 8, "created_at": "2026-03-01T09:30:00Z"},
                {"id": 6, "body": f"dup of {BASE}/agent/tickets/41", "public": True, "author_id": 8,
                 "created_at": "2026-03-01T09:31:00Z"}]  # fmt: skip
    item = zendesk.map({"ticket": ticket, "comments": comments})
    assert isinstance(item, Evidence)
    assert "jira:issue:OPS-12" in item.links
    assert "jira:issue:OPS-99" in item.links
    assert "zendesk:ticket:40" in item.links  # problem_id
    assert any(link.startswith("slack:message:C024BE91L:") for link in item.links)
    assert "zendesk:ticket:41" not in item.links  # never a link to itself
    assert len(item.links) == len(set(item.links))


def test_deleted_ticket_is_a_tombstone(zendesk: Zendesk) -> None:
    item = zendesk.map({"ticket": _ticket(status="deleted")})
    assert isinstance(item, Evidence) and item.deleted


def test_organization_becomes_account(zendesk: Zendesk, vendor_sample: Sample) -> None:
    org = vendor_sample("zendesk", "organizations.json")["organizations"][0]
    account = zendesk.map({"organization": {**org, "domain_names": [" Hoth.COM ", "dantooine.com", "hoth.com"]}})
    assert account == Account(key="hoth.com", name="Rebel Alliance", domains=["hoth.com", "dantooine.com"],
                              external_ids=["zendesk:organization:361898904439"])  # fmt: skip
    assert zendesk.map({"organization": {**org, "domain_names": []}}) is None  # no domain, no account key


@pytest.mark.parametrize(
    "raw",
    [
        {"ticket": {"id": 5, "subject": "no created_at"}},
        {"ticket": {"subject": "no id", "created_at": "2026-03-01T09:00:00Z"}},
        {"ticket": {"id": 5, "created_at": "not a time"}},
        {"ticket": _ticket(), "comments": [{"id": 1, "body": "x", "created_at": None}]},
        {"organization": {"name": "no id"}},
        {"something": "else"},
    ],
    ids=["no-created", "no-id", "bad-time", "bad-comment", "org-no-id", "unknown"],
)
def test_malformed_items_raise_malformed(zendesk: Zendesk, raw: dict[str, Any]) -> None:
    with pytest.raises(MalformedItem) as info:
        zendesk.map(raw)
    assert str(info.value).startswith("zendesk: ") and "\n" not in str(info.value)


# ---- fetch ---------------------------------------------------------------------------------------
def _export(request: httpx.Request) -> httpx.Response:
    params = request.url.params
    if "cursor" not in params:
        return httpx.Response(200, json={
            "tickets": [_ticket(id=1), _ticket(id=2, organization_id=None)],
            "users": [{"id": 7, "name": "Ann", "email": "ann@globex.com", "role": "end-user"},
                      {"id": 123, "name": "Not on these tickets", "email": "x@y.z", "role": "agent"}],
            "organizations": [{"id": 99, "name": "Globex", "domain_names": ["globex.com"]}],
            "after_cursor": "c1", "after_url": f"{BASE}/api/v2/incremental/tickets/cursor.json?cursor=c1",
            "end_of_stream": False,
        })  # fmt: skip
    assert params["cursor"] == "c1"
    return httpx.Response(200, json={
        "tickets": [_ticket(id=3, status="deleted")], "users": [], "organizations": [],
        "after_cursor": "c2", "after_url": f"{BASE}/api/v2/incremental/tickets/cursor.json?cursor=c2",
        "end_of_stream": True,
    })  # fmt: skip


def _comments_1(request: httpx.Request) -> httpx.Response:
    if request.url.params.get("page[after]") == "k1":
        return httpx.Response(200, json={
            "comments": [{"id": 12, "body": "Fixed?", "public": True, "author_id": 8,
                          "created_at": "2026-03-01T10:00:00Z"}],
            "users": [{"id": 8, "name": "Bob", "email": "bob@acme.com", "role": "agent"}],
            "meta": {"has_more": False, "after_cursor": "k2"},
        })  # fmt: skip
    return httpx.Response(200, json={
        "comments": [{"id": 11, "body": "Checkout returns 500 since 9:00.", "public": True, "author_id": 7,
                      "created_at": "2026-03-01T09:05:00Z"}],
        "users": [{"id": 7, "name": "Ann", "email": "ann@globex.com", "role": "end-user"}],
        "meta": {"has_more": True, "after_cursor": "k1"},
    })  # fmt: skip


AUDITS_1 = {
    "audits": [{"id": 500, "ticket_id": 1, "author_id": 8, "created_at": "2026-03-01T09:20:00Z",
                "events": [{"id": 501, "type": "Change", "field_name": "status", "value": "pending",
                            "previous_value": "open"},
                           {"id": 502, "type": "Change", "field_name": "priority", "value": "high",
                            "previous_value": "normal"}]}],
    "meta": {"has_more": False, "after_cursor": None},
}  # fmt: skip


async def test_fetch_two_export_pages_with_children(zendesk: Zendesk, router: respx.MockRouter) -> None:
    export = router.get(f"{BASE}/api/v2/incremental/tickets/cursor.json").mock(side_effect=_export)
    comments_1 = router.get(f"{BASE}/api/v2/tickets/1/comments.json").mock(side_effect=_comments_1)
    audits_1 = router.get(f"{BASE}/api/v2/tickets/1/audits.json").mock(return_value=httpx.Response(200, json=AUDITS_1))
    comments_2 = router.get(f"{BASE}/api/v2/tickets/2/comments.json").mock(return_value=httpx.Response(404))

    async with zendesk.client() as api:
        pages = [page async for page in zendesk.fetch(api, {})]

    # the export: start_time first, then the cursor replaces it; sideloads asked for on every page
    first, second = (dict(c.request.url.params) for c in export.calls)
    assert first == {"per_page": "1000", "include": "users,organizations", "start_time": "1735689600"}
    assert second == {"per_page": "1000", "include": "users,organizations", "cursor": "c1"}
    assert all(c.request.headers["Authorization"].startswith("Basic ") for c in export.calls)
    # children: cursor paging on comments, users sideloaded; a 404 skips the children, not the ticket
    assert [dict(c.request.url.params) for c in comments_1.calls] == [
        {"page[size]": "100", "sort_order": "asc", "include": "users"},
        {"page[size]": "100", "sort_order": "asc", "include": "users", "page[after]": "k1"},
    ]
    assert audits_1.call_count == 1 and comments_2.call_count == 1
    # no child calls for the deleted ticket 3 (respx would fail on an unmocked request)

    assert [(p.stream, p.cursor, p.final) for p in pages] == [
        ("tickets", {"after_cursor": "c1"}, False),
        ("tickets", {"after_cursor": "c2"}, True),
    ]
    page1 = pages[0].items
    assert page1[0] == {"organization": {"id": 99, "name": "Globex", "domain_names": ["globex.com"]}}
    enriched = page1[1]
    assert [c["id"] for c in enriched["comments"]] == [11, 12] and len(enriched["audits"]) == 1
    assert sorted(u["id"] for u in enriched["users"]) == [7, 8]  # only the people on this ticket
    assert page1[2]["comments"] == [] and page1[2]["audits"] == []

    mapped = [zendesk.map(raw) for page in pages for raw in page.items]
    account, t1, t2, t3 = mapped
    assert isinstance(account, Account) and account.key == "globex.com"
    assert isinstance(t1, Evidence) and isinstance(t2, Evidence) and isinstance(t3, Evidence)
    assert [(a.type, a.native_id) for a in t1.activities] == [("status_change", "500:501"), ("comment", "12")]
    assert t1.activities[1].actor == Person(name="Bob", email="bob@acme.com")
    assert t1.account_ref == "zendesk:organization:99" and t2.account_ref is None
    assert t3.deleted


async def test_fetch_resumes_from_stored_cursor(zendesk: Zendesk, router: respx.MockRouter) -> None:
    export = router.get(f"{BASE}/api/v2/incremental/tickets/cursor.json").mock(
        return_value=httpx.Response(200, json={"tickets": [], "after_cursor": "c9", "end_of_stream": True})
    )
    async with zendesk.client() as api:
        pages = [page async for page in zendesk.fetch(api, {"tickets": {"after_cursor": "c8"}})]
    assert dict(export.calls[0].request.url.params) == {
        "per_page": "1000",
        "include": "users,organizations",
        "cursor": "c8",
    }
    assert [(p.items, p.cursor, p.final) for p in pages] == [([], {"after_cursor": "c9"}, True)]


def test_settings_reject_unknown_keys_and_hide_the_token() -> None:
    with pytest.raises(ValueError, match="extra"):
        ZendeskSettings.model_validate({"base_url": BASE, "email": "a@b.c", "token": "t", "tokn": "x"})
    settings = ZendeskSettings(base_url=BASE, email="a@b.c", token="very-secret")
    assert "very-secret" not in repr(settings) and "very-secret" not in repr(Zendesk(settings).client())
