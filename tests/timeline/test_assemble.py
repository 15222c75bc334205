"""Assembly on a real store: order, typing, deduplication, milestones, metrics, gaps and impact."""

from __future__ import annotations

from datetime import timedelta

import pytest

from caseline.config.models import AlertSettings, TimelineSettings
from caseline.errors import NotFound
from caseline.evidence import Evidence, Person
from caseline.incident import Incident, Member
from caseline.store import Store
from caseline.store.incidents import IncidentStore
from caseline.timeline.assemble import (
    Assembly,
    Entry,
    assemble,
    assemble_items,
    communication_gaps,
    deduplicate,
    is_escalated_status,
    is_resolved_status,
)
from tests.timeline import world
from tests.timeline.world import INCIDENT_ID, at


@pytest.fixture
def assembly(store: Store) -> Assembly:
    world.save_world(store)
    return assemble(store, INCIDENT_ID, world.settings(), now=at(300))


def _types(entries: list[Entry]) -> list[tuple[int, str, str]]:
    """(minute, evidence id, type) per entry: the shape the story in world.py describes."""
    return [(round((e.at - world.T0).total_seconds() / 60), e.evidence_id, e.type) for e in entries]


def test_entries_are_ordered_and_typed_by_the_documented_rules(assembly: Assembly) -> None:
    zd101, zd102, ic = "zendesk:ticket:101", "zendesk:ticket:102", "intercom:conversation:215"
    mirror = next(e.id for e in world.evidence() if e.source == "slack" and e.bot)
    question = next(e.id for e in world.evidence() if e.source == "slack" and not e.bot)
    expected = [
        (0, zd101, "report"),
        (5, zd101, "status_change"),
        (10, zd102, "report"),
        (12, zd102, "comment"),  # the customer's follow-up
        (15, ic, "report"),
        (16, ic, "comment"),  # the customer's message in the conversation
        (20, zd101, "customer_update"),  # public agent reply (its Slack mirror folded in)
        (25, zd101, "comment"),  # internal note
        (30, mirror, "comment"),  # Slack thread reply
        (35, question, "message"),  # a context item's creation
        (40, mirror, "comment"),
        (40, "jira:issue:SUP-7", "escalation"),  # engineering issue created
        (41, "jira:issue:SUP-7", "status_change"),
        (44, "linear:issue:ENG-42", "escalation"),
        (45, question, "comment"),  # its Linear copy folded in
        (50, "jira:issue:SUP-7", "comment"),
        (60, "hubspot:note:5001", "message"),
        (75, "linear:issue:ENG-42", "resolution"),  # engineering issue done
        (90, ic, "customer_update"),  # Intercom admin comment
        (150, "jira:issue:SUP-7", "resolution"),
        (160, zd101, "customer_update"),
        (165, zd101, "status_change"),  # solved, but other reports still open
        (170, zd102, "status_change"),
        (175, ic, "resolution"),  # the change that made every report solved
    ]
    assert _types(assembly.entries) == expected
    assert [e.at for e in assembly.entries] == sorted(e.at for e in assembly.entries)
    assert "zendesk:ticket:104" not in {e.evidence_id for e in assembly.entries}  # deleted spam


def test_mirrored_zendesk_comment_becomes_one_entry_with_both_links(assembly: Assembly) -> None:
    same = [e for e in assembly.entries if "We are investigating checkout failures" in e.text]
    assert len(same) == 1
    entry = same[0]
    mirror = next(e for e in world.evidence() if e.source == "slack" and e.bot)
    assert (entry.source, entry.type, entry.url) == ("zendesk", "customer_update", f"{world.ZD}/101#comment-9001")
    assert [(a.source, a.evidence_id, a.url) for a in entry.also] == [("slack", mirror.id, mirror.url)]


def test_slack_thread_synced_into_linear_is_one_entry(assembly: Assembly) -> None:
    same = [e for e in assembly.entries if e.text == world.SYNCED]
    assert len(same) == 1
    assert same[0].source == "slack"
    assert [(a.source, a.url) for a in same[0].also] == [("linear", f"{world.LINEAR}/ENG-42#comment-abc")]


def test_every_entry_links_to_its_source_item(assembly: Assembly) -> None:
    items = {e.id: e for e in world.evidence()}

    def item_urls(evidence_id: str) -> set[str | None]:
        item = items[evidence_id]
        return {item.url} | {a.url for a in item.activities}

    for entry in assembly.entries:
        assert entry.url in item_urls(entry.evidence_id), entry
        assert entry.source == items[entry.evidence_id].source
        for other in entry.also:
            assert other.url in item_urls(other.evidence_id), other


def test_milestones_and_metrics(assembly: Assembly) -> None:
    assert assembly.first_seen == at(0)
    assert assembly.last_seen == at(15)
    assert assembly.detected_at == at(15)  # the third report from a third account
    assert assembly.escalated_at == at(40)  # SUP-7 created
    assert assembly.resolved_at == at(150)  # the last engineering issue done
    assert (assembly.time_to_detect_s, assembly.time_to_escalate_s, assembly.time_to_resolve_s) == (
        900.0, 2400.0, 9000.0,
    )
    kinds = [(m.kind, round((m.at - world.T0).total_seconds() / 60)) for m in assembly.milestones]
    assert kinds == [
        ("first_report", 0), ("detection", 15), ("customer_update", 20), ("escalation", 40),
        ("customer_update", 90), ("resolution", 150), ("customer_update", 160),
    ]
    detection = next(m for m in assembly.milestones if m.kind == "detection")
    assert detection.evidence_id == "intercom:conversation:215"


def test_communication_gaps_run_from_first_report_to_resolution(assembly: Assembly) -> None:
    # updates at 09:20 and 10:30; resolved 11:30 (the 11:40 update comes after): cadence 30m
    assert [(g.start, g.end, g.minutes, g.ongoing) for g in assembly.gaps] == [
        (at(20), at(90), 70.0, False),
        (at(90), at(150), 60.0, False),
    ]


def test_a_longer_cadence_has_fewer_gaps(store: Store) -> None:
    world.save_world(store)
    relaxed = assemble(store, INCIDENT_ID, world.settings(update_cadence="65m"), now=at(300))
    assert [g.minutes for g in relaxed.gaps] == [70.0]


def test_impact_lists_accounts_with_arr(assembly: Assembly) -> None:
    rows = [(a.key, a.name, a.domain, a.plan, a.arr, a.reports) for a in assembly.accounts]
    assert rows == [
        ("acme.com", "Acme Corp", "acme.com", "enterprise", 120000.0, 1),
        ("globex.com", "Globex", "globex.com", "growth", 48000.0, 1),
        ("initech.com", "Initech", "initech.com", None, None, 1),
    ]
    assert assembly.arr_affected == 168000.0
    assert (assembly.reports, assembly.accounts_affected) == (3, 3)
    assert assembly.sources == {"hubspot": 1, "intercom": 1, "jira": 1, "linear": 1, "slack": 2, "zendesk": 2}


def test_unknown_incident_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="inc-nope"):
        assemble(store, "inc-nope", world.settings())


def test_merged_incident_is_followed(store: Store) -> None:
    world.save_world(store)
    gone = Incident(id="inc-old111", created_at=at(0), updated_at=at(0), merged_into=INCIDENT_ID)
    IncidentStore(store).save([gone])
    assert assemble(store, "inc-old111", world.settings(), now=at(300)).incident.id == INCIDENT_ID


def test_linked_engineering_issue_joins_the_timeline(store: Store) -> None:
    """A report links to a Jira issue correlation has not made a member: escalation still shows."""
    items = world.evidence()
    reports = [e for e in items if e.is_report and not e.deleted]
    linked = reports[0].model_copy(update={"links": ["jira:issue:SUP-7"]})
    store.upsert_evidence([linked, *reports[1:], *[e for e in items if e.source == "jira"]])
    IncidentStore(store).save([world.incident([linked, *reports[1:]])])
    result = assemble(store, INCIDENT_ID, world.settings(), now=at(300))
    assert result.escalated_at == at(40)
    why = dict(result.why)
    assert [(r.kind, r.with_) for r in why["jira:issue:SUP-7"]] == [("link", linked.id)]


# ---- the pure part: rules one at a time ----------------------------------------------------------
def _report(n: int, minute: float, text: str, *, source: str = "zendesk", **extra: object) -> Evidence:
    kind = "conversation" if source == "intercom" else "ticket"
    return Evidence.model_validate(
        {"source": source, "kind": kind, "native_id": str(n), "url": f"https://x.example/{source}/{n}",
         "title": "", "body": text, "created_at": at(minute), "author": {"email": f"u{n}@c{n}.example"},
         "account": f"c{n}.example", **extra}
    )


def _assemble(items: list[Evidence], *, status: str = "candidate", now_minute: float = 600) -> Assembly:
    incident = Incident(
        id="inc-unit01", status=status, created_at=at(0), updated_at=at(0),
        members=[Member(evidence_id=e.id, added_at=at(0)) for e in items],
    )
    return assemble_items(
        incident, items, accounts={}, timeline=TimelineSettings(), alerts=AlertSettings(), now=at(now_minute)
    )


def test_two_customers_with_the_same_words_stay_two_reports() -> None:
    words = "Checkout page shows error 502 after entering card details"
    result = _assemble([_report(1, 0, words), _report(2, 1, words)])
    assert [e.type for e in result.entries] == ["report", "report"]


def test_pasted_customer_text_keeps_the_escalation_without_repeating_words() -> None:
    words = "Checkout page shows error 502 after entering card details, we lose every sale"
    jira = Evidence.model_validate(
        {"id": "jira:issue:OPS-1", "url": "https://acme.atlassian.net/browse/OPS-1", "title": "Checkout 502s",
         "body": words, "created_at": at(3)}
    )
    result = _assemble([_report(1, 0, words), jira])
    assert [(e.type, e.text) for e in result.entries] == [("report", words), ("escalation", "Checkout 502s")]
    assert result.escalated_at == at(3)


def test_unknown_ends_are_null_never_zero() -> None:
    result = _assemble([_report(1, 0, "Login is broken for our whole team today")])
    assert result.detected_at is None and result.escalated_at is None and result.resolved_at is None
    assert (result.time_to_detect_s, result.time_to_escalate_s, result.time_to_resolve_s) == (None, None, None)
    assert result.arr_affected is None


def test_open_incident_gap_runs_until_now_and_is_marked_ongoing() -> None:
    result = _assemble([_report(1, 0, "Login is broken for our whole team today")], now_minute=45)
    assert [(g.start, g.end, g.ongoing) for g in result.gaps] == [(at(0), at(45), True)]


def test_escalated_status_is_an_escalation_and_reopening_clears_resolution() -> None:
    ticket = _report(
        1, 0, "Exports time out for large workspaces since the upgrade",
        activities=[
            {"at": at(10), "type": "status_change", "from_status": "open", "to_status": "Escalated"},
            {"at": at(20), "type": "status_change", "from_status": "escalated", "to_status": "solved"},
            {"at": at(30), "type": "status_change", "from_status": "solved", "to_status": "open"},
        ],
    )
    result = _assemble([ticket])
    assert [e.type for e in result.entries] == ["report", "escalation", "resolution", "status_change"]
    assert result.escalated_at == at(10)
    assert result.resolved_at is None  # reopened: not resolved now


def test_bot_and_internal_replies_are_not_customer_updates() -> None:
    ticket = _report(
        1, 0, "Exports time out for large workspaces since the upgrade",
        activities=[
            {"at": at(1), "type": "comment", "actor_role": "bot", "public": True, "text": "We got your request"},
            {"at": at(2), "type": "note", "actor_role": "agent", "public": False, "text": "checking logs"},
            {"at": at(3), "type": "comment", "actor_role": "agent", "public": False, "text": "private"},
            {"at": at(4), "type": "comment", "actor_role": "agent", "text": "Looking into it now"},
        ],
    )
    assert [e.type for e in _assemble([ticket]).entries] == [
        "report", "comment", "comment", "comment", "customer_update",
    ]


def test_dedup_respects_the_window() -> None:
    words = "Payments are failing for every card type since the deploy this morning"
    slack = Evidence.model_validate(
        {"id": "slack:message:C1:1.1", "url": "https://s.example/1", "body": words, "created_at": at(11)}
    )
    near = deduplicate(_assemble([_report(1, 0, words), slack]).entries, window=timedelta(minutes=15))
    far = deduplicate(_assemble([_report(1, 0, words), slack]).entries, window=timedelta(minutes=10))
    assert len(near) == 1 and len(far) == 2


def test_status_words() -> None:
    assert all(is_resolved_status(s) for s in ("Solved", "closed", "Done", "completed", "RESOLVED"))
    assert not any(is_resolved_status(s) for s in ("open", "In Progress", None, "canceled"))
    assert is_escalated_status("Escalated to engineering") and not is_escalated_status("pending")


def test_gaps_ignore_updates_outside_the_open_period() -> None:
    gaps = communication_gaps(at(0), at(100), [at(-5), at(40), at(120)], timedelta(minutes=30))
    assert [(g.start, g.end) for g in gaps] == [(at(0), at(40)), (at(40), at(100))]
    assert communication_gaps(None, at(100), [], timedelta(minutes=30)) == []


def test_actor_is_kept(assembly: Assembly) -> None:
    first_update = next(e for e in assembly.entries if e.type == "customer_update")
    assert first_update.actor == Person(name="Sam Agent", email="sam@support.example")
    assert first_update.actor_role == "agent"


def test_slack_message_whose_title_is_its_cut_first_line_is_said_once() -> None:
    from caseline.connectors.slack_map import map_slack

    long_line = "Engineering says the fix for the checkout 500s is rolling out (OPS-412). " * 4
    raw = {"channel": "C024BE91L", "team_url": "https://acme.slack.com",
           "message": {"type": "message", "user": "U1", "ts": f"{int(at(5).timestamp())}.000100",
                       "text": f"{long_line.strip()}\nPlease send affected customers the macro."}}  # fmt: skip
    slack = map_slack(raw)
    assert slack is not None and slack.title.endswith("…") and slack.body.startswith(slack.title[:-1])
    entry = next(e for e in _assemble([_report(1, 0, "Card checkout fails"), slack]).entries if e.source == "slack")
    assert entry.text.count("Engineering says the fix") == 4 and " — " not in entry.text  # the body, once
    # a title that is not the start of the body is still shown before it
    body = "Customers cannot pay by card since the deploy this morning"
    titled = Evidence.model_validate({"id": "jira:issue:OPS-9", "title": "Checkout 500s", "body": body,
                                      "created_at": at(6)})  # fmt: skip
    jira = next(e for e in _assemble([titled]).entries if e.evidence_id == "jira:issue:OPS-9")
    assert jira.text == f"Checkout 500s — {body}"


def test_closed_hubspot_ticket_counts_as_solved() -> None:
    """HubSpot statuses are stage labels; a closed stage reads "Closed" or "Closed: <label>"."""

    def hubspot(n: int, status: str) -> Evidence:
        return _report(n, n, f"Checkout fails with error 500 for account {n}", source="hubspot", status=status)

    zendesk = _report(
        9, 0, "Card payments fail at checkout with a 500 error",
        activities=[{"at": at(50), "type": "status_change", "from_status": "open", "to_status": "solved"}],
    )
    for closed in ("Closed", "Closed: Won't fix"):
        result = _assemble([zendesk, hubspot(1, closed), hubspot(2, "Closed")])
        assert result.resolved_at == at(50)  # the last open report solved: every report is now
        assert [e.type for e in result.entries if e.status] == ["resolution"]
    waiting = _assemble([zendesk, hubspot(1, "Waiting on us")])
    assert waiting.resolved_at is None and [e.type for e in waiting.entries if e.status] == ["status_change"]
    assert is_resolved_status("Closed: Won't fix") and is_resolved_status("Resolved (duplicate)")
    assert not any(is_resolved_status(s) for s in ("Waiting on us", "New", "Closedown", "4"))
