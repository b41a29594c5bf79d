"""The queue's use cases on the configured Mongo store with a fake catalog."""

from datetime import UTC, datetime

import eventlet
import pytest

from services.kernel.errors import Conflict, InvalidInput, Unauthorized
from services.queue.commands import ServiceClosed
from services.queue.domain import InvalidTransition
from services.queue.repository import CounterBusy, QuotaExhausted

from .conftest import outbox_events


def serve(queue, counter, ticket_id, clock, minutes):
    queue.start(ticket_id, counter)
    clock.advance(minutes=minutes)
    return queue.complete(ticket_id, counter)


# -- issuing -----------------------------------------------------------------------------

def test_numbers_per_service_per_local_day(queue, clock):
    first, secret = queue.issue("KTP-EL")
    assert first["ticket_number"] == "A-001" and first["position"] == 1 and secret
    assert queue.issue("KTP-EL")[0]["ticket_number"] == "A-002"
    assert queue.issue("AKTA")[0]["ticket_number"] == "B-001"
    # 23:30 UTC is 06:30 next morning in Jakarta: a new local day, numbering restarts
    # (the site opens at 07:30, so move to 08:00 local).
    clock.now = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    again = queue.issue("KTP-EL")[0]
    assert (again["ticket_number"], again["local_day"]) == ("A-001", "2026-11-24")


def test_concurrent_issue_never_duplicates_a_number(queue):
    pool = eventlet.GreenPool(50)
    numbers = list(pool.imap(lambda _: queue.issue("AKTA")[0]["number"], range(60)))
    assert sorted(numbers) == list(range(1, 61))


def test_daily_quota_is_refused_with_a_clear_error(queue):
    for _ in range(3):
        queue.issue("KK")
    with pytest.raises(QuotaExhausted) as caught:
        queue.issue("KK")
    assert caught.value.status == 409
    assert caught.value.message.startswith("Kuota harian layanan ini (3 antrean) sudah habis.")
    assert caught.value.details["quota"] == 3


def test_refused_during_friday_prayer_saying_when_it_opens(queue, clock):
    clock.now = datetime(2026, 11, 27, 4, 30, tzinfo=UTC)  # Friday 11:30 in Jakarta
    with pytest.raises(ServiceClosed) as caught:
        queue.issue("KTP-EL")
    assert caught.value.details["reason"] == "break"
    assert caught.value.message == (
        "MPP Banyuwangi sedang istirahat (Salat Jumat). Buka kembali 27-11-2026 pukul 13.00.")
    assert caught.value.details["next_open"] == "2026-11-27T13:00:00+07:00"


def test_refused_on_sunday_and_for_inactive_or_unknown_services(queue, clock, catalog):
    clock.now = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
    with pytest.raises(ServiceClosed) as caught:
        queue.issue("KTP-EL")
    assert caught.value.message == "MPP Banyuwangi tutup hari ini. Buka kembali 30-11-2026 pukul 07.30."
    clock.now = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    catalog.records["services"]["AKTA"]["active"] = False
    with pytest.raises(Conflict):
        queue.issue("AKTA")
    with pytest.raises(InvalidInput):
        queue.issue("KTP-EL", site_code="LBT")


def test_issue_writes_the_ticket_and_its_event_together_without_personal_data(queue, repo):
    ticket, secret = queue.issue("KTP-EL", channel="web", priority="elderly")
    [event] = outbox_events(repo)
    assert event["type"] == "antre.ticket.issued.v1"
    assert event["data"]["ticket_number"] == "A-001"
    assert event["data"]["priority"] == "elderly" and event["data"]["channel"] == "web"
    assert event["data"]["position"] == 1 and event["data"]["estimated_wait_minutes"] == 10
    text = str(event)
    assert secret not in text and "secret" not in text
    assert repo.ticket(ticket["ticket_id"])["secret_hash"] != secret


def test_secret_lets_the_citizen_in_and_nobody_else(queue, queries):
    ticket, secret = queue.issue("KTP-EL")
    assert queries.check_secret(ticket["ticket_id"], secret)["_id"] == ticket["ticket_id"]
    with pytest.raises(Unauthorized):
        queries.check_secret(ticket["ticket_id"], "guess")


# -- lifecycle ---------------------------------------------------------------------------

def test_full_lifecycle_with_durations(queue, repo, clock):
    queue.open_counter("L01")
    ticket, _ = queue.issue("KTP-EL")
    clock.advance(minutes=12)
    called = queue.call_next("L01")
    assert called["_id"] == ticket["ticket_id"] and called["status"] == "called"
    clock.advance(minutes=1)
    queue.start(called["_id"], "L01")
    clock.advance(minutes=8)
    done = queue.complete(called["_id"], "L01")
    assert done["status"] == "completed"
    assert (done["waiting_seconds"], done["service_seconds"]) == (720, 480)
    types = [e["type"].split(".")[2] for e in outbox_events(repo)]
    assert types == ["issued", "called", "serving", "completed"]
    completed = outbox_events(repo)[-1]["data"]
    assert completed["waiting_seconds"] == 720 and completed["service_seconds"] == 480
    assert completed["counter"] == "L01"


def test_invalid_transitions_get_409_with_the_current_state(queue):
    queue.open_counter("L01")
    ticket, _ = queue.issue("KTP-EL")
    with pytest.raises(InvalidTransition) as caught:
        queue.start(ticket["ticket_id"], "L01")
    assert caught.value.details["status"] == "waiting"
    queue.call_next("L01")
    with pytest.raises(InvalidTransition) as caught:
        queue.cancel(ticket["ticket_id"], by="citizen")
    assert caught.value.details["status"] == "called"
    with pytest.raises(Conflict):
        queue.start(ticket["ticket_id"], "L02")  # not this counter's ticket


def test_recalls_are_counted_and_no_show_needs_enough_of_them(queue, repo):
    queue.open_counter("L01")
    ticket, _ = queue.issue("KTP-EL")
    queue.call_next("L01")
    with pytest.raises(InvalidTransition) as caught:
        queue.no_show(ticket["ticket_id"], "L01")
    assert caught.value.details["recalls_needed"] == 2
    queue.recall(ticket["ticket_id"], "L01")
    assert queue.recall(ticket["ticket_id"], "L01")["recalls"] == 2
    assert queue.no_show(ticket["ticket_id"], "L01")["status"] == "no_show"
    types = [e["type"].split(".")[2] for e in outbox_events(repo)]
    assert types == ["issued", "called", "recalled", "recalled", "no_show"]
    assert queue.call_next("L01") is None, "the counter is free again"


def test_citizen_cancels_a_waiting_ticket(queue, repo):
    ticket, _ = queue.issue("KTP-EL")
    cancelled = queue.cancel(ticket["ticket_id"], by="citizen", reason="Saya Budi, 3510...")
    assert cancelled["status"] == "cancelled" and cancelled["cancel_reason"].startswith("Saya")
    event = outbox_events(repo)[-1]["data"]
    assert (event["cancelled_by"], event["reason"]) == ("citizen", None), "free text stays out"


def test_a_counter_holds_one_ticket_at_a_time(queue):
    queue.open_counter("L01")
    queue.issue("KTP-EL")
    queue.issue("KTP-EL")
    queue.call_next("L01")
    with pytest.raises(InvalidTransition):
        queue.call_next("L01")


def test_twenty_concurrent_call_next_call_every_ticket_exactly_once(queue, catalog):
    codes = [f"X{i:02d}" for i in range(20)]
    for code in codes:
        catalog.put("counters", {**catalog.counter("L01"), "code": code})
        queue.open_counter(code)
    issued = {queue.issue("AKTA")[0]["ticket_id"] for _ in range(15)}
    pool = eventlet.GreenPool(20)
    called = [t for t in pool.imap(queue.call_next, codes) if t is not None]
    assert len(called) == 15
    assert {t["_id"] for t in called} == issued
    assert len({t["counter"] for t in called}) == 15


def test_claim_is_refused_when_the_counter_already_holds_a_ticket(queue, repo):
    queue.open_counter("L01")
    first, _ = queue.issue("KTP-EL")
    second, _ = queue.issue("KTP-EL")
    queue.call_next("L01")
    waiting = repo.ticket(second["ticket_id"])
    with pytest.raises(CounterBusy):
        repo.update_ticket(waiting, "call", {"status": "called", "active_counter": "L01"}, [])


# -- priority fairness -------------------------------------------------------------------

def test_call_next_applies_the_priority_rule(queue, clock):
    queue.open_counter("L01")
    tickets = {}
    for name, priority in [("R1", None), ("R2", None), ("P1", "elderly"), ("P2", "pregnant"),
                           ("P3", "disability"), ("R3", None)]:
        tickets[queue.issue("KTP-EL", priority=priority)[0]["ticket_id"]] = name
        clock.advance(seconds=30)
    order = []
    while (ticket := queue.call_next("L01")) is not None:
        order.append(tickets[ticket["_id"]])
        serve(queue, "L01", ticket["_id"], clock, minutes=1)
    assert order == ["P1", "P2", "R1", "P3", "R2", "R3"]


# -- transfers and closing ---------------------------------------------------------------

def test_transfer_keeps_the_visit_and_its_place_by_arrival_time(queue, repo, clock):
    queue.open_counter("L01")
    queue.open_counter("L03")
    early_kk, _ = queue.issue("KK")  # arrived before our citizen: stays ahead
    clock.advance(minutes=1)
    citizen, _ = queue.issue("KTP-EL")
    clock.advance(minutes=5)
    late_kk, _ = queue.issue("KK")  # arrived later: must not be served first
    queue.call_next("L01")
    queue.start(citizen["ticket_id"], "L01")
    clock.advance(minutes=4)
    leg = queue.transfer(citizen["ticket_id"], "L01", "KK")
    assert leg["ticket_number"] == "C-003" and leg["position"] == 2
    assert leg["visit_id"] == citizen["visit_id"] and leg["leg"] == 2
    old = repo.ticket(citizen["ticket_id"])
    assert (old["status"], old["transferred_to"]) == ("transferred", leg["ticket_id"])
    order = []
    while (ticket := queue.call_next("L03")) is not None:
        order.append(ticket["_id"])
        serve(queue, "L03", ticket["_id"], clock, minutes=2)
    assert order == [early_kk["ticket_id"], leg["ticket_id"], late_kk["ticket_id"]]
    transferred = [e for e in outbox_events(repo) if e["type"].endswith(".transferred.v1")]
    assert transferred[0]["data"]["to_service"] == "KK"
    assert transferred[0]["data"]["service_seconds"] == 240


def test_a_transfer_answers_the_leg_as_written_without_reading_it_back(queue, queries, repo,
                                                                       clock):
    queue.open_counter("L01")
    queue.issue("KK")
    citizen, _ = queue.issue("KTP-EL")
    queue.call_next("L01")
    queue.start(citizen["ticket_id"], "L01")
    reads = []
    original = repo.ticket
    repo.ticket = lambda ticket_id: reads.append(ticket_id) or original(ticket_id)
    leg = queue.transfer(citizen["ticket_id"], "L01", "KK")
    repo.ticket = original
    assert leg["ticket_id"] not in reads
    assert leg == queries.view(leg["ticket_id"])  # the same answer a read gives


def test_transfer_does_not_count_against_the_targets_quota(queue):
    queue.open_counter("L01")
    for _ in range(3):
        queue.issue("KK")
    citizen, _ = queue.issue("KTP-EL")
    queue.call_next("L01")
    queue.start(citizen["ticket_id"], "L01")
    assert queue.transfer(citizen["ticket_id"], "L01", "KK")["ticket_number"] == "C-004"


def test_a_transfer_interrupted_by_a_crash_is_finished(queue, repo, clock):
    queue.open_counter("L01")
    citizen, _ = queue.issue("KTP-EL")
    queue.call_next("L01")
    queue.start(citizen["ticket_id"], "L01")
    original = repo.insert_pending_leg

    def crash(*_):  # the process dies right after the first write
        raise RuntimeError("crash")

    repo.insert_pending_leg = crash
    leg_id = None
    try:
        queue.transfer(citizen["ticket_id"], "L01", "KK")
    except RuntimeError:
        leg_id = repo.db.tickets.find_one({"_id": citizen["ticket_id"]})["transferred_to"]
    repo.insert_pending_leg = original
    assert leg_id and repo.ticket(leg_id) is None
    assert repo.finish_pending_legs() == 1
    assert repo.ticket(leg_id)["status"] == "waiting"
    assert repo.finish_pending_legs() == 0


def test_closing_returns_a_called_ticket_to_the_front(queue, queries, repo, clock):
    queue.open_counter("L01")
    queue.open_counter("L02")
    first, _ = queue.issue("KTP-EL")
    clock.advance(minutes=1)
    second, _ = queue.issue("KTP-EL")
    queue.call_next("L01")  # first
    queue.call_next("L02")  # second
    queue.start(second["ticket_id"], "L02")
    with pytest.raises(Conflict):
        queue.close_counter("L02")  # serving: finish it first
    clock.advance(minutes=1)
    third, _ = queue.issue("KTP-EL")
    state, returned = queue.close_counter("L01")
    assert state["state"] == "closed" and returned["_id"] == first["ticket_id"]
    assert queries.view(first["ticket_id"])["position"] == 1
    assert queries.view(third["ticket_id"])["position"] == 2
    queue.complete(second["ticket_id"], "L02")
    assert queue.call_next("L02")["_id"] == first["ticket_id"]
    types = [e["type"] for e in outbox_events(repo, "counters")]
    assert types[-1] == "antre.counter.closed.v1"
    with pytest.raises(Conflict):
        queue.call_next("L01")


def test_pause_stops_calls_until_reopened(queue, repo):
    queue.open_counter("L01")
    queue.issue("KTP-EL")
    queue.pause_counter("L01", "Istirahat salat")
    with pytest.raises(Conflict):
        queue.call_next("L01")
    queue.open_counter("L01")
    assert queue.call_next("L01") is not None
    counter_events = outbox_events(repo, "counters")
    assert [e["type"].split(".")[2] for e in counter_events] == ["opened", "paused", "opened"]
    assert "reason" not in counter_events[1]["data"], "staff's free text stays out of events"
    assert repo.counter("L01")["state"] == "open"
    assert counter_events[2]["data"]["previous_state"] == "paused"


# -- estimates and overview ----------------------------------------------------------------

def test_estimates_use_open_counters_and_recent_service_times(queue, queries, clock):
    queue.open_counter("L01")
    queue.open_counter("L02")
    waiting = [queue.issue("AKTA")[0] for _ in range(5)]
    # No service finished yet: the catalog's typical 10 minutes; 2 open counters.
    assert [queries.view(t["ticket_id"])["estimated_wait_minutes"] for t in waiting] == \
        [10, 10, 20, 20, 30]
    for minutes in (4, 6):  # two services of 4 and 6 minutes: average 5
        ticket = queue.call_next("L01")
        serve(queue, "L01", ticket["_id"], clock, minutes)
    # 3 waiting: positions 1, 2, 3 -> ceil(1/2)*5, ceil(2/2)*5, ceil(3/2)*5
    assert [queries.view(t["ticket_id"])["estimated_wait_minutes"] for t in waiting[2:]] == \
        [5, 5, 10]


def test_overview_per_service(queue, queries, clock):
    queue.open_counter("L01")
    queue.issue("KTP-EL")
    clock.advance(minutes=6)
    queue.issue("KTP-EL")
    queue.call_next("L01")
    view = queries.overview()
    ktp = next(s for s in view["services"] if s["service"] == "KTP-EL")
    assert ktp["waiting"] == 1 and ktp["issued_today"] == 2 and ktp["open_counters"] == 1
    assert ktp["now_serving"] == [{"ticket_number": "A-001", "counter": "L01",
                                   "status": "called"}]
    assert ktp["average_wait_minutes"] == 6.0
    assert view["open"] is True and len(view["services"]) == 4


# -- feedback ----------------------------------------------------------------------------

SCORES = {f"u{i}": 4 if i % 2 else 3 for i in range(1, 10)}


def test_feedback_once_after_completion(queue, repo, clock):
    queue.open_counter("L01")
    ticket, _ = queue.issue("KTP-EL")
    with pytest.raises(InvalidTransition):
        queue.feedback(ticket["ticket_id"], SCORES)
    queue.call_next("L01")
    serve(queue, "L01", ticket["ticket_id"], clock, minutes=3)
    queue.feedback(ticket["ticket_id"], SCORES, comment="Pelayanan cepat, terima kasih")
    with pytest.raises(Conflict):
        queue.feedback(ticket["ticket_id"], SCORES)
    [event] = outbox_events(repo, "feedback")
    assert event["type"] == "antre.feedback.submitted.v1"
    assert event["data"]["scores"] == SCORES and event["data"]["has_comment"] is True
    assert "terima kasih" not in str(event), "free text stays out of events"


def test_feedback_schema_refuses_out_of_range_and_missing_scores():
    from marshmallow import ValidationError

    from services.queue.schemas import FeedbackSchema

    with pytest.raises(ValidationError) as caught:
        FeedbackSchema().load({"scores": {**SCORES, "u3": 5, "u10": 1}})
    assert set(caught.value.messages["scores"]) == {"u3", "u10"}
    with pytest.raises(ValidationError) as caught:
        FeedbackSchema().load({"scores": {"u1": 4}})
    assert set(caught.value.messages["scores"]) == {f"u{i}" for i in range(2, 10)}


def test_tickets_left_waiting_are_closed_when_their_day_is_over(queue, repo, clock):
    queue.open_counter("L01")
    served, _ = queue.issue("KTP-EL")
    left, _ = queue.issue("KTP-EL")
    queue.call_next("L01")
    assert queue.close_past_days() == 0, "same day: nothing to close"
    clock.advance(days=1)
    assert queue.close_past_days() == 1
    closed = repo.ticket(left["ticket_id"])
    assert (closed["status"], closed["cancelled_by"], closed["cancel_reason"]) == (
        "cancelled", "system", "day_closed")
    assert repo.ticket(served["ticket_id"])["status"] == "called", "counters finish their own"
    assert outbox_events(repo)[-1]["data"]["reason"] == "day_closed"
    assert queue.close_past_days() == 0


def test_positions_of_many_tickets_in_one_answer(queue, queries, clock):
    tickets = [queue.issue("KTP-EL")[0] for _ in range(4)]
    elderly = queue.issue("KTP-EL", priority="elderly")[0]
    queue.open_counter("L01")
    called = queue.call_next("L01")  # the elderly first
    assert called["_id"] == elderly["ticket_id"]
    ids = [t["ticket_id"] for t in tickets] + [elderly["ticket_id"], "no-such-ticket"]
    positions = queries.positions(ids)
    assert positions == {**{t["ticket_id"]: n for n, t in enumerate(tickets, 1)},
                         elderly["ticket_id"]: None, "no-such-ticket": None}
    assert all(queries.view(t["ticket_id"])["position"] == positions[t["ticket_id"]]
               for t in tickets), "the same positions a ticket's own page shows"


def test_positions_are_asked_for_a_bounded_list_of_ticket_ids():
    from marshmallow import ValidationError

    from services.queue.schemas import MAX_POSITIONS, PositionsSchema

    assert PositionsSchema().load({"ticket_ids": ["a"] * MAX_POSITIONS})
    for wrong in (["a"] * (MAX_POSITIONS + 1), "a", [""], [7], None):
        with pytest.raises(ValidationError) as refused:
            PositionsSchema().load({"ticket_ids": wrong})
        assert "ticket_ids" in refused.value.messages
