"""The example agency subscriber (examples/agency_subscriber/subscriber.py), without a broker.

It is a file agencies copy, standalone (it imports nothing of Antre); ``examples`` is a
package only so that the tests import it like any other module.
"""

import json
import uuid

import pytest

from examples.agency_subscriber import subscriber


@pytest.fixture(scope="module")
def sub():
    return subscriber


@pytest.fixture
def store(sub, tmp_path):
    store = sub.SeenStore(str(tmp_path / "seen.sqlite3"))
    yield store
    store.close()


def event(event_type="antre.ticket.called.v1", time="2026-11-27T02:15:00.123Z", **data):
    data = {"ticket_id": "t1", "ticket_number": "A-017", "counter": "L05", "status": "called", **data}
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/antre/queue", "type": event_type,
            "time": time, "subject": "tickets/t1", "agency": "DISDUKCAPIL", "data": data}


def body(evt):
    return json.dumps(evt).encode()


class Recorder:
    def __init__(self, fail=False):
        self.events, self.fail = [], fail

    def __call__(self, evt, db):
        db.execute("INSERT INTO ticket_status (ticket_id, status, at) VALUES (?, 'x', 'y')",
                   (evt["id"],))
        self.events.append(evt["id"])
        if self.fail:
            raise RuntimeError("downstream unavailable")


def effects(store):
    return [row[0] for row in store.db.execute("SELECT ticket_id FROM ticket_status ORDER BY ticket_id")]


def test_an_event_is_handled_once_and_its_id_kept_across_restarts(sub, store, tmp_path):
    evt, handler = event(), Recorder()
    assert sub.process(body(evt), store, handler) is True
    assert sub.process(body(evt), store, handler) is True  # the redelivery: ack, don't handle
    assert handler.events == [evt["id"]] and store.seen(evt["id"])
    reopened = sub.SeenStore(str(tmp_path / "seen.sqlite3"))
    assert sub.process(body(evt), reopened, handler) is True
    assert handler.events == [evt["id"]]
    reopened.close()


def test_a_failing_handler_leaves_neither_its_effect_nor_the_id(sub, store):
    evt = event()
    assert sub.process(body(evt), store, Recorder(fail=True)) is False
    assert not store.seen(evt["id"]) and effects(store) == []
    retry = Recorder()
    assert sub.process(body(evt), store, retry) is True  # so the retry does the work
    assert retry.events == [evt["id"]] and effects(store) == [evt["id"]]


@pytest.mark.parametrize("raw", [b"not json", b"[]", b"{}", b'{"id": "x"}', b"null"])
def test_what_is_not_a_cloudevent_fails_without_calling_the_handler(sub, store, raw):
    handler = Recorder()
    assert sub.process(raw, store, handler) is False
    assert handler.events == []


def test_the_example_handler_prints_a_summary_and_keeps_the_latest_status(sub, store, capsys):
    called = event()
    serving = event("antre.ticket.serving.v1", "2026-11-27T02:16:00.000Z", status="serving")
    assert sub.process(body(serving), store) is True
    assert sub.process(body(called), store) is True  # late: printed, but the status stays
    assert capsys.readouterr().out.splitlines() == [
        "antre.ticket.serving.v1 A-017 counter=L05", "antre.ticket.called.v1 A-017 counter=L05"]
    assert store.db.execute("SELECT status FROM ticket_status").fetchall() == [("serving",)]
    other = event("antre.report.day_closed.v1")
    other["data"] = {"site": "BWI", "date": "2026-11-27"}
    assert sub.process(body(other), store) is True  # a type it doesn't act on
    assert capsys.readouterr().out == "antre.report.day_closed.v1 - counter=-\n"


def test_settings_from_the_environment(sub):
    config = sub.settings({"ANTRE_AMQP_URL": "amqp://u:p@h/", "ANTRE_AGENCY": " disdukcapil "})
    assert config == {"url": "amqp://u:p@h/", "agency": "DISDUKCAPIL", "bindings": ["*.*.DISDUKCAPIL"],
                      "store": "antre-disdukcapil.sqlite3", "prefetch": 20}
    config = sub.settings({"ANTRE_AMQP_URL": "x", "ANTRE_AGENCY": "BPJSKES", "ANTRE_PREFETCH": "5",
                           "ANTRE_BINDINGS": "ticket.*.BPJSKES, feedback.submitted.BPJSKES,"})
    assert config["bindings"] == ["ticket.*.BPJSKES", "feedback.submitted.BPJSKES"]
    assert config["prefetch"] == 5
    with pytest.raises(KeyError):
        sub.settings({"ANTRE_AGENCY": "BPJSKES"})


def test_declarations_stay_inside_the_agency_names(sub):
    queue, dead = sub.declarations("DISDUKCAPIL", ["*.*.DISDUKCAPIL", "ticket.*.DISDUKCAPIL"])
    assert queue.name == "agency.DISDUKCAPIL.events" and queue.durable
    assert queue.queue_arguments == {"x-dead-letter-exchange": "agency.DISDUKCAPIL.dlx"}
    assert {(b.exchange.name, b.exchange.passive, b.routing_key) for b in queue.bindings} == {
        ("antre.events", True, "*.*.DISDUKCAPIL"), ("antre.events", True, "ticket.*.DISDUKCAPIL")}
    assert dead.name == "agency.DISDUKCAPIL.events.dead" and dead.exchange.name == "agency.DISDUKCAPIL.dlx"
    assert dead.durable


class FakeMessage:
    def __init__(self, payload, redelivered=False):
        self.body = payload
        self.delivery_info = {"routing_key": "ticket.called.DISDUKCAPIL", "redelivered": redelivered}
        self.outcome = None

    def ack(self):
        self.outcome = "ack"

    def requeue(self):
        self.outcome = "requeue"

    def reject(self, requeue=False):
        self.outcome = "requeue" if requeue else "dead"


def test_acks_after_success_retries_once_then_dead_letters(sub, store, monkeypatch):
    monkeypatch.setattr(sub, "RETRY_PAUSE_SECONDS", 0)
    worker = sub.Subscriber(None, "DISDUKCAPIL", ["*.*.DISDUKCAPIL"], store, handler=Recorder())
    outcomes = []
    for message in (FakeMessage(body(event())), FakeMessage(b"garbage"), FakeMessage(b"garbage", True)):
        worker.on_message(message)
        outcomes.append(message.outcome)
    assert outcomes == ["ack", "requeue", "dead"]
