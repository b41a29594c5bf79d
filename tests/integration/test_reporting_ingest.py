"""Reporting's ingest on the real broker: duplicates, reordering, failures."""

import json
import random

import eventlet
from kombu import Connection, Producer

from services.kernel.events import CONTENT_TYPE
from services.kernel.infra.outbox import events_exchange
from services.reporting.service import ReportingService
from tests.unit.reporting.test_domain import lifecycle


def publish(amqp_uri, envelopes):
    """Publish envelopes the way the outbox relay does."""
    with Connection(amqp_uri) as connection:
        producer = Producer(connection)
        for envelope in envelopes:
            producer.publish(json.dumps(envelope), exchange=events_exchange(),
                             routing_key=f"ticket.{envelope['type'].split('.')[2]}.DUK",
                             content_type=CONTENT_TYPE, content_encoding="utf-8",
                             message_id=envelope["id"], delivery_mode=2, declare=[events_exchange()])


def wait_until(check, timeout=20):
    with eventlet.Timeout(timeout):
        while not check():
            eventlet.sleep(0.1)


def facts(database):
    return {f["_id"]: f for f in database("reporting").facts.find()}


def stored_ticket_events(database):
    """The ticket events reporting stored (reporting may also close the events' past day
    and store its own ``antre.report.day_closed.v1``: that one is not counted)."""
    return database("reporting").events.count_documents({"type": {"$regex": r"^antre\.ticket\."}})


def test_duplicated_and_reordered_events_change_no_fact(start_service, cluster, rabbit_config,
                                                        database):
    start_service(ReportingService, CATALOG_CACHE_SECONDS=0)
    tickets = [lifecycle(f"t{i}", wait_min=i, serve_min=2 + i % 3) for i in range(20)]
    everything = [e for events in tickets for e in events]
    publish(rabbit_config["AMQP_URI"], everything)
    wait_until(lambda: stored_ticket_events(database) == 80
               and all(f["status"] == "completed" for f in facts(database).values()))
    before = facts(database)
    assert len(before) == 20

    shuffled = everything * 2
    random.Random(7).shuffle(shuffled)
    publish(rabbit_config["AMQP_URI"], list(reversed(everything)) + shuffled)
    eventlet.sleep(2)
    assert stored_ticket_events(database) == 80, "each event is stored once"
    assert facts(database) == before
    others = {e["type"] for e in database("reporting").events.find()} - {e["type"] for e in everything}
    assert others <= {"antre.report.day_closed.v1"}


def test_a_failing_handler_retries_then_dead_letters_and_loses_nothing(
        start_service, cluster, rabbit_config, database):
    container, _ = start_service(ReportingService, EVENT_RETRY_SECONDS=0.2, EVENT_MAX_ATTEMPTS=3)
    repository = next(d for d in container.dependencies
                      if type(d).__name__ == "ReportingStore").repository
    original = repository._write_facts  # where batches and single events both end
    failures = {"t-flaky": 2, "t-broken": 10 ** 6}

    def flaky(written, collection=None):
        for fact in written:
            if failures.get(fact["_id"], 0) > 0:
                if len(written) == 1:  # a batch that fails is retried event by event
                    failures[fact["_id"]] -= 1
                raise RuntimeError(f"projection of {fact['_id']} failed")
        return original(written, collection)

    repository._write_facts = flaky
    flaky_events = lifecycle("t-flaky")[:1]
    broken_events = lifecycle("t-broken")[:1]
    publish(rabbit_config["AMQP_URI"], flaky_events + broken_events + lifecycle("t-fine")[:1])

    wait_until(lambda: "t-flaky" in facts(database) and "t-fine" in facts(database))
    assert failures["t-flaky"] == 0, "it failed twice, then the third attempt worked"

    wait_until(lambda: len(cluster.reporting.dead_letters()) == 1)
    [dead] = cluster.reporting.dead_letters()
    assert dead["attempts"] == 3 and "projection of t-broken failed" in dead["error"]
    assert dead["event"]["id"] == broken_events[0]["id"]
    assert dead["routing_key"] == "ticket.issued.DUK"
    assert "t-broken" not in facts(database)

    failures["t-broken"] = 0  # the operator fixes the cause, then replays
    assert cluster.reporting.replay_dead_letters() == 1
    wait_until(lambda: "t-broken" in facts(database))
    assert cluster.reporting.dead_letters() == []


def test_a_burst_is_stored_in_batches_and_the_daily_figures_count_every_ticket(
        start_service, cluster, rabbit_config, database, mongo_url):
    from services.reporting import domain

    container, _ = start_service(ReportingService, max_workers=50)
    repository = next(d for d in container.dependencies
                      if type(d).__name__ == "ReportingStore").repository
    # Writes can be under way while a day loads only on a store over the network.
    assert repository.running.concurrent == (not mongo_url.startswith("mongomock://"))
    first = cluster.reporting.daily("BWI", "2026-11-23")  # the day is being read already
    assert first["totals"]["issued"] == 0
    tickets = [lifecycle(f"t{i}", wait_min=i % 11, serve_min=1 + i % 4) for i in range(60)]
    publish(rabbit_config["AMQP_URI"], [e for events in tickets for e in events])
    wait_until(lambda: cluster.reporting.daily("BWI", "2026-11-23")["totals"]["served"] == 60)
    assert repository.batches.largest > 1, "a burst is stored in batches"
    assert repository.batches.batches < 240
    report = cluster.reporting.daily("BWI", "2026-11-23")
    stored = list(database("reporting").facts.find())
    expected = domain.daily_report(stored, "BWI", "2026-11-23", report["timezone"])
    assert {k: v for k, v in report.items() if k != "closed"} == json_like(expected)


def json_like(report):
    from services.kernel.infra.http import json_ready

    return json_ready(report)
