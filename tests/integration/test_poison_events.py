"""Poison on the real broker: what a bad message does to reporting and notify.

A day of 80 real tickets (with 10% duplicate deliveries) is published to the events
exchange, then 18 kinds of poison, then 5 more real tickets. Afterwards the figures are
exactly those of the 85 tickets, a replay gives the same figures, every message that is
not an event of the contract is in each service's dead-letter queue with its reason and
is readable whatever its body, and an operator can re-queue or drop one (audited).
"""

import copy
import json
import pickle
import random
import uuid

import eventlet
import pytest
from kombu import Connection, Producer

from services.catalog.service import CatalogService
from services.kernel.events import CONTENT_TYPE
from services.kernel.infra.consumer import peek_dead_letters
from services.kernel.infra.outbox import events_exchange
from services.notify.service import NotifyService
from services.queue import domain as queue_domain
from services.reporting.service import ReportingService
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_reporting_ingest import publish
from tests.unit.catalog.factories import agency, document, service
from tests.unit.reporting.test_domain import lifecycle, ticket

DAY = "2026-11-23"
SCORES = {f"u{i}": 4 for i in range(1, 10)}


def feedback_of(ticket_id, scores=SCORES):
    rated = ticket(_id=ticket_id, visit_id=ticket_id, counter="L01")
    return queue_domain.feedback_event(rated, scores, False,
                                       rated["issued_at"]).envelope("/antre/queue")


def poisons():
    """``(kind, body bytes, content type, content encoding, expected reason)``: 18 kinds,
    of which one (a well-formed event about a ticket nobody issued) is a valid event."""
    real = lifecycle("real-0")[1]

    def event(**changes):
        body = copy.deepcopy(real)
        body["id"] = str(uuid.uuid4())
        for key, value in changes.items():
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        return body

    def as_json(body):
        return json.dumps(body).encode()

    recalls_as_text = event()
    recalls_as_text["data"]["recalls"] = "2"
    string_scores = feedback_of("real-1", {**SCORES, "u3": "4"})
    ghost = lifecycle("ghost")[1]  # called: valid, but its ticket was never issued
    ghost["id"] = str(uuid.uuid4())
    json_type = CONTENT_TYPE
    return [
        ("bad JSON", b'{"specversion": "1.0", "id": ', json_type, "utf-8", "UndecodableEvent"),
        ("not UTF-8", b"\xff\xfe\x00\x81", json_type, "utf-8", "UndecodableEvent"),
        ("an array", b"[1, 2, 3]", json_type, "utf-8", "not a CloudEvent object"),
        ("null", b"null", json_type, "utf-8", "not a CloudEvent object"),
        ("a number", b"42", json_type, "utf-8", "not a CloudEvent object"),
        ("a JSON string", b'"ticket.called"', json_type, "utf-8", "not a CloudEvent object"),
        ("no id", as_json(event(id=None)), json_type, "utf-8", "InvalidEvent"),
        ("no type", as_json(event(type=None)), json_type, "utf-8", "missing or not a string"),
        ("an id of the wrong type", as_json(event(id=12345)), json_type, "utf-8", "id"),
        ("data not an object", as_json(event(data="called")), json_type, "utf-8", "data"),
        ("an unparseable time", as_json(event(time="kemarin sore")), json_type, "utf-8", "time"),
        ("an unknown type", as_json(event(type="antre.ticket.exploded.v1")), json_type, "utf-8",
         "not an event type of the contract"),
        ("a foreign type", as_json(event(type="com.example.order.created.v1")), json_type,
         "utf-8", "not an event type of the contract"),
        ("recalls as a string", as_json(recalls_as_text), json_type, "utf-8", "recalls"),
        ("feedback with string scores", as_json(string_scores), json_type, "utf-8", "u3"),
        ("text/plain", b"ticket A-001 called", "text/plain", "utf-8", "ContentDisallowed"),
        ("pickle", pickle.dumps({"type": "antre.ticket.called.v1"}),
         "application/x-python-serialize", "binary", "ContentDisallowed"),
        ("an empty body", b"", json_type, "utf-8", "not a CloudEvent object"),
        ("a ticket nobody issued", as_json(ghost), json_type, "utf-8", None),
    ]


def publish_raw(amqp_uri, items):
    with Connection(amqp_uri) as connection:
        producer = Producer(connection)
        for _, body, content_type, encoding, _ in items:
            producer.publish(body, exchange=events_exchange(), routing_key="ticket.called.DUK",
                             content_type=content_type, content_encoding=encoding,
                             delivery_mode=2, declare=[events_exchange()])


def wait_until(check, timeout=30):
    with eventlet.Timeout(timeout):
        while not check():
            eventlet.sleep(0.1)


@pytest.fixture
def hall(start_service, cluster, rabbit_config):
    start_service(CatalogService)  # the site's time zone and the names
    cluster.catalog.import_catalog(document(
        agencies=[agency(code="DUK")],
        services=[service(code="KTP", agency="DUK", name="Perekaman KTP-el")], counters=[]))
    _, reporting = start_service(ReportingService, EVENT_RETRY_SECONDS=0.2,
                                 CATALOG_CACHE_SECONDS=60)
    reporting.session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    start_service(NotifyService, EVENT_RETRY_SECONDS=0.2, RPC_TIMEOUT_SECONDS=2,
                  CATALOG_CACHE_SECONDS=60)
    return reporting, rabbit_config["AMQP_URI"]


def test_poison_changes_no_figure_and_every_dead_letter_can_be_read_requeued_or_dropped(
        hall, cluster, database):
    http, amqp_uri = hall
    day = [e for i in range(80) for e in lifecycle(f"real-{i}", wait_min=i % 17,
                                                   serve_min=1 + i % 5)]
    day += [feedback_of("real-0"), feedback_of("real-1")]
    duplicates = random.Random(19).sample(day, len(day) // 10)
    publish(amqp_uri, day + duplicates)
    items = poisons()
    assert len({kind for kind, *_ in items}) == len(items) == 19
    publish_raw(amqp_uri, items)
    later = [e for i in range(5) for e in lifecycle(f"later-{i}", wait_min=3)]
    publish(amqp_uri, later)
    invalid = [item for item in items if item[4] is not None]
    assert len(invalid) == 18

    valid_events = len(day) + 1 + len(later)  # the ghost's event is valid: stored, not counted
    wait_until(lambda: cluster.reporting.ingested() == valid_events)
    wait_until(lambda: len(cluster.reporting.dead_letters(1000)) == len(invalid))
    wait_until(lambda: len(peek_dead_letters(amqp_uri, "notify", 1000)) == len(invalid))

    def figures():
        report = http.get(f"/api/reporting/daily?site=BWI&date={DAY}").json()
        ikm = http.get(f"/api/reporting/ikm?site=BWI&from={DAY}&to={DAY}").json()
        return report["totals"], ikm["overall"]

    totals, overall = figures()
    assert (totals["issued"], totals["served"], totals["waiting"]) == (85, 85, 0)
    assert overall["respondents"] == 2
    stored = {doc["_id"] for doc in database("reporting").events.find({}, {"_id": 1})}
    assert not stored & {json.loads(body)["id"] for kind, body, *_ in invalid
                         if kind in ("recalls as a string", "feedback with string scores")}

    # The dead-letter view: every letter, whatever its body, with why and when.
    answer = http.get("/api/reporting/dead-letters?limit=1000")
    assert answer.status_code == 200, answer.text
    letters = answer.json()["items"]
    assert len(letters) == len(invalid)
    for letter in letters:
        assert letter["dead_lettered_at"] and letter["attempts"] == 1
        assert letter["error"].startswith(("InvalidEvent: ", "UndecodableEvent: ")), letter
    for kind, body, content_type, _, reason in invalid:
        assert any(letter["size"] == len(body) and letter["content_type"] == content_type
                   and reason in letter["error"] for letter in letters), \
            f"{kind}: not dead-lettered with {reason!r}"
    encodings = {letter["body_encoding"] for letter in letters}
    assert encodings == {"json", "text", "base64"}

    # A replay folds the same figures (nothing bad was stored, nothing is set aside).
    replay = http.post("/api/reporting/replay").json()
    assert replay["set_aside"] == [] and replay["tickets"] == 86  # 85 and the ghost
    assert figures() == (totals, overall)

    # Re-queue one: contract-refused again, it is parked again (a new id); drop another.
    recalls = next(letter for letter in letters if "recalls" in letter["error"])
    pickled = next(letter for letter in letters if "pickle" in letter["error"])
    requeued = http.post(f"/api/reporting/dead-letters/{recalls['id']}/requeue")
    assert requeued.status_code == 200 and requeued.json()["letter"]["id"] == recalls["id"]
    dropped = http.post(f"/api/reporting/dead-letters/{pickled['id']}/drop")
    assert dropped.status_code == 200 and dropped.json()["letter"]["body_encoding"] == "base64"
    assert http.post(f"/api/reporting/dead-letters/{pickled['id']}/drop").status_code == 404

    def ids():
        return {letter["id"] for letter in cluster.reporting.dead_letters(1000)}

    wait_until(lambda: len(ids()) == len(invalid) - 1 and recalls["id"] not in ids())
    assert pickled["id"] not in ids()
    again = [letter for letter in cluster.reporting.dead_letters(1000)
             if "recalls" in letter["error"]]
    assert len(again) == 1 and again[0]["event"]["id"] == recalls["event"]["id"]
    assert figures() == (totals, overall)
    audit = {doc["action"]: doc for doc in database("reporting").audit.find()}
    assert audit["dead_letter_dropped"]["target"] == {"kind": "dead_letter",
                                                      "code": pickled["id"]}
    assert audit["dead_letter_dropped"]["before"]["body"] == pickled["body"]
    assert audit["dead_letter_requeued"]["target"]["code"] == recalls["id"]
