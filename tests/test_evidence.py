from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from caseline.evidence import Account, Activity, Evidence, EvidenceId, Person
from caseline.store.convert import activity_rows, evidence_row, to_evidence

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_evidence_id_parts_and_slack_native_ids_with_colons() -> None:
    eid = EvidenceId.parse("slack:message:C024BE91L:1512085950.000216")
    assert (eid.source, eid.kind, eid.native_id) == ("slack", "message", "C024BE91L:1512085950.000216")
    assert EvidenceId.of("zendesk", "ticket", 35436) == "zendesk:ticket:35436"
    with pytest.raises(ValueError):
        EvidenceId.parse("zendesk:35436")
    with pytest.raises(ValueError):
        EvidenceId.of("Zendesk", "ticket", 1)


def test_id_is_filled_from_parts_and_parts_from_id() -> None:
    a = Evidence(source="jira", kind="issue", native_id="OPS-1", created_at=T0)  # type: ignore[call-arg]
    assert a.id == "jira:issue:OPS-1" and a.updated_at == a.created_at
    b = Evidence(id="linear:issue:ENG-42", created_at="2026-03-01T12:00:00Z")  # type: ignore[call-arg]
    assert (b.source, b.kind, b.native_id) == ("linear", "issue", "ENG-42")
    with pytest.raises(ValidationError, match="does not match"):
        Evidence(id="jira:issue:OPS-2", source="jira", kind="issue", native_id="OPS-1", created_at=T0)


def test_times_are_normalized_to_utc_and_emitted_with_z() -> None:
    item = Evidence(id="jira:issue:OPS-1", created_at="2022-05-17T04:06:55.076-0700")  # type: ignore[call-arg]
    assert item.created_at == datetime(2022, 5, 17, 11, 6, 55, 76000, tzinfo=UTC)
    assert item.model_dump(mode="json")["created_at"] == "2022-05-17T11:06:55.076Z"


def test_reports_and_context_follow_the_contract() -> None:
    def make(eid: str) -> Evidence:
        return Evidence(id=eid, created_at=T0)  # type: ignore[call-arg]

    assert make("zendesk:ticket:1").is_report
    assert make("intercom:conversation:1").is_report
    assert make("hubspot:ticket:1").is_report
    assert make("statuspage:report:9").is_report  # imported evidence counts as a report
    assert not make("slack:message:C1:1.2").is_report
    assert not make("jira:issue:OPS-1").is_report
    assert not make("hubspot:note:7").is_report


def test_account_merge_unions_ids_and_prefers_crm_values() -> None:
    zd = Account(key="acme.com", name="Acme", domains=["acme.com"], external_ids=["zendesk:organization:1"])
    hs = Account(key="acme.com", domains=["acme.co.uk"], plan="enterprise", arr=120000.0,
                 external_ids=["hubspot:company:9"])
    merged = zd.merged(hs)
    assert merged.name == "Acme" and merged.plan == "enterprise" and merged.arr == 120000.0
    assert merged.domains == ["acme.co.uk", "acme.com"]
    assert merged.external_ids == ["hubspot:company:9", "zendesk:organization:1"]


_text = st.text(max_size=60)
_times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
_people = st.none() | st.builds(Person, name=st.none() | _text, email=st.none() | st.emails())
_activities = st.builds(
    Activity,
    at=_times,
    type=st.sampled_from(["comment", "note", "reply", "message", "status_change"]),
    actor=_people,
    text=_text,
    public=st.none() | st.booleans(),
)


@settings(max_examples=60)
@given(
    native=st.from_regex(r"[A-Za-z0-9:._-]{1,20}", fullmatch=True),
    title=_text,
    body=_text,
    author=_people,
    created=_times,
    tags=st.lists(_text, max_size=3),
    links=st.lists(st.from_regex(r"zendesk:ticket:[0-9]{1,6}", fullmatch=True), max_size=3),
    deleted=st.booleans(),
    activities=st.lists(_activities, max_size=4),
    raw=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)
def test_model_round_trips_through_store_rows(**fields: object) -> None:
    item = Evidence(
        source="zendesk",
        kind="ticket",
        native_id=fields.pop("native"),  # type: ignore[arg-type]
        created_at=fields.pop("created"),  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )
    row = evidence_row(item, seq=1)
    back = to_evidence(row["doc"], [a["doc"] for a in activity_rows(item)])
    assert back == item
