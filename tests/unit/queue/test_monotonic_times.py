"""Times within a ticket never go backwards (issue 15, item 11).

issued_at <= called_at <= serving_at <= ended_at, and waiting_seconds and
service_seconds are never negative, in the stored ticket and in every event, even when
the request that makes a transition read its clock before a concurrent request moved
the ticket on (real eventlet concurrency, with a fake clock), or runs on a replica whose
clock is a few milliseconds behind the one that made the previous transition.
"""

from datetime import datetime, timedelta
from itertools import pairwise

import eventlet
import pytest

from antre_devtools.costs import Clock
from services.kernel.contract import contract
from services.queue.commands import QueueCommands
from services.queue.queries import Settings

from .conftest import outbox_events

SETTINGS = Settings(max_priority_streak=2, no_show_after_recalls=2)
ORDER = ("issued_at", "called_at", "serving_at", "ended_at")


def _time(value):
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def problems(record):
    """What is wrong with the times of one ticket (stored) or one event's data."""
    found = []
    times = [(name, _time(record.get(name))) for name in ORDER if record.get(name)]
    for (earlier, a), (later, b) in pairwise(times):
        if b < a:
            found.append(f"{later} {b.isoformat()} before {earlier} {a.isoformat()}")
    for name in ("waiting_seconds", "service_seconds"):
        if record.get(name) is not None and record[name] < 0:
            found.append(f"{name} {record[name]}")
    return found


def check_every_time(repo):
    """Every ticket (live or ended) and every event it published has monotonic times
    and is accepted by the published contract."""
    wrong = []
    for collection in (repo.tickets, repo.ended):
        for ticket in collection.find():
            wrong += [f"ticket {ticket['ticket_number']}: {p}" for p in problems(ticket)]
    events = outbox_events(repo)
    assert events
    for envelope in events:
        if envelope["type"].startswith("antre.ticket."):
            wrong += [f"{envelope['type']}: {p}" for p in problems(envelope["data"])]
            wrong += [f"{envelope['type']}: {p}" for p in contract().problems(envelope)]
    assert wrong == []


class RacingClock(Clock):
    """A fake clock shared by two requests. The first reading of the request under test
    lets a concurrent request run to its end (in its own green thread) before the
    reading request goes on, as an I/O wait of a real request would: the concurrent
    request moves the clock on by ``ahead`` and writes the ticket."""

    def __init__(self, now, ahead=timedelta(milliseconds=5)):
        super().__init__(now)
        self.ahead = ahead
        self.race = None

    def __call__(self):
        value = self.now
        race, self.race = self.race, None
        if race is not None:
            def concurrent():
                self.now += self.ahead
                return race()
            eventlet.spawn(concurrent).wait()
        return value


@pytest.fixture
def racing(repo, catalog, clock):
    shared = RacingClock(clock.now)
    return QueueCommands(repo, catalog, shared, SETTINGS), shared


def race(queue, clock, first, concurrent):
    """Run ``first`` while ``concurrent`` runs between its clock reading and its work."""
    clock.race = concurrent
    answer = first()
    assert clock.race is None  # the race did run
    return answer


def test_a_call_that_read_its_clock_before_a_concurrent_issue_calls_it_after_its_issue(
        racing, repo):
    queue, clock = racing
    queue.open_counter("L01")
    issued = []
    called = race(queue, clock, lambda: queue.call_next("L01"),
                  lambda: issued.append(queue.issue("KTP-EL")[0]))
    assert called["_id"] == issued[0]["ticket_id"]
    check_every_time(repo)


def test_a_start_that_read_its_clock_before_the_call_starts_after_the_call(racing, repo):
    queue, clock = racing
    queue.open_counter("L01")
    ticket, _ = queue.issue("KTP-EL")
    started = race(queue, clock, lambda: queue.start(ticket["ticket_id"], "L01"),
                   lambda: queue.call_next("L01"))
    assert started["status"] == "serving" and started["serving_at"] >= started["called_at"]
    check_every_time(repo)


def test_a_completion_that_read_its_clock_before_the_start_ends_after_the_start(racing, repo):
    queue, clock = racing
    queue.open_counter("L01")
    ticket, _ = queue.issue("KTP-EL")
    queue.call_next("L01")
    done = race(queue, clock, lambda: queue.complete(ticket["ticket_id"], "L01"),
                lambda: queue.start(ticket["ticket_id"], "L01"))
    assert done["status"] == "completed" and done["service_seconds"] >= 0
    check_every_time(repo)


def test_a_transfer_that_read_its_clock_before_the_start_ends_after_the_start(racing, repo):
    queue, clock = racing
    queue.open_counter("L01")
    ticket, _ = queue.issue("KTP-EL")
    queue.call_next("L01")
    leg = race(queue, clock, lambda: queue.transfer(ticket["ticket_id"], "L01", "AKTA"),
               lambda: queue.start(ticket["ticket_id"], "L01"))
    old = repo.ticket(ticket["ticket_id"])
    assert old["status"] == "transferred" and old["service_seconds"] >= 0
    assert leg["issued_at"] >= old["serving_at"]
    check_every_time(repo)


def test_a_no_show_that_read_its_clock_before_the_last_recall_ends_after_it(racing, repo):
    queue, clock = racing
    queue.open_counter("L01")
    ticket, _ = queue.issue("KTP-EL")
    queue.call_next("L01")
    queue.recall(ticket["ticket_id"], "L01")
    gone = race(queue, clock, lambda: queue.no_show(ticket["ticket_id"], "L01"),
                lambda: queue.recall(ticket["ticket_id"], "L01"))
    assert gone["status"] == "no_show" and gone["ended_at"] >= gone["last_recalled_at"]
    check_every_time(repo)


def test_a_cancel_that_read_its_clock_before_a_return_ends_after_the_return(racing, repo):
    queue, clock = racing
    queue.open_counter("L01")
    ticket, _ = queue.issue("KTP-EL")
    queue.call_next("L01")
    gone = race(queue, clock, lambda: queue.cancel(ticket["ticket_id"], "citizen"),
                lambda: queue.close_counter("L01"))
    assert gone["status"] == "cancelled" and gone["ended_at"] >= gone["returned_at"]
    check_every_time(repo)


def test_two_replicas_whose_clocks_differ_by_milliseconds_never_reverse_a_ticket(
        repo, catalog, clock):
    """Replica ``behind`` reads a clock 5 ms behind replica ``ahead``'s; each transition
    of each ticket is made by the other replica than the one before."""
    late = Clock(clock.now - timedelta(milliseconds=5))
    ahead = QueueCommands(repo, catalog, clock, SETTINGS)
    behind = QueueCommands(repo, catalog, late, SETTINGS)

    def tick(ms):
        clock.advance(milliseconds=ms)
        late.advance(milliseconds=ms)

    ahead.open_counter("L01")
    behind.open_counter("L02")
    for _ in range(3):
        ahead.issue("KTP-EL")
    ahead.issue("KTP-EL", priority="elderly")
    tick(2)
    first = behind.call_next("L01")
    tick(2)
    ahead.start(first["_id"], "L01")
    tick(2)
    behind.complete(first["_id"], "L01")
    second = behind.call_next("L02")
    tick(2)
    ahead.start(second["_id"], "L02")
    tick(2)
    behind.transfer(second["_id"], "L02", "AKTA")
    tick(2)
    ahead.call_next("L01")  # the transferred visit's new leg keeps its early place
    check_every_time(repo)
