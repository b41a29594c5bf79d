"""System test: the hall as it runs in production, with services restarted mid-day.

Each service runs as its own ``nameko run`` process with the configuration file compose
uses (``deploy/config/<service>.yaml``), on a private RabbitMQ vhost with the definitions
compose applies (``deploy/rabbitmq/definitions.json``). nginx from Debian's
packages is the gateway, with the compose template ``deploy/nginx/antre.conf`` rendered by
``deploy/nginx/local.sh``. Every request of the day goes through the gateway.

The day is the simulator of ``make demo`` (``antre_devtools.hall``): citizens take tickets at a
kiosk with a morning peak and a civil-registry-heavy mix, twelve counters call, serve,
recall, mark no-shows and transfer, some citizens cancel and some fill in the survey. While
it runs the test stops services the way operators and kernels do:

1. the queue service gets SIGTERM (a graceful stop, as ``docker compose restart``) and is
   started again;
2. the reporting service is killed (SIGKILL) while it ingests, and started again;
3. the queue service is killed (SIGKILL) in the middle of the traffic, and started again.

The simulator behaves like a kiosk and a counter console: when the gateway answers 502/503/
504 it waits and retries, reading the ticket or counter back first when its request may
have taken effect before the service died.

Then it checks that nothing was lost:

- the queue's own ticket list (through the gateway) holds exactly the tickets the simulator
  was told about, each in the status the simulator last saw, none left active, and no
  number given twice;
- every state change reached the broker: the events a test subscriber (bound to ``#``
  before anything started) received, per ticket, are exactly the ones its final state
  implies (issued, called, each recall, serving, and its end), and one feedback event per
  survey;
- reporting stored every distinct event published (``antre_events_ingested_total``) and
  its daily report and IKM agree with the simulator's own tally, figure by figure.

Data must outlive the processes, so the services use a MongoDB server: ``MONGO_URL`` when
it names one (``mongodb://``), else ``tests/system/wire_mongo.py``, an in-memory stand-in
that speaks MongoDB's wire protocol, in a process of its own that is never restarted.
"""

import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from kombu import Connection, Queue, binding

from antre_devtools import ROOT, harness
from antre_devtools import hall as simulator
from services import registry
from services.kernel.infra.outbox import events_exchange
from tests.system.wire_mongo import spawn_server, stop_server

TICKETS = 90
MINUTES = 1.0  # wall-clock minutes of the simulated opening hours
# (share of the day's citizens who have arrived, service, how it is stopped)
RESTARTS = ((0.3, "queue", "term"), (0.5, "reporting", "kill"), (0.7, "queue", "kill"))
STARTUP_SECONDS = 60.0
SETTLE_SECONDS = 120.0


# -- the processes -----------------------------------------------------------------------------


def _wait_for(what, check, timeout, problem=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout:.0f}s{problem()}")


@pytest.fixture
def gateway_dir():
    """nginx's runtime directory, outside pytest's private tree: nginx's workers run as an
    unprivileged user when the tests run as root, and must reach their temporary files."""
    path = Path(tempfile.mkdtemp(prefix="antre-gateway-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def durable_mongo_url(tmp_path):
    """A MongoDB URL whose data outlives the services' processes."""
    configured = os.environ.get("MONGO_URL") or ""
    if configured.startswith(("mongodb://", "mongodb+srv://")):
        yield configured
        return
    with open(tmp_path / "wire_mongo.log", "wb") as log:
        server, url = spawn_server(stderr=log)
        try:
            yield url
        finally:
            stop_server(server)


@pytest.fixture
def vhost():
    """A private vhost with the definitions compose applies (deploy/rabbitmq/definitions.json)."""
    vhost = harness.Vhost(harness.MANAGEMENT_URL, f"antre-system-{uuid.uuid4().hex[:8]}")
    vhost.create()
    vhost.apply_definitions()
    yield vhost
    vhost.delete()


@pytest.fixture
def event_tap(vhost):
    """A durable queue bound to every event, declared before any service starts."""
    amqp_uri = harness.amqp_uri_for(harness.AMQP_URL, vhost.name)
    exchange = events_exchange()
    queue = Queue("system-test.tap", exchange, bindings=[binding(exchange, routing_key="#")],
                  durable=True, auto_delete=False)
    with Connection(amqp_uri) as connection:
        queue(connection.default_channel).declare()
    return Tap(amqp_uri, queue)


class Tap:
    """Reads the tap queue: every event published, by id (deliveries are at least once)."""

    def __init__(self, amqp_uri, queue):
        self.amqp_uri, self.queue = amqp_uri, queue
        self.events = {}

    def drain(self):
        """Take every message waiting now; returns how many were new events."""
        new = 0
        with Connection(self.amqp_uri) as connection:
            bound = self.queue(connection.default_channel)
            while (message := bound.get(no_ack=True)) is not None:
                body = message.body
                envelope = json.loads(body.decode() if isinstance(body, bytes) else body)
                if envelope["id"] not in self.events:
                    self.events[envelope["id"]] = envelope
                    new += 1
        return new


class Hall:
    """The four services and the gateway, as processes; their logs in ``work_dir`` (pytest's
    ``tmp_path``: the last runs' are kept for a look after a failure)."""

    def __init__(self, work_dir, gateway_dir, vhost, mongo_url, nginx):
        self.work_dir, self.gateway_dir = work_dir, gateway_dir
        self.nginx_binary = nginx
        self.ports = harness.free_ports()
        self.gateway = f"http://127.0.0.1:{harness.free_port()}"
        self.admin = secrets.token_urlsafe(24)
        amqp_uri = harness.amqp_uri_for(harness.AMQP_URL, vhost.name)
        self.mongo_url, self.prefix = mongo_url, f"sys{uuid.uuid4().hex[:8]}_"
        # Links in pages and answers point at the front door.
        env = harness.service_env(self.ports, amqp_uri, mongo_url, self.prefix, self.admin,
                                  site=simulator.SITE, log_level="INFO", public_url=self.gateway)
        self.services = {p.name: p for p in harness.processes_for(registry.names(), self.ports,
                                                                  env, work_dir)}
        self.nginx = None

    def start(self):
        for service in self.services.values():
            service.start()
        for service in self.services.values():
            service.wait_healthy(STARTUP_SECONDS)
        conf = self.gateway_dir
        upstreams = [f"127.0.0.1:{self.ports[name]}" for name in registry.names()]
        subprocess.run(["bash", "deploy/nginx/local.sh", str(conf),
                        self.gateway.removeprefix("http://"), *upstreams], cwd=ROOT, check=True)
        self.nginx_log = open(self.work_dir / "nginx.log", "wb")
        self.nginx = subprocess.Popen([self.nginx_binary, "-e", "stderr", "-p", str(conf), "-c",
                                       str(conf / "nginx.conf"), "-g", "daemon off;"],
                                      stdout=self.nginx_log, stderr=subprocess.STDOUT)
        for name in registry.names():
            _wait_for(f"the gateway serves /health/{name}",
                      lambda name=name: self.healthy_through_gateway(name), STARTUP_SECONDS,
                      lambda: f"\nnginx: {(self.work_dir / 'nginx.log').read_text()}")

    def healthy_through_gateway(self, name):
        if self.nginx.poll() is not None:
            raise AssertionError(f"nginx exited: {(self.work_dir / 'nginx.log').read_text()}")
        try:
            return requests.get(f"{self.gateway}/health/{name}", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def restart(self, name, how):
        """Stop ``name`` (``term``: SIGTERM, SIGKILL after 10 s; ``kill``: SIGKILL), start it
        again, and wait until the gateway reaches it. Returns the stopped process's status."""
        service = self.services[name]
        status = service.stop(how)
        service.start()
        service.wait_healthy(STARTUP_SECONDS)
        _wait_for(f"the gateway reaches {name} again", lambda: self.healthy_through_gateway(name),
                  STARTUP_SECONDS)
        return status

    def stop(self):
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)  # nginx's graceful shutdown
            try:
                self.nginx.wait(10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()
        if self.nginx is not None:
            self.nginx_log.close()
        # As compose does: the services that call others stop first, the catalog last (a
        # worker of theirs that waits for a catalog answer would otherwise wait for nothing).
        dependents = [s for name, s in self.services.items() if name != "catalog"]
        started = time.monotonic()
        harness.stop_all(dependents, 10.0)
        print(f"stopped {', '.join(s.name for s in dependents)} in {time.monotonic() - started:.1f}s")
        started = time.monotonic()
        harness.clean_up([self.services["catalog"]], 10.0, None, self.mongo_url, self.prefix,
                       self.work_dir, keep_logs=True, say=print)
        print(f"stopped catalog in {time.monotonic() - started:.1f}s")

    def logs(self):
        return "\n".join(f"--- {s.name}\n{s.log_tail(40)}" for s in self.services.values())


@pytest.fixture
def nginx():
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None)
    if found is None:
        pytest.fail("nginx is not installed: apt-get install nginx-light (.ci/run does)")
    return found


@pytest.fixture
def hall(tmp_path, gateway_dir, vhost, durable_mongo_url, nginx, event_tap):
    hall = Hall(tmp_path, gateway_dir, vhost, durable_mongo_url, nginx)
    try:
        hall.start()
        yield hall
    finally:
        hall.stop()


# -- the day ---------------------------------------------------------------------------------


class Restarts(threading.Thread):
    """Stops and restarts services while the day runs, when enough citizens have arrived."""

    def __init__(self, hall, day):
        super().__init__(name="restarts", daemon=True)
        self.hall, self.day = hall, day
        self.done, self.failure = [], None

    def run(self):
        try:
            for share, name, how in RESTARTS:
                while len(self.day.tickets) < share * len(self.day.arrivals):
                    if self.day.stop.is_set():
                        raise AssertionError(f"the day stopped before restarting {name}")
                    time.sleep(0.05)
                before, started = len(self.day.outages), time.monotonic()
                status = self.hall.restart(name, how)
                self.done.append((name, how, status, len(self.day.outages) - before,
                                  round(time.monotonic() - started, 1)))
        except BaseException as exc:  # reported by the test
            self.failure = exc


def midday_zone(now=None):
    """A fixed-offset time zone where it is now between 12:00 and 13:00, so that the site's
    local day cannot end (at its midnight) while the test runs."""
    hour = (now or datetime.now(UTC)).hour
    offset = (12 - hour + 12) % 24 - 12  # UTC+offset, -12..+11
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


def queue_tickets(gateway, admin, day):
    """Every ticket of the site's day, from the queue service itself."""
    items, offset = [], 0
    while True:
        page = harness.api("GET", f"{gateway}/api/queue/tickets", "ticket list", admin,
                        params={"site": simulator.SITE, "day": day, "limit": 1000, "offset": offset})
        items += page["items"]
        offset += len(page["items"])
        if offset >= page["total"] or not page["items"]:
            return items


def events_implied(ticket):
    """The ticket events that a ticket's final state says were published."""
    events = Counter({"issued": 1})
    if ticket.get("called_at"):
        events["called"] += 1
    events["recalled"] += ticket.get("recalls", 0)
    if ticket.get("serving_at"):
        events["serving"] += 1
    if ticket["status"] not in simulator.ACTIVE:
        events[ticket["status"]] += 1
    return +events


def ingested(gateway, key):
    response = requests.get(f"{gateway}/metrics", headers={"Authorization": f"Bearer {key}"},
                            timeout=harness.REQUEST_TIMEOUT)
    response.raise_for_status()
    text = response.text
    for line in text.splitlines():
        if line.startswith("antre_events_ingested_total "):
            return int(float(line.split()[1]))
    raise AssertionError(f"no antre_events_ingested_total in /metrics:\n{text}")


def test_a_day_through_the_gateway_loses_nothing_when_services_restart(hall, event_tap):
    gateway = hall.gateway
    urls = dict.fromkeys(registry.names(), gateway)  # everything through the front door
    document = simulator.demo_catalog()
    for site in document["sites"]:
        site["timezone"] = midday_zone()
    harness.api("POST", f"{gateway}/api/catalog/import", "catalog import", hall.admin, json=document)
    layout = simulator.Hall(document)
    kiosk_token, api_key = simulator.set_up(urls, hall.admin, layout)

    day = simulator.Day(gateway, layout, kiosk_token, TICKETS, MINUTES, random.Random(20261127))
    restarts = Restarts(hall, day)
    restarts.start()
    day.run(drain_limit=180.0)
    restarts.join(STARTUP_SECONDS * 3)

    assert restarts.failure is None, f"{restarts.failure!r}\n{hall.logs()}"
    assert [(n, h) for n, h, *_ in restarts.done] == [(n, h) for _, n, h in RESTARTS]
    assert restarts.done[0][2] == 0, "the queue service did not stop cleanly on SIGTERM"
    assert [s for _, _, s, *_ in restarts.done[1:]] == [-signal.SIGKILL] * 2
    assert day.errors == [], f"{day.errors}\n{hall.logs()}"
    # The hall met the restarts only as the gateway's 502 while a service was down: no
    # service answered 503 (a call of its own that timed out), nothing was cut off.
    assert [o for o in day.outages if not o[2].startswith("502 ")] == []
    queue_outages = [o for (n, _, _, o, _) in restarts.done if n == "queue"]
    assert all(queue_outages), f"a queue restart went unnoticed by the hall: {restarts.done}"
    expected = day.tally()
    assert expected["issued"] >= TICKETS * 0.9 and expected["served"] > 0, expected

    # No ticket lost: the queue holds exactly what the hall was told, in the same state.
    local_days = {t["local_day"] for t in day.tickets.values()}
    assert len(local_days) == 1, f"the day crossed the site's midnight: {local_days}"
    local_day = local_days.pop()
    stored = queue_tickets(gateway, hall.admin, local_day)
    assert {t["ticket_id"]: t["status"] for t in stored} == \
        {tid: t["status"] for tid, t in day.tickets.items()}
    assert not [t for t in stored if t["status"] in simulator.ACTIVE]
    numbers = Counter((t["service"], t["number"]) for t in stored)
    assert [k for k, n in numbers.items() if n > 1] == []

    # No event lost: wait until the broker and reporting are quiet and agree.
    def settled():
        event_tap.drain()
        return ingested(gateway, api_key) == len(event_tap.events) and event_tap.drain() == 0

    _wait_for("reporting stores every event published", settled, SETTLE_SECONDS,
              lambda: f": ingested {ingested(gateway, api_key)}, published {len(event_tap.events)}")
    published = {}
    for envelope in event_tap.events.values():
        kind = envelope["type"]
        if kind.startswith("antre.ticket."):
            ticket_id = envelope["data"]["ticket_id"]
            published.setdefault(ticket_id, Counter())[kind.split(".")[2]] += 1
    assert {t["ticket_id"]: events_implied(t) for t in stored} == published
    feedback = [e for e in event_tap.events.values() if e["type"].startswith("antre.feedback.")]
    assert len(feedback) == expected["respondents"]

    # Reporting's figures are the hall's.
    figures = simulator.wait_for_reporting(gateway, api_key, local_day, expected, SETTLE_SECONDS)
    mismatches = simulator.print_summary(local_day, expected, figures, day.refused, day.errors,
                                     day.scale)
    assert mismatches == [], hall.logs()
    print("restarts (service, how, exit status, requests that met the outage, seconds from the "
          f"stop until the gateway reached it again): {restarts.done}")


def test_midday_zone_puts_the_site_at_noon_whatever_the_hour():
    from zoneinfo import ZoneInfo

    start = datetime(2026, 11, 27, tzinfo=UTC)
    for hour in range(24):
        now = start + timedelta(hours=hour, minutes=59)
        assert now.astimezone(ZoneInfo(midday_zone(now))).hour == 12, hour
