"""Agency broker accounts on the real RabbitMQ: an agency sees only its own events and
publishes nowhere.

Each test runs in a fresh vhost (``rabbit_config``). RabbitMQ users are broker-wide, so
the users of a test carry a prefix of their own and are deleted afterwards. Every refusal
is checked for its AMQP code (403 ACCESS_REFUSED) and for what was refused.
"""

import json
import os
import re
import stat
import time
import uuid
from urllib.parse import quote, unquote, urlsplit

import pytest
from amqp.exceptions import AccessRefused
from kombu import Connection, Exchange, Queue, binding

from services.brokeraccess import broker_users, cli, definitions
from services.kernel.events import CONTENT_TYPE
from services.kernel.infra.consumer import queue_names
from tests.unit.catalog.factories import agency, document

OWN_QUEUE = "agency.DISDUKCAPIL.events"
EVENTS = Exchange("antre.events", "topic", durable=True)
CHECK_EVENTS = Exchange("antre.events", "topic", durable=True, passive=True)  # as an agency


@pytest.fixture
def management(pytestconfig):
    return broker_users.Management(pytestconfig.getoption("RABBIT_API_URI"))


@pytest.fixture
def vhost(rabbit_config):
    return unquote(urlsplit(rabbit_config["AMQP_URI"]).path[1:])


@pytest.fixture
def prefix(management):
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    yield prefix
    for user in broker_users.list_agency_users(management, prefix=prefix):
        broker_users.remove_agency_user(management, user["agency"], prefix=prefix)


@pytest.fixture
def guest(rabbit_config):
    """A guest connection with the events exchange declared, as Antre's services do."""
    with Connection(rabbit_config["AMQP_URI"], transport_options={"confirm_publish": True}) as conn:
        EVENTS(conn.default_channel).declare()
        yield conn


@pytest.fixture
def users(management, vhost, prefix, guest):
    return {code: broker_users.ensure_agency_user(management, vhost, code, prefix=prefix)
            for code in ("DISDUKCAPIL", "BPJSKES")}


def url_of(user, rabbit_config):
    parts = urlsplit(rabbit_config["AMQP_URI"])
    return cli.public_url(f"amqp://{parts.hostname}:{parts.port or 5672}/", user["username"],
                          user["password"], user["vhost"])


@pytest.fixture
def connect(rabbit_config):
    opened = []

    def make(user, confirm=False):
        conn = Connection(url_of(user, rabbit_config), transport_options={"confirm_publish": confirm})
        conn.connect()
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.release()


def publish(conn, routing_key, exchange=EVENTS, event_id=None):
    event_id = event_id or str(uuid.uuid4())
    body = {"specversion": "1.0", "id": event_id, "source": "/antre/queue",
            "type": "antre.ticket.called.v1", "time": "2026-11-27T02:15:00.123Z", "data": {}}
    conn.Producer().publish(json.dumps(body), exchange=exchange, routing_key=routing_key,
                            content_type=CONTENT_TYPE, content_encoding="utf-8", delivery_mode=2,
                            message_id=event_id)
    return event_id


def refused(conn, action, what):
    """``action(channel)`` on a fresh channel fails with 403 ACCESS_REFUSED about ``what``."""
    channel = conn.channel()
    with pytest.raises(AccessRefused) as caught:
        action(channel)
    assert caught.value.code == 403
    assert f"ACCESS_REFUSED - access to {what}" in str(caught.value)


def own_queue(*keys):
    return Queue(OWN_QUEUE, durable=True, bindings=[binding(CHECK_EVENTS, routing_key=k) for k in keys])


def drain(channel, queue_name, expected=0, timeout=5.0):
    """``(routing key, event)`` of the messages in the queue: at least ``expected`` of them
    (routing and dead-lettering are asynchronous), unless ``timeout`` passed first."""
    bodies, deadline = [], time.monotonic() + timeout
    while True:
        message = channel.basic_get(queue_name, no_ack=True)
        if message is not None:
            bodies.append((message.delivery_info["routing_key"], json.loads(message.body)))
        elif len(bodies) >= expected or time.monotonic() > deadline:
            return bodies
        else:
            time.sleep(0.05)


# -- the regexes ------------------------------------------------------------------------


def test_permission_regexes_never_match_antre_names():
    perms = broker_users.permissions("DPU-CKPP")
    for name in ("", "amq.default", "amq.topic", "antre.events", "agency.DPU-CKPP.", "agency.DPU.x",
                 "xagency.DPU-CKPP.x", "reporting.events"):
        assert not re.search(perms["write"], name), name
        assert not re.search(perms["configure"], name), name
    assert re.search(perms["write"], "agency.DPU-CKPP.events")
    assert re.search(perms["read"], "antre.events")
    topic = broker_users.topic_permissions("DPU-CKPP")
    assert topic["exchange"] == "antre.events" and topic["write"] == "^$"
    for key in ("*.*.DPU-CKPP", "ticket.*.DPU-CKPP", "*.called.DPU-CKPP", "ticket.no_show.DPU-CKPP"):
        assert re.search(topic["read"], key), key
    for key in ("#", "#.DPU-CKPP", "*.*.*", "*.*.DPU", "*.*.DPU-CKPP.x", "ticket.#", "a.b.c.DPU-CKPP"):
        assert not re.search(topic["read"], key), key
    with pytest.raises(ValueError):
        broker_users.user_name("dpu.ckpp")


# -- (a) what an agency can do ----------------------------------------------------------------


def test_agency_declares_binds_and_reads_its_own_events(users, guest, connect):
    conn = connect(users["DISDUKCAPIL"])
    own_queue("*.*.DISDUKCAPIL", "ticket.*.DISDUKCAPIL")(conn.channel()).declare()
    sent = publish(guest, "ticket.called.DISDUKCAPIL")
    publish(guest, "ticket.called.BPJSKES")
    publish(guest, "report.day_closed._site")
    received = drain(conn.channel(), OWN_QUEUE, 1)
    # Bound twice, delivered once; nothing of another agency or of the site.
    assert [(key, event["id"]) for key, event in received] == [("ticket.called.DISDUKCAPIL", sent)]


def test_agency_may_dead_letter_through_its_own_exchange_only(users, guest, connect):
    conn = connect(users["DISDUKCAPIL"])
    refused(conn, lambda ch: Queue("agency.DISDUKCAPIL.q", durable=True, queue_arguments={
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "agency.DISDUKCAPIL.q.dead",
    })(ch).declare(), "exchange 'amq.default'")
    dlx = Exchange("agency.DISDUKCAPIL.dlx", "fanout", durable=True)
    channel = conn.channel()
    Queue("agency.DISDUKCAPIL.q.dead", dlx, durable=True)(channel).declare()
    Queue("agency.DISDUKCAPIL.q", durable=True, queue_arguments={"x-dead-letter-exchange": dlx.name},
          bindings=[binding(CHECK_EVENTS, routing_key="*.*.DISDUKCAPIL")])(channel).declare()
    publish(guest, "ticket.issued.DISDUKCAPIL")
    message = channel.basic_get("agency.DISDUKCAPIL.q", no_ack=False)
    channel.basic_reject(message.delivery_tag, requeue=False)
    assert [key for key, _ in drain(channel, "agency.DISDUKCAPIL.q.dead", 1)] == ["ticket.issued.DISDUKCAPIL"]


# -- (b) to (e) what it cannot do ------------------------------------------------------------


def test_agency_cannot_bind_other_or_wider_keys(users, connect):
    conn = connect(users["DISDUKCAPIL"])
    own_queue()(conn.channel()).declare()
    for key in ("*.*.BPJSKES", "#", "ticket.#", "#.DISDUKCAPIL", "*.*.*", ""):
        refused(conn, lambda ch, key=key: ch.queue_bind(OWN_QUEUE, "antre.events", key),
                f"topic '{key}' in exchange 'antre.events'")
    # Nor around the topic check, through an exchange of its own bound to antre.events.
    conn.channel().exchange_declare("agency.DISDUKCAPIL.mirror", "topic", durable=False, auto_delete=True)
    refused(conn, lambda ch: ch.exchange_bind("agency.DISDUKCAPIL.mirror", "antre.events", "#"),
            "topic '#' in exchange 'antre.events'")
    refused(conn, lambda ch: ch.queue_bind(OWN_QUEUE, "amq.topic", "#"), "exchange 'amq.topic'")


def test_agency_cannot_declare_other_queues_or_touch_antre_exchange(users, guest, connect):
    guest.default_channel.queue_declare("reporting.events", durable=True)
    conn = connect(users["DISDUKCAPIL"])
    for name in ("agency.BPJSKES.x", "spy", "agency.DISDUKCAPIL", "reporting.events"):
        refused(conn, lambda ch, name=name: ch.queue_declare(name, durable=True), f"queue '{name}'")
    refused(conn, lambda ch: ch.queue_declare("", exclusive=True), "queue 'amq.gen-")  # server-named
    refused(conn, lambda ch: ch.queue_bind("reporting.events", "antre.events", "*.*.DISDUKCAPIL"),
            "queue 'reporting.events'")
    refused(conn, lambda ch: ch.exchange_declare("antre.events", "topic", durable=True),
            "exchange 'antre.events'")
    refused(conn, lambda ch: ch.exchange_delete("antre.events"), "exchange 'antre.events'")
    conn.channel().exchange_declare("antre.events", "topic", durable=True, passive=True)  # may check it


def test_agency_cannot_publish_on_antre_or_default_exchange(users, guest, connect):
    reader = connect(users["DISDUKCAPIL"])
    own_queue("*.*.DISDUKCAPIL")(reader.channel()).declare()
    for exchange, key, what in (
        ("antre.events", "ticket.called.DISDUKCAPIL", "exchange 'antre.events'"),
        ("", OWN_QUEUE, "exchange 'amq.default'"),  # even into its own queue
        ("amq.topic", "ticket.called.DISDUKCAPIL", "exchange 'amq.topic'"),
    ):
        writer = connect(users["DISDUKCAPIL"], confirm=True)
        refused(writer, lambda ch, exchange=exchange, key=key, conn=writer: conn.Producer(ch).publish(
            "{}", exchange=exchange, routing_key=key), what)
    assert drain(reader.channel(), OWN_QUEUE) == []


def test_agency_cannot_read_another_agencys_queue(users, guest, connect):
    own_queue("*.*.DISDUKCAPIL")(connect(users["DISDUKCAPIL"]).channel()).declare()
    publish(guest, "ticket.called.DISDUKCAPIL")
    other = connect(users["BPJSKES"])
    what = f"queue '{OWN_QUEUE}'"
    refused(other, lambda ch: ch.basic_get(OWN_QUEUE), what)
    refused(other, lambda ch: ch.basic_consume(OWN_QUEUE, callback=lambda m: None), what)
    refused(other, lambda ch: ch.queue_purge(OWN_QUEUE), what)
    refused(other, lambda ch: ch.queue_delete(OWN_QUEUE), what)
    refused(other, lambda ch: ch.queue_bind(OWN_QUEUE, "antre.events", "*.*.BPJSKES"), what)
    assert guest.default_channel.queue_declare(OWN_QUEUE, passive=True).message_count == 1


def test_a_passive_declare_shows_another_agencys_queue_its_existence_and_counts(users, guest,
                                                                               connect):
    """What docs/security.md ("Agencies on the broker") says leaks, exactly: a passive
    queue.declare needs no permission, so BPJSKES learns that DISDUKCAPIL's queue (or
    Antre's own) exists, how many messages are ready in it and how many consumers it has;
    never a message, a binding or a way to change it."""
    from amqp.exceptions import NotFound

    owner = connect(users["DISDUKCAPIL"])
    own_queue("*.*.DISDUKCAPIL")(owner.channel()).declare()
    for _ in range(3):
        publish(guest, "ticket.called.DISDUKCAPIL")
    reader = owner.channel()
    taken = None
    deadline = time.monotonic() + 5
    while taken is None and time.monotonic() < deadline:  # routing is asynchronous
        taken = reader.basic_get(OWN_QUEUE, no_ack=False)  # one delivered, not yet acked
    assert taken is not None
    consuming = owner.channel()
    consuming.basic_qos(0, 1, False)
    consuming.basic_consume(OWN_QUEUE, callback=lambda message: None)  # a consumer, holding one
    other = connect(users["BPJSKES"])

    def counts():
        answer = other.channel().queue_declare(OWN_QUEUE, passive=True)
        return answer.queue, answer.message_count, answer.consumer_count

    deadline = time.monotonic() + 5
    while counts() != (OWN_QUEUE, 1, 1) and time.monotonic() < deadline:
        time.sleep(0.05)
    # Ready messages only (one taken by basic_get, one held by the consumer), consumers.
    assert counts() == (OWN_QUEUE, 1, 1)
    # Antre's own queues as well; an unknown name is a 404: existence is what it learns.
    guest.default_channel.queue_declare("reporting.events", durable=True)
    assert other.channel().queue_declare("reporting.events", passive=True).queue == "reporting.events"
    with pytest.raises(NotFound) as caught:
        other.channel().queue_declare("agency.DISDUKCAPIL.nothing-here", passive=True)
    assert caught.value.code == 404
    # Never the contents, the bindings or the queue itself.
    what = f"queue '{OWN_QUEUE}'"
    refused(other, lambda ch: ch.basic_get(OWN_QUEUE), what)
    refused(other, lambda ch: ch.basic_consume(OWN_QUEUE, callback=lambda m: None), what)
    refused(other, lambda ch: ch.queue_bind(OWN_QUEUE, "antre.events", "*.*.BPJSKES"), what)
    refused(other, lambda ch: ch.queue_unbind(OWN_QUEUE, "antre.events", "*.*.DISDUKCAPIL"), what)
    refused(other, lambda ch: ch.queue_purge(OWN_QUEUE), what)
    refused(other, lambda ch: ch.queue_declare(OWN_QUEUE, durable=True), what)  # not passive


# -- managing the accounts --------------------------------------------------------------------


def test_ensure_is_idempotent_keeps_or_rotates_password_and_removes_tags(management, vhost, prefix,
                                                                         guest, connect):
    first = broker_users.ensure_agency_user(management, vhost, "BPJSKES", prefix=prefix)
    assert first["created"] and first["username"] == f"{prefix}agency-bpjskes"
    name = first["username"]
    management.put(f"users/{name}", {"password": first["password"], "tags": "management"})
    again = broker_users.ensure_agency_user(management, vhost, "BPJSKES", prefix=prefix)
    assert again["created"] is False and again["password"] is None
    assert management.get(f"users/{name}")["tags"] in ([], "")
    connect(first).release()  # the old password still works
    assert management.get(f"user-limits/{name}")[0]["value"] == {
        "max-connections": broker_users.MAX_CONNECTIONS, "max-channels": broker_users.MAX_CHANNELS}
    assert management.get(f"permissions/{broker_users._q(vhost)}/{name}")["write"] == r"^agency\.BPJSKES\..+$"

    rotated = broker_users.ensure_agency_user(management, vhost, "BPJSKES", prefix=prefix, rotate=True)
    assert rotated["password"] not in (None, first["password"])
    with pytest.raises(AccessRefused) as caught:
        connect(first)
    assert caught.value.code == 403
    connect(rotated).release()

    listed = broker_users.list_agency_users(management, vhost, prefix=prefix)
    assert listed == [{"username": name, "agency": "BPJSKES", "tags": [], "vhosts": [vhost]}]
    assert broker_users.remove_agency_user(management, "BPJSKES", prefix=prefix) is True
    assert broker_users.remove_agency_user(management, "BPJSKES", prefix=prefix) is False
    assert broker_users.list_agency_users(management, prefix=prefix) == []


def test_cli_sync_from_catalog_writes_private_credentials(container_factory, service_config, vhost,
                                                          prefix, pytestconfig, guest, tmp_path, capsys):
    from nameko.standalone.rpc import ServiceRpcProxy

    from services.catalog.service import CatalogService

    container_factory(CatalogService, service_config).start()
    with ServiceRpcProxy("catalog", service_config) as catalog:
        catalog.import_catalog(document(agencies=[
            agency(), agency(code="BPJSKES", name="BPJS Kesehatan", kind="state_company"),
            agency(code="DINSOS", name="Dinas Sosial", active=False)]))
    out = tmp_path / "credentials.json"
    base = ["--management-url", pytestconfig.getoption("RABBIT_API_URI"), "--user-prefix", prefix]
    sync = ["sync", *base, "--catalog-amqp", service_config["AMQP_URI"], "--vhost", vhost,
            "--out", str(out)]

    assert cli.main(sync) == 0
    printed = capsys.readouterr().out
    saved = json.loads(out.read_text())["credentials"]
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert [c["agency"] for c in saved] == ["BPJSKES", "DISDUKCAPIL"]  # not the inactive DINSOS
    entry = saved[1]
    assert entry["password"] not in printed and "created" in printed
    assert entry["queue"] == OWN_QUEUE and entry["binding_key"] == "*.*.DISDUKCAPIL"
    with Connection(entry["amqp_url"]) as conn:  # the URL an agency is given works
        own_queue(entry["binding_key"])(conn.channel()).declare()

    # Again: nothing new (passwords kept); rotating one agency merges into the file.
    assert cli.main(sync) == 0
    assert "new credential" not in capsys.readouterr().out
    assert json.loads(out.read_text())["credentials"] == saved
    assert cli.main([*sync, "--agency", "BPJSKES", "--rotate", "--show"]) == 0
    rotated = {c["agency"]: c for c in json.loads(out.read_text())["credentials"]}
    assert rotated["DISDUKCAPIL"] == entry and rotated["BPJSKES"]["password"] != saved[0]["password"]
    assert rotated["BPJSKES"]["password"] in capsys.readouterr().out  # --show
    assert cli.main([*sync, "--agency", "DINSOS"]) == 1

    assert cli.main(["revoke", *base, "--agency", "BPJSKES"]) == 0
    assert capsys.readouterr().out == f"deleted {prefix}agency-bpjskes\n"
    assert cli.main(["list", *base, "--vhost", vhost]) == 0
    assert [u["agency"] for u in json.loads(capsys.readouterr().out)] == ["DISDUKCAPIL"]


def test_cli_sync_from_catalog_file(vhost, prefix, pytestconfig, guest, tmp_path):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text("agencies:\n  - {code: DPU-CKPP, name: PU}\n  - {code: DINSOS, active: false}\n")
    out = tmp_path / "out.json"
    assert cli.main(["sync", "--agencies-from-file", str(catalog), "--vhost", vhost, "--out", str(out),
                     "--management-url", pytestconfig.getoption("RABBIT_API_URI"),
                     "--user-prefix", prefix]) == 0
    [entry] = json.loads(out.read_text())["credentials"]
    assert entry["username"] == f"{prefix}agency-dpu-ckpp" and entry["queue_prefix"] == "agency.DPU-CKPP."


def test_the_definitions_file_gives_agency_queues_their_bounds_and_no_other(management, vhost,
                                                                            guest):
    applied = definitions.apply(management, vhost, definitions.load())
    assert applied == {"exchanges": ["antre.events"], "policies": ["antre-agency-queues"]}
    agency_queue = f"{broker_users.queue_prefix('DUK')}events"
    own_queue = queue_names("reporting")[0]
    for name in (agency_queue, own_queue):
        Queue(name, durable=True)(guest.default_channel).declare()

    def policy_of(name):
        return management.get(f"queues/{quote(vhost, safe='')}/{quote(name, safe='')}").get("policy")

    deadline = time.monotonic() + 10
    while policy_of(agency_queue) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert policy_of(agency_queue) == "antre-agency-queues"
    assert policy_of(own_queue) is None
    assert definitions.apply(management, vhost, definitions.load()) == applied  # again: safe
