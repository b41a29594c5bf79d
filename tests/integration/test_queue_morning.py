"""A whole morning through the running queue service on the real broker.

A seeded script issues 240 tickets over three services of two agencies, with priority
citizens, while six counters call, recall, serve, transfer and mark no-shows, and
citizens cancel and give feedback. A subscriber on the public exchange counts every
event; the test compares each ticket's final state and each event count with the
script's own tally.
"""

from collections import Counter

from services.catalog.service import CatalogService
from services.queue.service import QueueService
from tests.integration.scenario import DayScript
from tests.integration.test_queue_service import hall_catalog


def test_a_morning_of_240_tickets(start_service, cluster, event_tap):
    tap = event_tap("ticket.#", "counter.#", "feedback.#")
    start_service(CatalogService)
    cluster.catalog.import_catalog(hall_catalog(counters=4))
    start_service(QueueService)
    day = DayScript(cluster.queue).run(tickets=240)

    for tid, status in day.final.items():
        assert cluster.queue.get_ticket(tid)["status"] == status, tid
    assert day.events["ticket.issued"] == 240 + day.events["ticket.transferred"]
    assert min(day.events[k] for k in ("ticket.no_show", "ticket.transferred",
                                       "ticket.cancelled", "feedback.submitted")) > 0

    received = tap.drain(expected=sum(day.events.values()), timeout=60)
    counted = Counter(".".join(m["routing_key"].split(".")[:2]) for m in received)
    assert counted == day.events
    ids = [m["event"]["id"] for m in received]
    assert len(ids) == len(set(ids)), "no event published twice in a clean run"
    priority_calls = [m for m in received if m["routing_key"].startswith("ticket.called")
                      and m["event"]["data"]["priority"]]
    assert priority_calls, "the morning had priority citizens"
