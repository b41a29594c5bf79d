"""The example agency subscriber against the real broker, connected as an agency user.

Proves that what the example declares is allowed by the agency's permissions, that a
redelivered event (same id) is handled once, that a poison message ends in the agency's
dead-letter queue, and that SIGTERM stops the program cleanly.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import eventlet
import pytest
from amqp.exceptions import NotFound
from kombu import Connection, Exchange

from examples.agency_subscriber import subscriber
from services.brokeraccess import broker_users, cli
from services.kernel.events import CONTENT_TYPE

PATH = Path(subscriber.__file__)  # also run as the program an agency copies
EVENTS = Exchange("antre.events", "topic", durable=True)
QUEUE = "agency.DISDUKCAPIL.events"


@pytest.fixture(scope="module")
def sub():
    return subscriber


@pytest.fixture
def management(pytestconfig):
    return broker_users.Management(pytestconfig.getoption("RABBIT_API_URI"))


@pytest.fixture
def agency_url(rabbit_config, management):
    """The AMQP URL an agency is given, for a user removed after the test."""
    vhost = unquote(urlsplit(rabbit_config["AMQP_URI"]).path[1:])
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    user = broker_users.ensure_agency_user(management, vhost, "DISDUKCAPIL", prefix=prefix)
    parts = urlsplit(rabbit_config["AMQP_URI"])
    yield cli.public_url(f"amqp://{parts.hostname}:{parts.port or 5672}/", user["username"],
                         user["password"], vhost)
    broker_users.remove_agency_user(management, "DISDUKCAPIL", prefix=prefix)


@pytest.fixture
def guest(rabbit_config):
    with Connection(rabbit_config["AMQP_URI"], transport_options={"confirm_publish": True}) as conn:
        EVENTS(conn.default_channel).declare()
        yield conn


def publish(conn, routing_key, event_id, number="A-017"):
    body = json.dumps({"specversion": "1.0", "id": event_id, "source": "/antre/queue",
                       "type": "antre.ticket.called.v1", "time": "2026-11-27T02:15:00.123Z",
                       "data": {"ticket_id": event_id, "ticket_number": number, "counter": "L05",
                                "status": "called"}})
    conn.Producer().publish(body, exchange=EVENTS, routing_key=routing_key, content_type=CONTENT_TYPE,
                            content_encoding="utf-8", delivery_mode=2, message_id=event_id)


def counts(guest, name):
    """``(ready messages, consumers)`` of a queue, ``(None, None)`` while it does not exist
    (asked over AMQP: the management API's figures lag by seconds)."""
    channel = guest.channel()
    try:
        declared = channel.queue_declare(name, passive=True)
    except NotFound:
        return None, None
    channel.close()
    return declared.message_count, declared.consumer_count


def wait_until(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        eventlet.sleep(0.1)


def test_redelivered_events_are_handled_once_poison_is_dead_lettered_and_it_reconnects(
        sub, agency_url, guest, management, tmp_path, monkeypatch):
    monkeypatch.setattr(sub, "RETRY_PAUSE_SECONDS", 0)
    handled = []

    def handler(event, db):
        handled.append(event["id"])

    store = sub.SeenStore(str(tmp_path / "seen.sqlite3"))
    with Connection(agency_url) as connection:
        worker = sub.Subscriber(connection, "DISDUKCAPIL", ["*.*.DISDUKCAPIL"], store, handler=handler)
        running = eventlet.spawn(worker.run)
        wait_until(lambda: counts(guest, QUEUE)[1] == 1)
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        publish(guest, "ticket.called.DISDUKCAPIL", first)
        publish(guest, "ticket.called.DISDUKCAPIL", first)  # the outbox's redelivery: same id
        publish(guest, "ticket.called.BPJSKES", str(uuid.uuid4()))  # not ours: never arrives
        publish(guest, "ticket.called.DISDUKCAPIL", second)
        guest.Producer().publish(b"\x00 not an event", exchange=EVENTS,
                                 routing_key="ticket.called.DISDUKCAPIL")
        dead = f"{QUEUE}.dead"
        wait_until(lambda: counts(guest, dead)[0] == 1)
        wait_until(lambda: len(handled) >= 2 and counts(guest, QUEUE)[0] == 0)

        # The broker drops the connection (a restart, a network cut): it comes back.
        user = urlsplit(agency_url).username
        wait_until(lambda: any(c["user"] == user for c in management.get("connections")))
        for conn in management.get("connections"):
            if conn["user"] == user:
                management.delete(f"connections/{broker_users._q(conn['name'])}")
        third = str(uuid.uuid4())
        publish(guest, "counter.opened.DISDUKCAPIL", third)  # the durable queue keeps it meanwhile
        wait_until(lambda: len(handled) >= 3)
        worker.should_stop = True
        running.wait()
    store.close()
    assert handled == [first, second, third]
    message = guest.default_channel.basic_get(dead, no_ack=True)
    assert message.body == b"\x00 not an event"
    assert message.headers["x-death"][0]["reason"] == "rejected"


def test_the_program_runs_from_its_environment_and_stops_on_sigterm(agency_url, guest, tmp_path):
    env = {**os.environ, "ANTRE_AMQP_URL": agency_url, "ANTRE_AGENCY": "disdukcapil",
           "ANTRE_BINDINGS": "ticket.called.DISDUKCAPIL", "ANTRE_STORE": str(tmp_path / "s.sqlite3"),
           "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, str(PATH)], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = []
    reader = eventlet.spawn(lambda: log.extend(line.decode() for line in process.stderr))
    try:
        wait_until(lambda: counts(guest, QUEUE)[1] == 1)
        event_id = str(uuid.uuid4())
        publish(guest, "ticket.called.DISDUKCAPIL", event_id, number="B-002")
        publish(guest, "ticket.called.DISDUKCAPIL", event_id, number="B-002")
        publish(guest, "ticket.issued.DISDUKCAPIL", str(uuid.uuid4()))  # not bound
        wait_until(lambda: any("duplicate" in line for line in log))
        process.send_signal(signal.SIGTERM)
        out = process.stdout.read()
        process.wait(timeout=20)
        reader.wait()
    finally:
        if process.poll() is None:
            process.kill()
    log = "".join(log)
    assert process.returncode == 0, log
    assert out.decode().splitlines() == ["antre.ticket.called.v1 B-002 counter=L05"]
    assert f"duplicate antre.ticket.called.v1 {event_id} skipped" in log and "signal 15: stopping" in log
    assert "B-002" not in log  # ids and types in the log, never the payload
