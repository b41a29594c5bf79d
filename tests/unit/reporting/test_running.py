"""Running figures give exactly the daily report of the facts applied so far."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.reporting import domain
from services.reporting.running import RunningDay

SITE, DAY, TZ = "BWI", "2026-11-23", "Asia/Jakarta"
T0 = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)  # 07:30 in Jakarta
STATUSES = ["waiting", "called", "serving", "completed", "no_show", "cancelled", "transferred"]


def random_fact(rng, ticket_id, events):
    status = rng.choice(STATUSES)
    issued = T0 + timedelta(minutes=rng.randrange(0, 600))
    called = status != "waiting" and rng.random() < 0.95
    wait = rng.choice([0.0, 12.5, 60.0, 61.25, rng.uniform(0, 3600)]) if called else None
    ended = issued + timedelta(minutes=rng.randrange(0, 300)) \
        if status in domain.OUTCOMES else None
    return {
        "_id": ticket_id, "site": rng.choice([SITE, SITE, SITE, "OTHER"]),
        "local_day": rng.choice([DAY, DAY, DAY, "2026-11-24"]),
        "agency": rng.choice(["DUK", "POL", "BPN"]),
        "service": rng.choice(["KTP", "KK", "SIM", "SERT", "AKTA"]),
        "counter": rng.choice([None, "L01", "L02", "L03"]) if called else None,
        "status": status, "channel": rng.choice(["kiosk", "web", "transfer", None]),
        "priority": rng.choice([None, None, "elderly", "disabled"]),
        "target_wait_minutes": rng.choice([None, 0, 10, 30]),
        "issued_at": issued, "ended_at": ended, "waiting_seconds": wait,
        "service_seconds": rng.choice([None, 30.0, rng.uniform(1, 900)])
        if status in domain.BUSY else None,
        "events": events, "issued_seen": rng.random() < 0.9,
    }


@pytest.mark.parametrize("seed", range(12))
def test_running_figures_equal_the_daily_report_after_every_change(seed):
    rng = random.Random(seed)
    day, latest = RunningDay(SITE, DAY, TZ), {}
    names = {("agencies", "DUK"): "Dukcapil", ("services", "KTP"): "KTP-el"}
    for step in range(400):
        ticket_id = f"t{rng.randrange(0, 60)}"
        before = latest.get(ticket_id)
        events = (before["events"] if before else 0) + rng.choice([1, 1, 2, 0, -1])
        fact = random_fact(rng, ticket_id, max(events, 1))
        if before is not None:  # a ticket keeps its site and day
            fact.update(site=before["site"], local_day=before["local_day"])
        applied = day.apply(fact)
        in_day = fact["site"] == SITE and fact["local_day"] == DAY
        newer = before is None or fact["events"] >= before["events"]
        assert applied == (in_day and newer)
        if newer:
            latest[ticket_id] = fact
        if step % 20 == 0 or step == 399:
            expected = domain.daily_report(list(latest.values()), SITE, DAY, TZ, names)
            assert day.report(names) == expected


def test_an_empty_day_and_a_ticket_that_leaves_every_group():
    day = RunningDay(SITE, DAY, TZ)
    assert day.report() == domain.daily_report([], SITE, DAY, TZ)
    fact = random_fact(random.Random(1), "t1", 1) | {"site": SITE, "local_day": DAY,
                                                    "issued_seen": True}
    day.apply(fact)
    assert day.report()["totals"]["issued"] == 1
    day.apply({**fact, "issued_seen": False, "events": 2})  # e.g. a replay's correction
    assert day.report() == domain.daily_report([], SITE, DAY, TZ)
    assert day.agencies == day.services == day.counters == day.hours == {}


def test_an_older_fact_never_replaces_a_newer_one():
    day = RunningDay(SITE, DAY, TZ)
    fact = random_fact(random.Random(2), "t1", 3) | {"site": SITE, "local_day": DAY}
    assert day.apply(fact)
    assert not day.apply({**fact, "events": 2, "status": "waiting"})
    assert day.facts["t1"] is fact
