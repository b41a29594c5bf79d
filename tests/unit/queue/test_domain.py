"""Pure rules: fairness, estimates, numbering, transitions."""

from datetime import UTC, datetime

import pytest

from services.queue import domain
from services.queue.domain import InvalidTransition, choose_next


def call_order(priority, regular, max_streak):
    """Simulate one counter calling everybody: the order of classes it calls."""
    order, streak = [], 0
    while priority or regular:
        pick = choose_next(bool(priority), bool(regular), streak, max_streak)
        order.append((priority if pick.kind == "priority" else regular).pop(0))
        streak = pick.streak
    return order


def test_priority_first_but_at_most_n_in_a_row_while_regulars_wait():
    order = call_order(["P1", "P2", "P3", "P4", "P5"], ["R1", "R2", "R3"], max_streak=2)
    assert order == ["P1", "P2", "R1", "P3", "P4", "R2", "P5", "R3"]


def test_priority_without_limit_when_nobody_regular_waits():
    assert call_order(["P1", "P2", "P3"], [], max_streak=1) == ["P1", "P2", "P3"]


def test_regular_first_come_first_served_without_priority():
    assert call_order([], ["R1", "R2"], max_streak=2) == ["R1", "R2"]
    assert choose_next(False, False, 1, 2).kind is None


def test_estimate_from_position_counters_and_recent_service_times():
    average = domain.average_service_minutes([300, 420, 540], typical_minutes=10)
    assert average == 7.0  # recent services, not the catalog's 10 minutes
    assert domain.estimate_wait_minutes(ahead=0, open_counters=1, average_minutes=7.0) == 7
    assert domain.estimate_wait_minutes(ahead=5, open_counters=2, average_minutes=7.0) == 21
    assert domain.estimate_wait_minutes(ahead=3, open_counters=0, average_minutes=7.0) == 28
    assert domain.average_service_minutes([], typical_minutes=10) == 10.0


def test_ticket_number_has_at_least_three_digits():
    assert domain.ticket_number("A", 17) == "A-017"
    assert domain.ticket_number("DA", 1234) == "DA-1234"


def test_invalid_transition_names_the_current_status():
    with pytest.raises(InvalidTransition) as caught:
        domain.check_transition({"_id": "t1", "status": "waiting", "ticket_number": "A-001"},
                                "complete")
    assert caught.value.status == 409
    assert caught.value.details["status"] == "waiting"
    assert caught.value.message == "Tidak dapat menyelesaikan tiket A-001: statusnya menunggu."


def test_front_key_is_before_every_arrival_and_keeps_order():
    early = {"queue_key": domain.queue_key(datetime(2026, 11, 23, tzinfo=UTC), 1)}
    late = {"queue_key": domain.queue_key(datetime(2026, 11, 23, 0, 0, 1, tzinfo=UTC), 2)}
    assert domain.front_key(early) < domain.front_key(late) < 0 < early["queue_key"]
    assert domain.front_key({"queue_key": domain.front_key(early)}) == domain.front_key(early)
