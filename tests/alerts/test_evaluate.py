"""`evaluate`: thresholds, follow-ups and exactly-once delivery against real receivers on 127.0.0.1.

The `store` fixture runs each test on SQLite and on PostgreSQL (when CASELINE_TEST_PG_URL is set).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from caseline.alerts import evaluate
from caseline.alerts.evaluate import LEASE
from caseline.store import Store
from caseline.store.alerts import AlertKey, AlertStateStore
from caseline.store.incidents import IncidentStore
from caseline.store.rows import AlertStateRow
from caseline.timeparse import format_utc, utc_now
from tests.alerts.helpers import (
    Receiver,
    ago,
    alert_settings,
    context,
    reopen,
    report,
    reports_from,
    save_incident,
)

SLACK_TOKEN = "T0001/B0002/slacksecrettoken42"
WEBHOOK_SECRET = "whsec-do-not-leak-81723"
PD_KEY = "pd-routing-key-do-not-leak-5521"
FIVE = ["a.com", "b.com", "c.com", "a.com", "b.com"]


def slack(r: Receiver) -> dict[str, Any]:
    return {"type": "slack", "url": f"{r.url}/services/{SLACK_TOKEN}"}


def webhook(r: Receiver) -> dict[str, Any]:
    return {"type": "webhook", "url": f"{r.url}/hook", "secret": WEBHOOK_SECRET}


def pagerduty(r: Receiver) -> dict[str, Any]:
    return {"type": "pagerduty", "routing_key": PD_KEY, "base_url": r.url}


def statuses(store: Store) -> dict[tuple[str, str, str, int], str]:
    return {(s.incident_id, s.sink, s.kind, s.generation): s.status for s in AlertStateStore(store).states()}


def test_one_opened_alert_per_incident_across_runs_and_a_restart(store: Store, receiver: Receiver) -> None:
    settings = alert_settings(webhook(receiver))
    save_incident(store, "inc-aaaaaa", reports_from(FIVE))
    first = evaluate(settings, store)
    assert [(o.incident, o.sink, o.kind, o.status) for o in first] == [
        ("inc-aaaaaa", "webhook:127.0.0.1", "opened", "sent")
    ]
    assert evaluate(settings, store) == []
    restarted = reopen(store)
    try:
        assert evaluate(settings, restarted) == []
    finally:
        restarted.engine.dispose()
    assert [a["kind"] for a in receiver.delivered] == ["opened"]
    body = receiver.delivered[0]
    assert body["type"] == "caseline.alert.v1"
    assert body["incident"]["id"] == "inc-aaaaaa"
    assert body["incident"]["report_count"] == 5
    assert body["incident"]["accounts"] == ["a.com", "b.com", "c.com"]
    assert body["incident"]["sources"] == {"zendesk": 5}
    assert body["incident"]["detected_at"].endswith("Z")
    assert set(body["incident"]) >= {"id", "title", "status", "severity", "first_seen", "detected_at",
                                     "report_count", "accounts", "sources"}
    assert statuses(store) == {("inc-aaaaaa", "webhook:127.0.0.1", "opened", 0): "sent"}


def test_detected_at_is_the_report_that_crossed_the_threshold(store: Store, receiver: Receiver) -> None:
    evidence = reports_from(["a.com", "a.com", "b.com", "b.com", "b.com", "c.com", "d.com"])
    save_incident(store, "inc-detect", evidence)
    evaluate(alert_settings(webhook(receiver)), store)
    body = receiver.delivered[0]["incident"]
    # the sixth report brings the third account: that is when it crossed (5 reports, 3 accounts)
    assert body["detected_at"] == format_utc(evidence[5].created_at)
    assert body["first_seen"] == format_utc(evidence[0].created_at)


def test_concurrent_evaluations_send_each_alert_once(store: Store, make_receiver: Any) -> None:
    hook, pd = make_receiver(), make_receiver()
    settings = alert_settings(webhook(hook), pagerduty(pd))
    for n in range(4):
        save_incident(store, f"inc-conc{n:02d}", reports_from(FIVE, start=10 * n + 1))
    stores = [reopen(store) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    results: list[Any] = []
    errors: list[BaseException] = []

    def worker(own: Store) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(evaluate(settings, own))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for s in stores:
        s.engine.dispose()
    assert errors == []
    assert sorted(a["incident"]["id"] for a in hook.delivered) == [f"inc-conc{n:02d}" for n in range(4)]
    assert sorted(e["dedup_key"] for e in pd.delivered) == [f"inc-conc{n:02d}" for n in range(4)]
    sent = [o for batch in results for o in batch if o.status == "sent"]
    assert len(sent) == 8  # each alert reported sent by exactly one of the concurrent callers


def test_growth_escalation_and_resolution_each_follow_up_once(store: Store, receiver: Receiver) -> None:
    settings = alert_settings(webhook(receiver))
    evidence = reports_from(FIVE)
    incident = save_incident(store, "inc-follow", evidence)
    evaluate(settings, store)

    # 3 → 5 accounts is not a doubling: nothing
    more = reports_from(["d.com", "e.com"], start=6, at=ago(minutes=30))
    incident = save_incident(store, "inc-follow", evidence + more)
    assert evaluate(settings, store) == []

    # 3 → 6 accounts: grew, once
    evidence = evidence + more + [report(8, "f.com", ago(minutes=20))]
    incident = save_incident(store, "inc-follow", evidence)
    assert [(o.kind, o.status) for o in evaluate(settings, store)] == [("grew", "sent")]
    assert evaluate(settings, store) == []

    # a linked Jira issue appears: escalated, once
    jira = context("jira", "10001", ago(minutes=10))
    evidence = [*evidence, jira]
    save_incident(store, "inc-follow", evidence)
    assert [(o.kind, o.status) for o in evaluate(settings, store)] == [("escalated", "sent")]
    assert evaluate(settings, store) == []

    # severity rises: grew again (a new generation)
    save_incident(store, "inc-follow", evidence, severity="sev1")
    assert [(o.kind, o.generation, o.status) for o in evaluate(settings, store)] == [("grew", 2, "sent")]
    assert evaluate(settings, store) == []

    # resolved: once, and nothing after it
    save_incident(store, "inc-follow", evidence, status="resolved", severity="sev1")
    assert [(o.kind, o.status) for o in evaluate(settings, store)] == [("resolved", "sent")]
    assert evaluate(settings, store) == []
    assert evaluate(settings, reopen(store)) == []
    assert [a["kind"] for a in receiver.delivered] == ["opened", "grew", "escalated", "grew", "resolved"]
    assert receiver.delivered[-1]["incident"]["status"] == "resolved"
    assert incident.id == "inc-follow"


def test_a_link_to_a_jira_issue_counts_as_escalation(store: Store, receiver: Receiver) -> None:
    settings = alert_settings(webhook(receiver))
    evidence = reports_from(FIVE)
    save_incident(store, "inc-linked", evidence)
    evaluate(settings, store)
    slack_msg = context("slack", "C1:1700000000.000100", ago(minutes=5), links=["jira:issue:OPS-7"])
    save_incident(store, "inc-linked", [*evidence, slack_msg])
    assert [o.kind for o in evaluate(settings, store)] == ["escalated"]


def test_already_escalated_at_opening_gets_no_escalated_follow_up(store: Store, receiver: Receiver) -> None:
    settings = alert_settings(webhook(receiver))
    evidence = [*reports_from(FIVE), context("linear", "ENG-42", ago(minutes=50))]
    save_incident(store, "inc-early", evidence)
    assert [o.kind for o in evaluate(settings, store)] == ["opened"]
    assert evaluate(settings, store) == []


def test_pagerduty_trigger_follow_up_and_resolve_share_the_dedup_key(store: Store, receiver: Receiver) -> None:
    settings = alert_settings(pagerduty(receiver))
    evidence = reports_from(FIVE)
    save_incident(store, "inc-pdpdpd", evidence, severity="sev2")
    evaluate(settings, store)
    save_incident(store, "inc-pdpdpd", evidence, status="resolved", severity="sev2")
    evaluate(settings, store)
    events = receiver.delivered
    assert [r.path for r in receiver.ok()] == ["/v2/enqueue", "/v2/enqueue"]
    assert [(e["event_action"], e["dedup_key"]) for e in events] == [
        ("trigger", "inc-pdpdpd"), ("resolve", "inc-pdpdpd")
    ]
    assert events[0]["routing_key"] == PD_KEY
    assert events[0]["payload"]["severity"] == "error"
    assert events[0]["payload"]["source"] == "caseline"
    assert "5 reports from 3 accounts" in events[0]["payload"]["summary"]


def test_a_sink_answering_500_then_200_gets_the_alert_once(store: Store, receiver: Receiver) -> None:
    receiver.answer(500, 503)
    save_incident(store, "inc-retry1", reports_from(FIVE))
    outcomes = evaluate(alert_settings(webhook(receiver)), store)
    assert [(o.kind, o.status) for o in outcomes] == [("opened", "sent")]
    assert [r.headers["x-answered"] for r in receiver.requests] == ["500", "503", "200"]
    assert len(receiver.delivered) == 1
    assert evaluate(alert_settings(webhook(receiver)), store) == []
    assert len(receiver.requests) == 3


def test_a_sink_that_stays_down_blocks_no_other_and_is_retried_next_cycle(
    store: Store, make_receiver: Any
) -> None:
    down, up = make_receiver(), make_receiver()
    down.answer(then=502)
    settings = alert_settings(slack(down), webhook(up))
    save_incident(store, "inc-down01", reports_from(FIVE))
    save_incident(store, "inc-down02", reports_from(FIVE, start=20))
    outcomes = {(o.incident, o.sink): o for o in evaluate(settings, store)}
    assert outcomes["inc-down01", "webhook:127.0.0.1"].status == "sent"
    assert outcomes["inc-down02", "webhook:127.0.0.1"].status == "sent"
    failed = [o for o in outcomes.values() if o.sink == "slack"]
    assert sorted(o.status for o in failed) == ["failed", "pending"]  # the second was not even tried
    first_failure = next(o for o in failed if o.status == "failed")
    assert first_failure.error == "slack: 502 Bad Gateway on POST (gave up after 4 attempts)"
    assert len(down.requests) == 4  # one alert's retries, then the sink is left alone this cycle
    rows = {(s.incident_id, s.sink): s for s in AlertStateStore(store).states()}
    assert rows[first_failure.incident, "slack"].status == "failed"
    assert rows[first_failure.incident, "slack"].attempts == 1
    assert SLACK_TOKEN not in (rows[first_failure.incident, "slack"].last_error or "")

    down.answer(then=200)
    again = evaluate(settings, reopen(store))
    assert sorted((o.incident, o.sink, o.status) for o in again) == [
        ("inc-down01", "slack", "sent"), ("inc-down02", "slack", "sent")
    ]
    assert len(down.delivered) == 2
    assert len(up.delivered) == 2  # sent rows are never sent again
    assert evaluate(settings, store) == []


def test_a_4xx_is_not_retried_within_a_cycle_and_other_alerts_still_go(store: Store, receiver: Receiver) -> None:
    receiver.answer(400)
    save_incident(store, "inc-bad001", reports_from(FIVE))
    save_incident(store, "inc-bad002", reports_from(FIVE, start=20))
    outcomes = evaluate(alert_settings(pagerduty(receiver)), store)
    assert sorted(o.status for o in outcomes) == ["failed", "sent"]
    failed = next(o for o in outcomes if o.status == "failed")
    assert failed.error == "pagerduty: 400 Bad Request on POST: Event object is invalid"
    assert len(receiver.requests) == 2
    # next cycle retries the failed one (the config may have been fixed)
    assert [(o.incident, o.status) for o in evaluate(alert_settings(pagerduty(receiver)), store)] == [
        (failed.incident, "sent")
    ]


def test_webhook_signature_is_hmac_sha256_of_the_exact_body(store: Store, receiver: Receiver) -> None:
    save_incident(store, "inc-hmac01", reports_from(FIVE))
    evaluate(alert_settings(webhook(receiver)), store)
    (request,) = receiver.requests
    expected = hmac.new(WEBHOOK_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-caseline-signature"] == f"sha256={expected}"
    assert request.headers["content-type"] == "application/json"
    wrong = hmac.new(b"another secret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-caseline-signature"] != f"sha256={wrong}"


def test_noise_below_the_threshold_never_alerts(store: Store, receiver: Receiver) -> None:
    settings = alert_settings(webhook(receiver))
    save_incident(store, "inc-few001", reports_from(["a.com", "b.com", "c.com", "d.com"]))  # 4 reports
    save_incident(store, "inc-narrow", reports_from(["a.com", "b.com", "a.com", "b.com", "a.com", "b.com"],
                                                    start=10))  # 2 accounts
    spread = reports_from(["a.com", "b.com", "c.com", "d.com", "e.com"], start=20, at=ago(hours=6),
                          spacing=timedelta(minutes=40))  # never 5 within 30 minutes
    save_incident(store, "inc-spread", spread)
    context_only = [context("slack", f"C1:17000000{n}.000100", ago(minutes=n)) for n in range(8)]
    save_incident(store, "inc-chat01", context_only)  # context is not reports
    deleted = [r.model_copy(update={"deleted": True}) for r in reports_from(FIVE, start=40)]
    save_incident(store, "inc-delete", deleted)
    for _ in range(2):
        assert evaluate(settings, store) == []
        assert evaluate(settings, store, dry_run=True) == []
    assert receiver.requests == []
    assert statuses(store) == {}


def test_reports_without_an_account_count_distinct_people(store: Store, receiver: Receiver) -> None:
    at = ago(hours=1)
    people = [report(n, None, at + timedelta(minutes=n), email=f"p{n % 3}@gmail.com") for n in range(5)]
    save_incident(store, "inc-people", people)
    assert [o.kind for o in evaluate(alert_settings(webhook(receiver)), store)] == ["opened"]
    same = [report(n, None, at + timedelta(minutes=n), email="same@gmail.com") for n in range(10, 16)]
    save_incident(store, "inc-samepp", same)
    assert evaluate(alert_settings(webhook(receiver)), store) == []


def test_an_incident_older_than_max_age_is_recorded_not_sent(store: Store, receiver: Receiver) -> None:
    settings = alert_settings(webhook(receiver))
    old = reports_from(FIVE, at=ago(days=3))
    save_incident(store, "inc-old001", old)
    outcomes = evaluate(settings, store)
    assert [(o.kind, o.status) for o in outcomes] == [("opened", "suppressed")]
    assert outcomes[0].note == "latest report older than alerts.max_age"
    assert evaluate(settings, store) == []
    assert statuses(store) == {("inc-old001", "webhook:127.0.0.1", "opened", 0): "suppressed"}
    assert receiver.requests == []

    # the dormant incident comes back with fresh reports: now it is news, sent once
    save_incident(store, "inc-old001", old + reports_from(["x.com"], start=60, at=ago(minutes=5)))
    assert [(o.kind, o.status) for o in evaluate(settings, store)] == [("opened", "sent")]
    assert evaluate(settings, store) == []
    assert len(receiver.delivered) == 1


def test_max_age_comes_from_the_config(store: Store, receiver: Receiver) -> None:
    save_incident(store, "inc-hour01", reports_from(FIVE, at=ago(hours=3)))
    assert [o.status for o in evaluate(alert_settings(webhook(receiver), max_age="2h"), store)] == ["suppressed"]
    assert receiver.requests == []
    # with a longer max_age the same incident is current: the suppressed alert is revived and sent once
    assert [o.status for o in evaluate(alert_settings(webhook(receiver), max_age="4h"), store)] == ["sent"]
    assert evaluate(alert_settings(webhook(receiver), max_age="4h"), store) == []


def test_dismissed_and_merged_incidents_never_alert(store: Store, receiver: Receiver) -> None:
    settings = alert_settings(webhook(receiver))
    save_incident(store, "inc-dismis", reports_from(FIVE), status="dismissed")
    save_incident(store, "inc-merged", reports_from(FIVE, start=20), merged_into="inc-other1")
    assert evaluate(settings, store) == []
    assert evaluate(settings, store, dry_run=True) == []
    assert receiver.requests == []


def test_an_alert_waiting_for_a_sink_is_cancelled_when_the_incident_is_dismissed(
    store: Store, receiver: Receiver
) -> None:
    receiver.answer(then=503)
    settings = alert_settings(webhook(receiver))
    evidence = reports_from(FIVE)
    save_incident(store, "inc-cancel", evidence)
    assert [o.status for o in evaluate(settings, store)] == ["failed"]
    save_incident(store, "inc-cancel", evidence, status="dismissed")
    receiver.answer(then=200)
    outcomes = evaluate(settings, store)
    assert [(o.kind, o.status) for o in outcomes] == [("opened", "cancelled")]
    assert receiver.delivered == []
    assert evaluate(settings, store) == []
    # the responder takes the dismissal back: the incident is news after all, sent once
    save_incident(store, "inc-cancel", evidence, status="confirmed")
    assert [(o.kind, o.status) for o in evaluate(settings, store)] == [("opened", "sent")]
    assert evaluate(settings, store) == []
    assert len(receiver.delivered) == 1


def test_an_incident_already_resolved_when_first_crossing_is_not_paged(store: Store, receiver: Receiver) -> None:
    save_incident(store, "inc-over01", reports_from(FIVE), status="resolved")
    outcomes = evaluate(alert_settings(pagerduty(receiver)), store)
    assert [(o.kind, o.status) for o in outcomes] == [("opened", "suppressed")]
    assert receiver.requests == []


def test_dry_run_shows_the_bodies_and_records_nothing(store: Store, receiver: Receiver) -> None:
    settings = alert_settings(webhook(receiver), pagerduty(receiver))
    save_incident(store, "inc-dryrun", reports_from(FIVE))
    save_incident(store, "inc-dryold", reports_from(FIVE, start=20, at=ago(days=2)))
    planned = evaluate(settings, store, dry_run=True)
    assert sorted((o.incident, o.sink, o.status) for o in planned) == [
        ("inc-dryold", "pagerduty", "would_suppress"),
        ("inc-dryold", "webhook:127.0.0.1", "would_suppress"),
        ("inc-dryrun", "pagerduty", "would_send"),
        ("inc-dryrun", "webhook:127.0.0.1", "would_send"),
    ]
    shown = planned[-1].as_json(with_body=True)
    assert set(shown) >= {"incident", "sink", "kind", "status", "alert"}
    assert shown["alert"]["type"] == "caseline.alert.v1" and shown["alert"]["kind"] == "opened"
    assert receiver.requests == []
    assert statuses(store) == {}
    assert [o.status for o in evaluate(settings, store) if o.incident == "inc-dryrun"] == ["sent", "sent"]


def test_dry_run_lists_alerts_waiting_for_a_retry(store: Store, receiver: Receiver) -> None:
    receiver.answer(then=500)
    settings = alert_settings(webhook(receiver))
    save_incident(store, "inc-waits1", reports_from(FIVE))
    evaluate(settings, store)
    requests = len(receiver.requests)
    planned = evaluate(settings, store, dry_run=True)
    assert [(o.kind, o.status) for o in planned] == [("opened", "would_send")]
    assert len(receiver.requests) == requests


def test_secrets_never_appear_in_outcomes_or_state(store: Store, make_receiver: Any) -> None:
    broken = make_receiver()
    broken.answer(then=404)
    settings = alert_settings(slack(broken), webhook(broken), pagerduty(broken))
    save_incident(store, "inc-secret", reports_from(FIVE))
    outcomes = evaluate(settings, store)
    assert {o.sink for o in outcomes} == {"slack", "webhook:127.0.0.1", "pagerduty"}
    assert all(o.status == "failed" for o in outcomes)
    text = repr(outcomes) + repr([o.as_json(with_body=True) for o in outcomes])
    text += repr(AlertStateStore(store).states())
    for secret in (SLACK_TOKEN, WEBHOOK_SECRET, PD_KEY):
        assert secret not in text


def test_merged_incident_survivor_keeps_its_own_alert_state(store: Store, receiver: Receiver) -> None:
    settings = alert_settings(webhook(receiver))
    save_incident(store, "inc-keep01", reports_from(FIVE))
    evaluate(settings, store)
    # another incident is folded into it: the survivor's alert history stands, no second `opened`
    save_incident(store, "inc-fold01", reports_from(FIVE, start=20), merged_into="inc-keep01")
    assert evaluate(settings, store) == []
    assert IncidentStore(store).get("inc-fold01") is not None
    assert len(receiver.delivered) == 1


def test_a_delivery_in_flight_is_left_alone_until_its_lease_expires(store: Store, receiver: Receiver) -> None:
    settings = alert_settings(webhook(receiver))
    save_incident(store, "inc-lease1", reports_from(FIVE))
    assert [o.status for o in evaluate(settings, store, dry_run=True)] == ["would_send"]
    states = AlertStateStore(store)
    key = AlertKey("inc-lease1", "webhook:127.0.0.1", "opened")
    assert states.claim(key, status="pending", payload={})
    # another run is sending it right now: nobody else may
    now = utc_now()
    assert states.lease(key, now=now, lease_expired_before=now - LEASE)
    assert evaluate(settings, store) == []
    assert receiver.requests == []
    # that run crashed mid-send: once the lease is over, the alert goes out (at least once)
    crashed = now - LEASE - timedelta(seconds=1)
    with store.transaction() as conn:
        conn.execute(update(AlertStateRow.__table__).values(attempted_at=crashed))  # type: ignore[attr-defined]
    assert [(o.kind, o.status) for o in evaluate(settings, store)] == [("opened", "sent")]
    assert len(receiver.delivered) == 1
    assert AlertStateStore(store).states()[0].attempts == 2
