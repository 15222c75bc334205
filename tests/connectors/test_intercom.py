"""Intercom: `map` on the recorded samples (no HTTP), and `fetch` against respx (requests, paging, cursor)."""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from caseline.connectors import CONNECTORS
from caseline.connectors.intercom import LOOKBACK_S, VERSION, Intercom, IntercomSettings
from caseline.errors import MalformedItem
from caseline.evidence import Account, Evidence, Person
from caseline.timeparse import to_utc, utc_now
from tests.conftest import SHARED

BASE = "https://api.intercom.io"
Sample = Callable[[str, str], Any]
T0 = int(utc_now().timestamp()) - 86_400  # a day ago: the watermark is never clamped by the signpost


@pytest.fixture
def intercom() -> Intercom:
    return Intercom(IntercomSettings(base_url=BASE, token="ic-token", app_id="abc123", start_date="2025-01-01"))


def _waits(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [float(r.args[-1]) for r in caplog.records if "retry" in r.msg]  # type: ignore[index,arg-type]


def test_registered() -> None:
    assert CONNECTORS["intercom"] is Intercom


def test_every_sample_maps(intercom: Intercom, vendor_sample: Sample) -> None:
    if not (SHARED / "vendor-samples" / "intercom").exists():
        pytest.skip("../shared/vendor-samples/intercom is absent")
    search = vendor_sample("intercom", "conversations_search_response.json")
    raws: list[dict[str, Any]] = [{"conversation": c} for c in search["conversations"]]
    raws += [{"conversation": vendor_sample("intercom", "conversation_with_parts.json")}]
    raws += [{"company": vendor_sample("intercom", "company.json")}]
    for raw in raws:
        result = intercom.map(raw)
        if "company" in raw:
            assert result is None  # the sample company has no website: no domain, no account key
        else:
            assert isinstance(result, Evidence) and result.id == f"intercom:conversation:{raw['conversation']['id']}"
        assert intercom.map(copy.deepcopy(raw)) == result  # pure


def test_conversation_sample_with_parts(intercom: Intercom, vendor_sample: Sample) -> None:
    conversation = vendor_sample("intercom", "conversation_with_parts.json")
    contact = vendor_sample("intercom", "contact.json")
    slim = {"id": conversation["contacts"]["contacts"][0]["id"], "name": contact["name"], "email": contact["email"],
            "companies": ["6762f07f1bb69f9f2193baf5"]}  # fmt: skip
    item = intercom.map({"conversation": conversation, "contacts": [slim]})
    assert isinstance(item, Evidence) and item.is_report
    assert item.id == "intercom:conversation:503"
    assert item.url == "https://app.intercom.com/a/inbox/abc123/inbox/conversation/503"
    assert item.title == "this is the message body" == item.body  # no title or subject: the first line
    # started by a teammate (admin_initiated): the reporter is the contact, with the email from /contacts
    assert item.author == Person(name="Joe Bloggs", email="joe@bloggs.com") and item.author_role == "customer"
    assert item.account_ref == "intercom:company:6762f07f1bb69f9f2193baf5"
    assert item.status == "closed" and item.priority is None and item.tags == ["Test tag"]
    assert item.created_at == to_utc(1734537511) and not item.deleted
    assert "jira:issue:PROJ-007" in item.links  # written into a conversation attribute by the Jira app
    # the admin's comment is a public reply; the bodiless app/bot events are not activities
    assert [(a.type, a.native_id, a.actor_role, a.public) for a in item.activities] == [("comment", "1", "agent", True)]
    assert item.activities[0].actor == Person(name="Operator", email="operator+abcd1234@intercom.io")
    assert "conversation_parts" not in item.raw


def test_company_with_website_is_an_account(intercom: Intercom, vendor_sample: Sample) -> None:
    company = {**vendor_sample("intercom", "company.json"), "website": "https://www.Globex.com/about"}
    assert intercom.map({"company": company}) == Account(
        key="globex.com",
        name="company1",
        domains=["globex.com"],
        external_ids=["intercom:company:6762f07f1bb69f9f2193baf5"],
    )


def _part(pid: int, kind: str, author: str, body: str | None = None, **extra: Any) -> dict[str, Any]:
    people = {"user": {"type": "user", "id": "u1", "name": "Ann"}, "lead": {"type": "lead", "id": "l1"},
              "admin": {"type": "admin", "id": "a1", "name": "Bob", "email": "bob@acme.com"},
              "bot": {"type": "bot", "id": "b1", "name": "Fin"}}  # fmt: skip
    return {"type": "conversation_part", "id": str(pid), "part_type": kind, "body": body,
            "created_at": T0 + pid * 60, "author": people[author], "redacted": False, **extra}  # fmt: skip


def _conversation(cid: int = 7, updated: int = T0, **extra: Any) -> dict[str, Any]:
    return {
        "type": "conversation", "id": str(cid), "created_at": T0 - 3600, "updated_at": updated, "state": "open",
        "title": None, "priority": "priority",
        "source": {"type": "conversation", "subject": "",
                   "body": "<p>Checkout fails with <b>500</b></p><p>Since 9:00</p>",
                   "author": {"type": "user", "id": "u1", "name": "Ann", "email": None}},
        "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": "u1"}]},
        "tags": {"type": "tag.list", "tags": [{"type": "tag", "name": "checkout"}]},
        "linked_objects": {"type": "list", "data": [], "has_more": False}, **extra,
    }  # fmt: skip


def test_parts_become_activities_in_order(intercom: Intercom) -> None:
    parts = [
        _part(1, "comment", "user", "<p>Still broken</p>"),
        _part(2, "comment", "admin", "<p>Looking into it</p>"),
        _part(3, "note", "admin", "<p>Escalated to <b>OPS-12</b></p>"),
        _part(4, "comment", "user", "<p>secret</p>", redacted=True),
        _part(5, "snoozed", "admin"),
        _part(6, "open", "lead"),
        _part(7, "comment", "bot", "<p>Did this help?</p>"),
        _part(8, "assignment", "admin"),
        _part(9, "close", "admin", "<p>Fixed, closing</p>"),
        _part(10, "custom_action_started", "admin"),  # a bodiless app event: nothing to show
    ]
    contacts = [{"id": "u1", "name": "Ann", "email": "ann@globex.com", "companies": []}]
    item = intercom.map({"conversation": _conversation(conversation_parts={"conversation_parts": parts}),
                         "contacts": contacts})  # fmt: skip
    assert isinstance(item, Evidence)
    got = [(a.native_id, a.type, a.actor_role, a.public, a.from_status, a.to_status, a.text) for a in item.activities]
    assert got == [
        ("1", "message", "customer", True, None, None, "Still broken"),
        ("2", "comment", "agent", True, None, None, "Looking into it"),
        ("3", "note", "agent", False, None, None, "Escalated to OPS-12"),
        ("4", "message", "customer", True, None, None, "[redacted]"),  # keeps its place, not its text
        ("5", "status_change", "agent", None, None, "snoozed", "state: ? → snoozed"),
        ("6", "status_change", "customer", None, "snoozed", "open", "state: snoozed → open"),
        ("7", "comment", "bot", True, None, None, "Did this help?"),
        ("8", "assignment", "agent", None, None, None, ""),
        ("9", "status_change", "agent", None, "open", "closed", "Fixed, closing"),
    ]
    assert item.activities[0].actor == Person(name="Ann", email="ann@globex.com")  # email from the contact
    assert item.author == Person(name="Ann", email="ann@globex.com") and item.author_role == "customer"
    assert item.title == "Checkout fails with 500" and item.body == "Checkout fails with 500\n\nSince 9:00"
    assert item.priority == "priority" and item.tags == ["checkout"] and item.account_ref is None
    assert "jira:issue:OPS-12" in item.links


def test_title_account_links_and_no_url_without_app_id() -> None:
    plain = Intercom(IntercomSettings(base_url=BASE, token="t"))
    linked = {"type": "list", "data": [{"type": "ticket", "id": "88"}, {"type": "conversation", "id": "7"}]}
    jira = {"jira": "https://acme.atlassian.net/browse/OPS-3"}
    raw = {"conversation": _conversation(title="Checkout outage", company={"id": "c9"}, linked_objects=linked,
                                         custom_attributes=jira)}  # fmt: skip
    item = plain.map(raw)
    assert isinstance(item, Evidence)
    assert item.url is None and item.title == "Checkout outage"
    assert item.account_ref == "intercom:company:c9"
    assert item.links == ["jira:issue:OPS-3", "intercom:conversation:88"]  # never itself (7)
    subject = plain.map({"conversation": _conversation(source={"subject": "<p>Invoice wrong</p>", "body": "x"})})
    assert isinstance(subject, Evidence) and subject.title == "Invoice wrong"


def test_tombstone(intercom: Intercom) -> None:
    item = intercom.map({"conversation": _conversation(), "deleted": True})
    assert isinstance(item, Evidence) and item.deleted


@pytest.mark.parametrize(
    "raw",
    [
        {"conversation": {"created_at": T0}},
        {"conversation": {"id": "5"}},
        {"conversation": _conversation(created_at="not-a-time")},
        {"conversation": _conversation(conversation_parts={"conversation_parts": [_part(1, "comment", "user", "x",
                                                                                         created_at=None)]})},
        {"conversation": _conversation(conversation_parts={"conversation_parts": [{**_part(1, "note", "admin", "x"),
                                                                                   "id": None}]})},
        {"company": {"name": "no id"}},
        {"contact": {"id": "1"}},
    ],
    ids=["no-id", "no-created", "bad-time", "part-no-time", "part-no-id", "company-no-id", "unknown"],
)  # fmt: skip
def test_malformed_items_raise_malformed(intercom: Intercom, raw: dict[str, Any]) -> None:
    with pytest.raises(MalformedItem) as info:
        intercom.map(raw)
    assert str(info.value).startswith("intercom: ") and "\n" not in str(info.value)


# ---- fetch ---------------------------------------------------------------------------------------
def _search_pages(pages: list[list[dict[str, Any]]]) -> Callable[[httpx.Request], httpx.Response]:
    """Search answers: `pages` in turn, linked by `starting_after` tokens."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        token = body["pagination"].get("starting_after")
        index = 0 if token is None else int(token.removeprefix("tok")) + 1
        page: dict[str, Any] = {"type": "pages", "page": index + 1, "per_page": 150, "total_pages": len(pages)}
        if index + 1 < len(pages):
            page["next"] = {"page": index + 2, "starting_after": f"tok{index}"}
        limits = {"X-RateLimit-Remaining": "900", "X-RateLimit-Reset": str(int(time.time()) + 10)}
        body = {"type": "conversation.list", "pages": page, "conversations": pages[index]}
        return httpx.Response(200, json=body, headers=limits)

    return answer


def _retrieve(request: httpx.Request, cid: str) -> httpx.Response:
    if cid == "3":
        return httpx.Response(404, json={"type": "error.list", "errors": [{"code": "not_found"}]})
    parts = [_part(1, "comment", "user", "<p>more</p>")]
    return httpx.Response(200, json={**_conversation(int(cid), UPDATED[cid]), "conversation_parts": {
        "type": "conversation_part.list", "conversation_parts": parts}})  # fmt: skip


UPDATED = {"1": T0 + 50, "2": T0 + 900, "3": T0 + 10, "4": T0 + 20}


async def test_fetch_unsorted_search_commits_the_watermark_with_the_last_page(
    intercom: Intercom, router: respx.MockRouter
) -> None:
    # the newest conversation comes first: search order is not by updated_at
    pages = [[_conversation(2, UPDATED["2"]), _conversation(1, UPDATED["1"])],
             [_conversation(3, UPDATED["3"]), _conversation(4, UPDATED["4"])]]  # fmt: skip
    search = router.post(f"{BASE}/conversations/search").mock(side_effect=_search_pages(pages))
    retrieve = router.get(url__regex=rf"^{BASE}/conversations/(?P<cid>\d+)$").mock(side_effect=_retrieve)
    contact = router.get(f"{BASE}/contacts/u1").mock(return_value=httpx.Response(200, json={
        "type": "contact", "id": "u1", "name": "Ann", "email": "ann@globex.com",
        "companies": {"type": "list", "data": [{"type": "company", "id": "c9"}]}}))  # fmt: skip
    company = router.get(f"{BASE}/companies/c9").mock(return_value=httpx.Response(200, json={
        "type": "company", "id": "c9", "name": "Globex", "website": "globex.com"}))  # fmt: skip

    async with intercom.client() as api:
        got = [page async for page in intercom.fetch(api, {})]

    first, second = (json.loads(c.request.content) for c in search.calls)
    since = int(to_utc("2025-01-01T00:00:00Z").timestamp())
    assert first == {"query": {"operator": "AND", "value": [{"field": "updated_at", "operator": ">", "value": since}]},
                     "pagination": {"per_page": 150}}  # fmt: skip
    assert second["pagination"] == {"per_page": 150, "starting_after": "tok0"}
    request = search.calls[0].request
    assert request.headers["Intercom-Version"] == VERSION and request.headers["Authorization"] == "Bearer ic-token"
    assert retrieve.call_count == 4
    assert contact.call_count == 1 and company.call_count == 1  # once per run, however many conversations

    # items stored page by page; the watermark (max updated_at seen, on page 1) only with the last page
    assert [(p.stream, p.cursor, p.final) for p in got] == [
        ("conversations", None, False),
        ("conversations", {"updated_at": UPDATED["2"]}, True),
    ]
    assert got[0].items[0] == {"company": {"type": "company", "id": "c9", "name": "Globex", "website": "globex.com"}}
    mapped = [intercom.map(raw) for page in got for raw in page.items]
    account, *conversations = mapped
    assert isinstance(account, Account) and account.key == "globex.com"
    by_id = {e.native_id: e for e in conversations if isinstance(e, Evidence)}
    assert sorted(by_id) == ["1", "2", "3", "4"]
    assert by_id["3"].deleted and not by_id["1"].deleted  # 404 on retrieve: deleted since the search
    assert by_id["1"].author == Person(name="Ann", email="ann@globex.com")
    assert by_id["1"].account_ref == "intercom:company:c9"
    assert [a.type for a in by_id["1"].activities] == ["message"]


async def test_fetch_resumes_before_the_watermark(intercom: Intercom, router: respx.MockRouter) -> None:
    search = router.post(f"{BASE}/conversations/search").mock(side_effect=_search_pages([[]]))
    async with intercom.client() as api:
        got = [page async for page in intercom.fetch(api, {"conversations": {"updated_at": T0}})]
    value = json.loads(search.calls[0].request.content)["query"]["value"][0]["value"]
    assert value == T0 - LOOKBACK_S  # `>` is inclusive and the order unknown: re-read a little, upserts absorb it
    assert [(p.items, p.cursor, p.final) for p in got] == [([], {"updated_at": T0}, True)]  # never moves back


async def test_watermark_never_passes_an_unreadable_item_or_the_pass_start(
    intercom: Intercom, router: respx.MockRouter
) -> None:
    future = int(time.time()) + 3600
    broken = {"type": "conversation", "updated_at": T0 + 100}  # the id is gone: cannot be fetched or stored
    router.post(f"{BASE}/conversations/search").mock(side_effect=_search_pages([[_conversation(1, future), broken]]))
    router.get(f"{BASE}/conversations/1").mock(return_value=httpx.Response(200, json=_conversation(1, future)))
    router.get(f"{BASE}/contacts/u1").mock(return_value=httpx.Response(404))
    async with intercom.client() as api:
        got = [page async for page in intercom.fetch(api, {"conversations": {"updated_at": T0}})]
    assert got[-1].cursor == {"updated_at": T0 + 100}  # the next pass reads the unreadable item's window again
    router.post(f"{BASE}/conversations/search").mock(side_effect=_search_pages([[_conversation(1, future)]]))
    async with intercom.client() as api:
        again = [page async for page in intercom.fetch(api, {"conversations": {"updated_at": T0}})]
    assert T0 < again[-1].cursor["updated_at"] <= int(time.time())  # type: ignore[index]  # the signpost


async def test_429_without_retry_after_waits_until_the_reset(
    intercom: Intercom, router: respx.MockRouter, caplog: pytest.LogCaptureFixture, vendor_sample: Sample
) -> None:
    caplog.set_level(logging.INFO, logger="caseline.connectors")
    reset = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 30)}
    limited = httpx.Response(429, json=vendor_sample("intercom", "error_429_rate_limit_exceeded.json"), headers=reset)
    empty = httpx.Response(200, json={"type": "conversation.list", "pages": {"page": 1}, "conversations": []})
    search = router.post(f"{BASE}/conversations/search").mock(side_effect=[limited, empty])
    async with intercom.client() as api:
        got = [page async for page in intercom.fetch(api, {})]
    assert search.call_count == 2 and got[-1].final
    assert _waits(caplog)[0] == pytest.approx(30, abs=2)


async def test_401_names_the_key_and_never_the_token(intercom: Intercom, router: respx.MockRouter,
                                                     vendor_sample: Sample) -> None:  # fmt: skip
    from caseline.errors import CredentialsError

    router.post(f"{BASE}/conversations/search").mock(
        return_value=httpx.Response(401, json=vendor_sample("intercom", "unauthorized_401.json"))
    )
    with pytest.raises(CredentialsError) as info:
        async with intercom.client() as api:
            [page async for page in intercom.fetch(api, {})]
    assert "sources.intercom.token" in str(info.value) and "ic-token" not in str(info.value)


def test_settings_reject_unknown_keys_and_hide_the_token() -> None:
    with pytest.raises(ValueError, match="extra"):
        IntercomSettings.model_validate({"base_url": BASE, "token": "t", "appid": "x"})
    settings = IntercomSettings(base_url=BASE, token="very-secret")
    assert "very-secret" not in repr(settings) and "very-secret" not in repr(Intercom(settings).client())
