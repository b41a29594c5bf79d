"""A scripted day of 500+ tickets through the real queue service and broker, reported.

Every reported total and waiting-time figure must equal the script's own tally,
computed here from the tickets' own timestamps; re-injecting every event duplicated
and in reverse order must change nothing; rebuilding the projections from the stored
events must give the same report.
"""

import json
import math
import statistics
from collections import Counter, defaultdict
from datetime import datetime

import eventlet
from kombu import Connection, Producer

from services.catalog.service import CatalogService
from services.kernel.events import CONTENT_TYPE
from services.kernel.infra.outbox import events_exchange
from services.queue.service import QueueService
from services.reporting.service import ReportingService
from tests.integration.scenario import DayScript
from tests.integration.test_queue_service import hall_catalog

CATALOG_EVENTS = 1 + 2 + 3 + 5  # hall_catalog(counters=4): site, agencies, services, counters



def seconds(later, earlier):
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def tally(values):
    """The script's own statistics: statistics.median, nearest-rank p90."""
    values = sorted(values)
    if not values:
        return {"count": 0, "mean": None, "median": None, "p90": None, "max": None}
    return {"count": len(values), "mean": round(sum(values) / len(values), 3),
            "median": round(statistics.median(values), 3),
            "p90": round(values[math.ceil(0.9 * len(values)) - 1], 3),
            "max": round(values[-1], 3)}


def expected_figures(tickets):
    status = Counter(t["status"] for t in tickets)
    return {
        "issued": len(tickets),
        "transfers_in": sum(1 for t in tickets if t["channel"] == "transfer"),
        "served": status["completed"], "no_show": status["no_show"],
        "cancelled": status["cancelled"], "transferred": status["transferred"],
        "waiting": status["waiting"],
        "waiting_time": tally(seconds(t["called_at"], t["issued_at"])
                              for t in tickets if t.get("called_at")),
        "service_time": tally(seconds(t["ended_at"], t["serving_at"])
                              for t in tickets if t["status"] == "completed"),
        "priorities": dict(sorted(Counter(t["priority"] or "regular" for t in tickets).items())),
        "channels": dict(sorted(Counter(t["channel"] for t in tickets).items())),
    }


def reported(figures):
    return {key: figures[key] for key in ("issued", "transfers_in", "served", "no_show",
                                          "cancelled", "transferred", "waiting", "waiting_time",
                                          "service_time", "priorities", "channels")}


def wait_for_ingest(cluster, count, timeout=120):
    with eventlet.Timeout(timeout):
        while cluster.reporting.ingested() < count:
            eventlet.sleep(0.2)
    eventlet.sleep(0.5)  # the last projections


def republish(amqp_uri, messages):
    with Connection(amqp_uri) as connection:
        producer = Producer(connection)
        for message in messages:
            producer.publish(json.dumps(message["event"]), exchange=events_exchange(),
                             routing_key=message["routing_key"], content_type=CONTENT_TYPE,
                             content_encoding="utf-8", delivery_mode=2)


def test_a_day_of_500_tickets_is_reported_as_it_happened(start_service, cluster, event_tap,
                                                        rabbit_config):
    tap = event_tap("#")
    start_service(ReportingService)
    start_service(CatalogService)
    cluster.catalog.import_catalog(hall_catalog(counters=4))
    start_service(QueueService)

    day = DayScript(cluster.queue).run(tickets=500)
    total = CATALOG_EVENTS + sum(day.events.values())
    assert day.events["ticket.issued"] >= 500
    assert min(day.events[k] for k in ("ticket.no_show", "ticket.cancelled",
                                       "ticket.transferred", "feedback.submitted")) > 0
    tickets = [cluster.queue.get_ticket(tid) for tid in day.final]
    assert {t["ticket_id"]: t["status"] for t in tickets} == day.final
    local_day = tickets[0]["local_day"]
    wait_for_ingest(cluster, total)

    report = cluster.reporting.daily("BWI", local_day)
    assert reported(report["totals"]) == expected_figures(tickets)
    assert report["totals"]["priorities"].get("elderly", 0) + \
        report["totals"]["priorities"].get("pregnant", 0) + \
        report["totals"]["priorities"].get("disability", 0) > 0
    by_agency = defaultdict(list)
    by_service = defaultdict(list)
    for t in tickets:
        by_agency[t["agency"]].append(t)
        by_service[t["service"]].append(t)
    assert {a["agency"]: reported(a) for a in report["agencies"]} == {
        code: expected_figures(items) for code, items in by_agency.items()}
    assert {s["service"]: reported(s) for s in report["services"]} == {
        code: expected_figures(items) for code, items in by_service.items()}
    served_by = Counter(t["counter"] for t in tickets if t["status"] == "completed")
    assert {c["counter"]: c["served"] for c in report["counters"]} == {
        code: served_by.get(code, 0) for code in {t.get("counter") for t in tickets} - {None}}
    assert sum(h["issued"] for h in report["hours"]) == len(tickets)
    cells = cluster.reporting.breakdown("BWI", local_day)["rows"]
    assert sum(c["issued"] for c in cells) == len(tickets)
    assert Counter((c["agency"], c["service"], c["counter"]) for c in cells for _ in
                   range(c["served"])) == Counter(
        (t["agency"], t["service"], t["counter"]) for t in tickets if t["status"] == "completed")
    ikm = cluster.reporting.ikm("BWI", local_day, local_day)
    assert ikm["overall"]["respondents"] == len(day.feedback)

    # Every event again, duplicated and in reverse order: no figure moves.
    captured = tap.drain(expected=total, timeout=60)
    assert len(captured) == total
    republish(rabbit_config["AMQP_URI"], list(reversed(captured)) * 2)
    eventlet.sleep(3)
    assert cluster.reporting.ingested() == total
    assert cluster.reporting.daily("BWI", local_day) == report

    # Rebuilt from the stored events: the same report.
    assert cluster.reporting.replay()["tickets"] == len(tickets)
    assert cluster.reporting.daily("BWI", local_day) == report
    assert cluster.reporting.ikm("BWI", local_day, local_day) == ikm
