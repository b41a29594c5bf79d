"""A whole morning through the running queue service on the real broker.

A seeded script issues 240 tickets over three services of two agencies, with priority
citizens, while six counters call, recall, serve, transfer and mark no-shows, and
citizens cancel and give feedback. A subscriber on the public exchange counts every
event; the test compares each ticket's final state and each event count with the
script's own tally.
"""

import random
from collections import Counter

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.catalog.service import CatalogService
from services.queue.service import QueueService
from tests.integration.test_queue_service import hall_catalog

SERVICES = ["KTP-EL", "AKTA", "BPJS"]
COUNTERS = {"L01": "KTP-EL", "L02": "KTP-EL", "L03": "AKTA", "L04": "AKTA", "B01": "BPJS"}


@pytest.fixture
def cluster(service_config):
    with ClusterRpcProxy(service_config, timeout=30) as proxy:
        yield proxy


def test_a_morning_of_240_tickets(start_service, cluster, event_tap):
    tap = event_tap("ticket.#", "counter.#", "feedback.#")
    start_service(CatalogService)
    cluster.catalog.import_catalog(hall_catalog(counters=4))
    start_service(QueueService)
    queue = cluster.queue
    rng = random.Random(20261127)
    expected_final = {}
    events = Counter()
    waiting = []

    for code in COUNTERS:
        queue.open_counter(code)
        events["counter.opened"] += 1

    def issue():
        service = rng.choice(SERVICES)
        priority = rng.choice(["elderly", "pregnant", "disability"]) if rng.random() < 0.1 \
            else None
        ticket = queue.issue_ticket(service, channel=rng.choice(["kiosk", "web"]),
                                    priority=priority)
        events["ticket.issued"] += 1
        expected_final[ticket["ticket_id"]] = "waiting"
        waiting.append(ticket["ticket_id"])
        return ticket

    def serve_one(code):
        ticket = queue.call_next(code)
        if ticket is None:
            return
        tid = ticket["ticket_id"]
        waiting.remove(tid)
        events["ticket.called"] += 1
        roll = rng.random()
        if roll < 0.08:  # no-show after two recalls
            for _ in range(2):
                queue.act(tid, "recall", code)
                events["ticket.recalled"] += 1
            queue.act(tid, "no_show", code)
            events["ticket.no_show"] += 1
            expected_final[tid] = "no_show"
            return
        queue.act(tid, "start", code)
        events["ticket.serving"] += 1
        if roll < 0.16 and ticket["leg"] == 1:  # sent to another service
            target = rng.choice([s for s in SERVICES if s != ticket["service"]])
            leg = queue.transfer(tid, code, target)
            events["ticket.transferred"] += 1
            events["ticket.issued"] += 1
            expected_final[tid] = "transferred"
            expected_final[leg["ticket_id"]] = "waiting"
            waiting.append(leg["ticket_id"])
            return
        queue.act(tid, "complete", code)
        events["ticket.completed"] += 1
        expected_final[tid] = "completed"
        if rng.random() < 0.4:
            queue.submit_feedback(tid, {f"u{i}": rng.randint(2, 4) for i in range(1, 10)})
            events["feedback.submitted"] += 1

    issued = 0
    while issued < 240 or waiting:
        for _ in range(rng.randint(2, 5)):
            if issued < 240:
                issue()
                issued += 1
        if waiting and rng.random() < 0.05:  # a citizen gives up
            tid = rng.choice(waiting)
            if queue.get_ticket(tid)["status"] == "waiting":
                queue.cancel(tid, by="citizen")
                waiting.remove(tid)
                events["ticket.cancelled"] += 1
                expected_final[tid] = "cancelled"
        for code in rng.sample(list(COUNTERS), k=3):
            serve_one(code)

    for code in COUNTERS:
        queue.close_counter(code)
        events["counter.closed"] += 1

    for tid, status in expected_final.items():
        assert queue.get_ticket(tid)["status"] == status, tid
    assert events["ticket.issued"] >= 240 + events["ticket.transferred"]
    assert min(events[k] for k in ("ticket.no_show", "ticket.transferred",
                                   "ticket.cancelled", "feedback.submitted")) > 0

    received = tap.drain(expected=sum(events.values()), timeout=60)
    counted = Counter(".".join(m["routing_key"].split(".")[:2]) for m in received)
    assert counted == events
    ids = [m["event"]["id"] for m in received]
    assert len(ids) == len(set(ids)), "no event published twice in a clean run"
    priority_calls = [m for m in received if m["routing_key"].startswith("ticket.called")
                      and m["event"]["data"]["priority"]]
    assert priority_calls, "the morning had priority citizens"
