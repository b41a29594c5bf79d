"""Appointments (issue 16, item 5): a citizen who booked a slot is checked in by the
booking service over RPC, and the ticket's place follows one rule (``domain.call_order``):

* it counts as arriving at ``max(issued_at, slot_start)``: early, it waits for its slot
  and passes nobody who came before it; late, it counts from check-in;
* once its slot time has come it heads the regular lane (ahead of walk-ins), oldest
  first; the priority streak rule applies between the lanes as before;
* a holder who claims a priority group is in the priority lane.

Times are fixed: the day starts at 09:00 in Jakarta (02:00 UTC).
"""

import random
from datetime import UTC, datetime, timedelta

import pytest
from marshmallow import ValidationError

from services.kernel.errors import InvalidInput
from services.queue import domain, schemas
from services.queue.domain import call_order, choose_next

from .test_commands import serve

NINE = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 09:00 WIB


def at(hhmm):
    hours, minutes = map(int, hhmm.split(":"))
    return NINE + timedelta(hours=hours - 9, minutes=minutes)


def slot(hhmm, booking="BK0001"):
    return {"booking": booking, "slot_start": at(hhmm)}


# -- the rule, in the domain -------------------------------------------------------------

def ticket(name, issued, number, priority=None, appointment=None):
    issued_at = at(issued)
    return {"_id": name, "priority": priority, "appointment": appointment,
            "issued_at": issued_at,
            "queue_key": domain.queue_key(domain.arrival(issued_at, appointment), number)}


def names(order):
    return [call.ticket["_id"] for call in order]


def test_a_ticket_counts_as_arriving_at_the_later_of_check_in_and_slot():
    assert domain.arrival(at("09:05")) == at("09:05")
    assert domain.arrival(at("09:05"), slot("09:30")) == at("09:30")  # early: the slot
    assert domain.arrival(at("09:40"), slot("09:30")) == at("09:40")  # late: check-in


def test_an_early_check_in_waits_for_its_slot_behind_walk_ins_who_came_before_it():
    waiting = [ticket("W1", "09:00", 1), ticket("A", "09:05", 2, appointment=slot("09:30")),
               ticket("W2", "09:10", 3), ticket("W3", "09:20", 4)]
    # At 09:20 the slot has not come: A is behind everyone, even those who came after it.
    assert names(call_order(waiting, 0, 2, at("09:20"))) == ["W1", "W2", "W3", "A"]
    # A walk-in who arrives after the slot time is behind it.
    later = [*waiting, ticket("W4", "09:35", 5)]
    assert names(call_order(later, 0, 2, at("09:29")))[-2:] == ["A", "W4"]


def test_at_slot_time_it_goes_ahead_of_walk_ins_who_arrived_earlier():
    waiting = [ticket("W1", "09:00", 1), ticket("A", "09:05", 2, appointment=slot("09:30")),
               ticket("W2", "09:10", 3), ticket("B", "09:12", 4, appointment=slot("09:15"))]
    assert names(call_order(waiting, 0, 2, at("09:30"))) == ["B", "A", "W1", "W2"]
    # At 09:15 only B's slot has come.
    assert names(call_order(waiting, 0, 2, at("09:15"))) == ["B", "W1", "W2", "A"]


def test_a_late_check_in_counts_from_check_in():
    # L booked 09:00 but checks in at 09:20; E booked 09:10 and came on time.
    waiting = [ticket("W1", "09:02", 1), ticket("E", "09:08", 2, appointment=slot("09:10")),
               ticket("L", "09:20", 3, appointment=slot("09:00"))]
    assert names(call_order(waiting, 0, 2, at("09:25"))) == ["E", "L", "W1"]
    # Without the late check-in, its 09:00 slot would have put it first.
    on_time = [*waiting[:2], ticket("L", "08:59", 3, appointment=slot("09:00"))]
    assert names(call_order(on_time, 0, 2, at("09:25"))) == ["L", "E", "W1"]


def test_the_priority_streak_applies_between_the_priority_lane_and_due_appointments():
    waiting = [ticket("W1", "09:00", 1), ticket("P1", "09:01", 2, priority="elderly"),
               ticket("P2", "09:02", 3, priority="pregnant"),
               ticket("P3", "09:03", 4, priority="disability"),
               ticket("A", "09:04", 5, appointment=slot("09:05"))]
    # Priority first, at most two in a row while a regular ticket (here the due A) waits.
    assert names(call_order(waiting, 0, 2, at("09:10"))) == ["P1", "P2", "A", "P3", "W1"]
    # An appointment never passes what the priority rule calls next.
    assert names(call_order(waiting, 1, 2, at("09:10"), limit=1)) == ["P1"]
    assert names(call_order(waiting, 2, 2, at("09:10"), limit=1)) == ["A"]
    order = call_order(waiting, 0, 2, at("09:10"))
    assert [call.streak for call in order] == [1, 2, 0, 1, 0]


def test_a_holder_claiming_a_priority_group_is_in_the_priority_lane():
    waiting = [ticket("W1", "09:00", 1), ticket("P1", "09:03", 2, priority="child"),
               ticket("AP", "09:01", 3, priority="elderly", appointment=slot("09:02")),
               ticket("A", "09:01", 4, appointment=slot("09:02"))]
    assert names(call_order(waiting, 0, 2, at("09:10"))) == ["AP", "P1", "A", "W1"]


MIX = [None, None, None, "elderly", "pregnant", "disability", "child", "disaster_victim"]


def random_mix(rng, n, now):
    waiting = []
    for i in range(n):
        issued = now - timedelta(minutes=rng.randint(0, 180))
        priority = rng.choice(MIX)
        appointment = None
        if rng.random() < 0.4:  # a slot before or after now, checked in early or late
            appointment = {"booking": f"BK{i:04d}",
                           "slot_start": now + timedelta(minutes=rng.randint(-120, 60))}
        key = domain.queue_key(domain.arrival(issued, appointment), i + 1)
        if rng.random() < 0.05:
            key = domain.front_key({"queue_key": key})  # returned to the front
        waiting.append({"_id": f"t{i}", "queue_key": key, "priority": priority,
                        "appointment": appointment, "issued_at": issued})
    return waiting


def test_the_first_of_the_call_order_is_what_choose_next_picks_with_appointments():
    rng = random.Random(16_5)
    now = at("11:00")
    for _ in range(2000):
        waiting = random_mix(rng, rng.randint(0, 12), now)
        streak, max_streak = rng.randint(0, 4), rng.randint(1, 3)
        order = call_order(waiting, streak, max_streak, now)
        priority = [t for t in waiting if t["priority"] is not None]
        regular = [t for t in waiting if t["priority"] is None]
        # Due: returned to the front, or its slot time has come and it checked in.
        due = [t for t in regular if t["appointment"] and (
            t["queue_key"] < 0 or domain.arrival(t["issued_at"], t["appointment"]) <= now)]
        pick = choose_next(bool(priority), bool(regular), streak, max_streak)
        if pick.kind is None:
            assert order == []
            continue
        lane = priority if pick.kind == "priority" else (due or regular)
        first = min(lane, key=lambda t: t["queue_key"])
        assert order[0] == domain.Call(first, pick.streak), (waiting, streak, max_streak)
        assert len(order) == len(waiting)
        # Call-next reads only each lane's head (priority, regular, appointments): the
        # first of their order is the first of the whole order.
        heads = [min(group, key=lambda t: t["queue_key"]) for group in (
            priority, regular, [t for t in regular if t["appointment"]]) if group]
        assert call_order(heads, streak, max_streak, now, limit=1) == order[:1]
        rest = [t for t in waiting if t is not first]
        assert call_order(rest, pick.streak, max_streak, now) == order[1:]


# -- the use cases -----------------------------------------------------------------------

def test_call_next_and_the_console_follow_the_rule(queue, queries, clock):
    queue.open_counter("L01")
    issued = {}

    def issue(name, hhmm, **options):
        clock.now = at(hhmm)
        issued[queue.issue("KTP-EL", **options)[0]["ticket_id"]] = name

    issue("W1", "09:00")
    issue("A", "09:05", channel="appointment", appointment=slot("09:30", "BOOK0A"))
    for n, hhmm in enumerate(("09:10", "09:12", "09:14", "09:16"), 2):
        issue(f"W{n}", hhmm)
    issue("P", "09:18", priority="elderly")
    issue("L", "09:24", channel="appointment", appointment=slot("09:20", "BOOK0L"))

    clock.now = at("09:25")  # A's slot has not come; L's has (L is late: from 09:24)
    shown = queries.counter_waiting("L01", limit=2)
    assert [issued[item["ticket_id"]] for item in shown["items"]] == ["P", "L"]
    assert shown["items"][1]["appointment"] == {"booking": "BOOK0L",
                                               "slot_start": at("09:20")}
    clock.now = at("09:30")
    shown = queries.counter_waiting("L01", limit=3)
    assert [issued[item["ticket_id"]] for item in shown["items"]] == ["P", "L", "A"]
    assert shown["total"] == 8
    everything = queries.counter_waiting("L01", limit=50)["items"]
    called = []
    while (ticket := queue.call_next("L01")) is not None:
        called.append(issued[ticket["_id"]])
        serve(queue, "L01", ticket["_id"], clock, minutes=0)
    assert called == [issued[item["ticket_id"]] for item in everything]
    assert called == ["P", "L", "A", "W1", "W2", "W3", "W4", "W5"]


def test_an_appointment_is_on_the_ticket_its_view_and_its_events(queue, queries, repo, clock):
    clock.now = at("09:10")
    view, _secret = queue.issue("KTP-EL", channel="appointment", appointment={
        "booking": "AB12CD", "slot_start": datetime.fromisoformat("2026-11-23T09:30:00+07:00")})
    assert view["appointment"] == {"booking": "AB12CD", "slot_start": at("09:30")}
    assert queries.view(view["ticket_id"])["appointment"]["booking"] == "AB12CD"
    walk_in, _ = queue.issue("KTP-EL")
    assert walk_in["appointment"] is None
    events = [entry["envelope"] for doc in repo.db.tickets.find()
              for entry in doc.get("outbox", [])]
    assert {e["data"]["ticket_number"]: e["data"]["appointment"] for e in events} == {
        "A-001": {"booking": "AB12CD", "slot_start": "2026-11-23T02:30:00.000Z"},
        "A-002": None}


def test_the_appointment_channel_and_an_appointment_go_together(queue, clock):
    with pytest.raises(InvalidInput) as refused:
        queue.issue("KTP-EL", channel="appointment")
    assert list(refused.value.fields) == ["appointment"]
    with pytest.raises(InvalidInput):
        queue.issue("KTP-EL", channel="kiosk", appointment=slot("09:30"))
    with pytest.raises(InvalidInput) as refused:  # a slot of another day
        queue.issue("KTP-EL", channel="appointment",
                    appointment={"booking": "BK01", "slot_start": at("09:30") + timedelta(days=1)})
    assert list(refused.value.fields) == ["appointment.slot_start"]


@pytest.mark.parametrize("body, field", [
    ({"channel": "appointment"}, "appointment"),
    ({"appointment": {"booking": "BK01", "slot_start": "2026-11-23T09:30:00+07:00"}},
     "appointment"),
    ({"channel": "appointment", "appointment": {"booking": "bk01",
                                                "slot_start": "2026-11-23T09:30:00+07:00"}},
     "appointment"),
    ({"channel": "appointment", "appointment": {"booking": "BK01",
                                                "slot_start": "2026-11-23T09:30:00"}},
     "appointment"),
])
def test_the_rpc_schema_checks_an_appointment(body, field):
    with pytest.raises(ValidationError) as refused:
        schemas.RpcIssueTicketSchema().load({"service": "KTP-EL", **body})
    assert list(refused.value.messages) == [field]
    loaded = schemas.RpcIssueTicketSchema().load({"service": "KTP-EL", "channel": "appointment",
                                          "appointment": {"booking": "BK01", "slot_start":
                                                          "2026-11-23T09:30:00+07:00"}})
    assert loaded["appointment"]["slot_start"] == at("09:30")


def test_the_http_schema_has_no_appointment():
    with pytest.raises(ValidationError) as refused:
        schemas.IssueTicketSchema().load({"service": "KTP-EL", "channel": "appointment"})
    assert list(refused.value.messages) == ["appointment"]
    assert "appointment" not in schemas.IssueTicketSchema().fields


# -- HTTP: only the booking service, over RPC, issues an appointment ----------------------

APPOINTMENT = {"booking": "BK01", "slot_start": "2026-11-23T09:30:00+07:00"}


@pytest.mark.parametrize("caller", ["web", "kiosk", "operator", "admin"])
@pytest.mark.parametrize("body", [{"channel": "appointment", "appointment": APPOINTMENT},
                                  {"appointment": APPOINTMENT}, {"appointment": None}])
def test_http_issuing_refuses_an_appointment_from_every_caller(repo, clock, caller, body):
    from nameko.testing.services import worker_factory

    from services.kernel import tokens
    from services.queue.queries import Settings
    from services.queue.service import QueueService

    from .conftest import default_catalog
    from .test_access import ADMIN, SECRET, bearer, call, operator

    service = worker_factory(QueueService, repository=repo, catalog=default_catalog(),
                             clock=clock, settings=Settings(),
                             config={"AUTH_SECRET": SECRET, "ADMIN_TOKEN": ADMIN,
                                     "ALLOW_PUBLIC_ISSUING": "true"})
    headers = {"web": {}, "operator": operator(), "admin": bearer(ADMIN),
               "kiosk": bearer(tokens.issue_token(SECRET, "device:lobi", "kiosk", 3600,
                                                  site="BWI"))}[caller]
    status, refused = call(service, "http_issue", "/api/queue/tickets", headers,
                           {"service": "KTP-EL", **body})
    assert (status, refused["error"], list(refused["fields"])) == (
        400, "validation_error", ["appointment"]), refused
    assert repo.db.tickets.count_documents({}) == 0
    # The same callers still issue without one.
    status, issued = call(service, "http_issue", "/api/queue/tickets", headers,
                          {"service": "KTP-EL"})
    assert status == 201 and issued["appointment"] is None
