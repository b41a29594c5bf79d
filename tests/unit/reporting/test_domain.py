"""Facts from events in any order, statistics, and the daily report."""

from datetime import UTC, datetime, timedelta

from services.kernel.events import Event
from services.queue import domain as queue_domain
from services.reporting import domain

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 08:00 in Jakarta


def ticket(**kw):
    base = {"_id": "t1", "visit_id": "t1", "leg": 1, "site": "BWI", "agency": "DUK",
            "service": "KTP", "ticket_number": "A-001", "local_day": "2026-11-23",
            "status": "waiting", "channel": "kiosk", "priority": None, "target_wait_minutes": 10,
            "recalls": 0, "issued_at": T0}
    return {**base, **kw}


def lifecycle(ticket_id="t1", wait_min=12, serve_min=8, **kw):
    """The envelopes the queue publishes for one served ticket, in publishing order."""
    t = ticket(_id=ticket_id, visit_id=ticket_id, **kw)
    called = t["issued_at"] + timedelta(minutes=wait_min)
    serving = called + timedelta(minutes=1)
    ended = serving + timedelta(minutes=serve_min)
    steps = [
        ("issue", t["issued_at"], {}),  # what issuing adds to its event: see below
        ("call", called, {"status": "called", "counter": "L01", "called_at": called}),
        ("start", serving, {"status": "serving", "serving_at": serving}),
        ("complete", ended, {"status": "completed", "ended_at": ended}),
    ]
    envelopes = []
    for action, moment, changes in steps:
        t = {**t, **changes}
        extra = {"position": 1, "estimated_wait_minutes": 5} if action == "issue" else {}
        envelopes.append(queue_domain.ticket_event(t, action, moment, **extra)
                         .envelope("/antre/queue"))
    return envelopes


def test_a_fact_is_the_same_whatever_order_its_events_arrive_in():
    events = lifecycle()
    in_order = domain.fold_ticket(events)
    assert domain.fold_ticket(list(reversed(events))) == in_order
    assert domain.fold_ticket([events[3], events[0], events[2], events[1]]) == in_order
    assert in_order["status"] == "completed"
    assert (in_order["waiting_seconds"], in_order["service_seconds"]) == (720, 480)
    assert in_order["called_at"] == T0 + timedelta(minutes=12)


def test_a_completion_before_its_call_still_gives_every_time():
    events = lifecycle()
    fact = domain.fold_ticket([events[3]])
    assert fact["status"] == "completed" and fact["called_at"] is not None
    assert fact["events"] == 1


def test_events_of_the_same_millisecond_follow_the_lifecycle():
    events = lifecycle(wait_min=0, serve_min=0)
    for e in events:
        e["time"] = events[0]["time"]
    assert domain.fold_ticket(list(reversed(events)))["status"] == "completed"


def test_stats_use_nearest_rank_p90():
    assert domain.stats([]) == {"count": 0, "mean": None, "median": None, "p90": None,
                                "max": None}
    values = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    assert domain.stats(values) == {"count": 10, "mean": 55, "median": 55, "p90": 90,
                                    "max": 100}
    assert domain.stats([5, 1, 3]) == {"count": 3, "mean": 3, "median": 3, "p90": 5, "max": 5}


def facts_of_a_small_day():
    facts = []
    for i, (wait, serve, priority) in enumerate([(5, 4, None), (15, 6, "elderly"),
                                                 (25, 8, None)]):
        events = lifecycle(f"t{i}", wait_min=wait, serve_min=serve, priority=priority,
                           issued_at=T0 + timedelta(minutes=i * 30))
        facts.append(domain.fold_ticket(events))
    cancelled = ticket(_id="t9", visit_id="t9", issued_at=T0 + timedelta(hours=2))
    issue = queue_domain.ticket_event(cancelled, "issue", T0 + timedelta(hours=2), position=1,
                                      estimated_wait_minutes=5)
    cancel = queue_domain.ticket_event({**cancelled, "status": "cancelled"}, "cancel",
                                       T0 + timedelta(hours=2, minutes=5), cancelled_by="citizen")
    facts.append(domain.fold_ticket([issue.envelope("/antre/queue"),
                                     cancel.envelope("/antre/queue")]))
    return facts


def test_daily_report_totals_times_sla_and_hours():
    report = domain.daily_report(facts_of_a_small_day(), "BWI", "2026-11-23", "Asia/Jakarta")
    totals = report["totals"]
    assert (totals["issued"], totals["served"], totals["cancelled"]) == (4, 3, 1)
    assert totals["waiting_time"] == {"count": 3, "mean": 900, "median": 900, "p90": 1500,
                                      "max": 1500}
    assert totals["service_time"]["mean"] == 360
    assert totals["within_target"] == {"count": 1, "of": 3, "share": 0.3333}
    assert totals["priorities"] == {"elderly": 1, "regular": 3}
    # Issued at 08:00, 08:30, 09:00, 10:00 local.
    assert [(h["hour"], h["issued"]) for h in report["hours"]] == [(8, 2), (9, 1), (10, 1)]
    assert report["busiest_hours"][0] == 8
    [counter] = report["counters"]
    assert (counter["counter"], counter["served"], counter["busy_seconds"]) == ("L01", 3, 1080)
    rows = domain.daily_csv_rows(report)
    assert rows[0][:6] == ["BWI", "2026-11-23", "site", "BWI", "", 4]


def test_prometheus_text_names_each_agency():
    text = domain.prometheus_text(facts_of_a_small_day(), ingested_total=13)
    assert 'antre_served_today{site="BWI",agency="DUK"} 3' in text
    assert 'antre_waiting_now{site="BWI",agency="DUK",service="KTP"} 0' in text
    assert 'antre_waiting_seconds_p90{site="BWI",agency="DUK"} 1500' in text
    assert "antre_events_ingested_total 13" in text
    assert "# TYPE antre_waiting_now gauge" in text


def test_the_day_closed_event_belongs_to_the_whole_site():
    assert Event("report", "day_closed", "reports/BWI/2026-11-23", {}, site="BWI").routing_key \
        == "report.day_closed._site"


def test_breakdown_has_a_row_per_agency_service_counter_and_hour():
    result = domain.breakdown(facts_of_a_small_day(), "BWI", "2026-11-23", "Asia/Jakarta")
    keys = [(r["agency"], r["service"], r["counter"], r["hour"]) for r in result["rows"]]
    assert keys == [("DUK", "KTP", None, 10), ("DUK", "KTP", "L01", 8), ("DUK", "KTP", "L01", 9)]
    assert [r["issued"] for r in result["rows"]] == [1, 2, 1]
    assert sum(r["served"] for r in result["rows"]) == 3


def test_a_service_completed_in_an_hour_without_arrivals_still_counts_in_that_hour():
    fact = domain.fold_ticket(lifecycle("late", wait_min=100, serve_min=30))  # 08:00 -> 10:11
    report = domain.daily_report([fact], "BWI", "2026-11-23", "Asia/Jakarta")
    assert [(h["hour"], h["issued"], h["served"]) for h in report["hours"]] == [(8, 1, 0),
                                                                             (10, 0, 1)]
    assert sum(h["served"] for h in report["hours"]) == report["totals"]["served"]
