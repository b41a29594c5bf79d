"""Outside crashes, each event leaves the outbox once (issue 15, item 12).

The request that wrote an event publishes it at once; the sweep publishes what a failed
publish or a crash left behind. Here they run over the same documents at the worst
moments: a sweep (or a second replica's sweep) runs in the middle of every publish. A
broker that counts what it receives, per event id, must count each event exactly once.
The outbox's clock is the test's (``services.kernel.infra.outbox.utcnow``), so the grace
period passes when the test says so.
"""

import random
from collections import Counter

import pytest

from antre_devtools.costs import Clock
from services.kernel.infra import outbox as outbox_module
from services.kernel.infra.outbox import OutboxRelay
from services.queue.dependencies import relay, sweep

GRACE = 5.0


class Refused(ConnectionError):
    """The broker did not confirm the publish."""


class Crash(Exception):
    """The process dies between its claim and its publish."""


class Broker:
    """Counts the publishes of each event id. ``interleave(entry)`` runs before each
    publish (not inside itself): another relay or sweep doing its work right then.
    ``refuse`` publishes are refused (the broker is away), ``crash`` ones kill the
    publisher."""

    def __init__(self):
        self.received = Counter()
        self.interleave = None
        self.refuse = 0
        self.crash = False
        self._inside = False

    def publish(self, entry):
        if self.interleave and not self._inside:
            self._inside = True
            try:
                self.interleave(entry)
            finally:
                self._inside = False
        if self.crash:
            self.crash = False
            raise Crash(entry["id"])
        if self.refuse:
            self.refuse -= 1
            raise Refused(entry["id"])
        self.received[entry["id"]] += 1

    def twice(self):
        return {event_id: n for event_id, n in self.received.items() if n != 1}


@pytest.fixture
def outbox_clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(outbox_module, "utcnow", clock)
    return clock


@pytest.fixture
def broker():
    return Broker()


@pytest.fixture
def outbox(broker):
    return OutboxRelay(broker, grace_seconds=GRACE)


def pending(repo):
    return [entry["id"] for collection in repo.outbox_collections()
            for doc in collection.find() for entry in doc.get("outbox", [])]


def test_a_sweep_during_the_relay_of_a_ticket_with_an_old_event_publishes_once(
        queue, repo, broker, outbox, outbox_clock):
    queue.open_counter("L01")
    relay(repo, outbox)
    broker.refuse = 1  # the issue's publish fails: its event waits for the sweep
    ticket, _ = queue.issue("KTP-EL")
    relay(repo, outbox)
    assert len(broker.received) == 1 and len(pending(repo)) == 1  # opened; issued waits
    outbox_clock.advance(seconds=GRACE + 1)

    # The call's relay publishes ``called`` while a sweep takes the document's old
    # ``issued``: the sweep must leave ``called`` to the request publishing it.
    broker.interleave = lambda entry: sweep(repo.for_request(), outbox)
    called = queue.call_next("L01")
    relay(repo, outbox)

    assert called["_id"] == ticket["ticket_id"]
    assert broker.twice() == {}
    assert len(broker.received) == 3 and pending(repo) == []  # opened, issued, called


def test_two_sweeps_over_the_same_old_events_publish_each_once(
        queue, repo, broker, outbox, outbox_clock):
    broker.refuse = 5  # five issues whose publish failed
    for _ in range(5):
        queue.issue("KTP-EL")
        relay(repo, outbox)
    assert len(pending(repo)) == 5 and broker.received == Counter()
    outbox_clock.advance(seconds=GRACE + 1)

    # Two replicas sweep at once: the second runs whole during the first one's publish.
    broker.interleave = lambda entry: sweep(repo.for_request(), outbox)
    sweep(repo.for_request(), outbox)

    assert broker.twice() == {}
    assert len(broker.received) == 5 and pending(repo) == []


def test_a_claim_of_a_process_that_died_is_taken_over_once_it_is_stale(
        queue, repo, broker, outbox, outbox_clock):
    broker.refuse = 1
    queue.issue("KTP-EL")
    relay(repo, outbox)
    outbox_clock.advance(seconds=GRACE + 1)
    broker.crash = True  # the sweeping process claims the event, then dies
    with pytest.raises(Crash):
        sweep(repo.for_request(), outbox)
    [entry] = [e for doc in repo.tickets.find() for e in doc["outbox"]]

    outbox_clock.advance(seconds=1)  # its claim is fresh: it may still be publishing
    sweep(repo.for_request(), outbox)
    assert broker.received == Counter(), "a fresh claim is left to its holder"

    outbox_clock.advance(seconds=GRACE)  # now it is stale: the next sweep takes it over
    sweep(repo.for_request(), outbox)
    assert broker.received == Counter({entry["id"]: 1}) and pending(repo) == []


def test_a_day_of_fast_calls_with_sweeps_in_every_publish_publishes_each_event_once(
        queue, repo, broker, outbox, outbox_clock, clock):
    """120 tickets, most called within 0.09 s of their issue, a sweep inside every
    publish, and now and then a publish the broker refuses (the sweep sends it later)."""
    rng = random.Random(15)
    written = 0

    def request(action, *args, refused=False):
        nonlocal written
        broker.refuse = 1 if refused else 0
        answer = action(*args)
        written += sum(len(change.entries) for change in repo.written)
        relay(repo, outbox)
        broker.refuse = 0
        return answer

    broker.interleave = lambda entry: sweep(repo.for_request(), outbox)
    for code in ("L01", "L02"):
        request(queue.open_counter, code)
    for _ in range(120):
        request(queue.issue, rng.choice(["KTP-EL", "AKTA"]), refused=rng.random() < 0.1)
        outbox_clock.advance(seconds=rng.choice([0.01, 0.03, 0.09, 0.09, 2.0, 6.0]))
        clock.advance(seconds=30)
        counter = rng.choice(["L01", "L02"])
        called = request(queue.call_next, counter, refused=rng.random() < 0.1)
        if called:
            request(queue.start, called["_id"], counter)
            outbox_clock.advance(seconds=rng.choice([0.05, 3.0]))
            request(queue.complete, called["_id"], counter, refused=rng.random() < 0.1)
    outbox_clock.advance(seconds=GRACE + 1)
    broker.interleave = None
    sweep(repo.for_request(), outbox)

    assert written > 400
    assert broker.twice() == {}, "events published more than once"
    assert sum(broker.received.values()) == written and pending(repo) == []
