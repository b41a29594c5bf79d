"""Two queue processes and two reporting processes at once, on one shared store.

Clients and counters send each request to one or the other queue process (as the
gateway's round robin would), and the two reporting processes compete for the same
events. No number may be handed out twice or skipped, no ticket called twice, every
ticket completed once, and the report counts each ticket exactly once.

The store is the system test's wire stand-in (one store, shared by every process over
the real driver), or the MongoDB that ``MONGO_URL`` names.
"""

import itertools
import secrets
import threading
import time
import uuid
from collections import Counter

import requests

from antre_devtools import harness
from antre_devtools.bench.load import catalog_document
from services import registry

# The system test's fixtures.
from tests.system.test_hall_in_production import durable_mongo_url, vhost  # noqa: F401

TICKETS = 150
COUNTERS = 6
CLIENTS = 6
DEADLINE_SECONDS = 180.0


def start(tmp_path, vhost, mongo_url):  # noqa: F811 (vhost is the fixture's value)
    amqp_uri = harness.amqp_uri_for(harness.AMQP_URL, vhost.name)
    ports = harness.free_ports()
    admin = secrets.token_urlsafe(24)
    env = {**harness.service_env(ports, amqp_uri, mongo_url, f"scale{uuid.uuid4().hex[:6]}_",
                                 admin),
           **harness.NO_WEB_LIMITS}  # six clients on one address: a load, not an abuse
    processes = []
    for name, copies in (("catalog", 1), ("queue", 2), ("reporting", 2)):
        entry = registry.entry(name)
        for copy in range(copies):
            port = ports[name] if copy == 0 else harness.free_port()
            own = {**env, entry.address_variable: f"127.0.0.1:{port}"}
            processes.append(harness.ServiceProcess(entry, port, own, tmp_path,
                                                    name=f"{name}{copy + 1}"))
    harness.start_all(processes, 60.0)
    return {p.name: p for p in processes}, {"Authorization": f"Bearer {admin}"}


def test_two_queue_and_two_reporting_processes_give_one_queue_and_one_count(
        tmp_path, vhost, durable_mongo_url):  # noqa: F811
    processes, admin = start(tmp_path, vhost, durable_mongo_url)
    try:
        run_the_day(processes, admin)
    finally:
        harness.stop_all(list(processes.values()), 10.0)


def run_the_day(processes, admin):
    catalog = processes["catalog1"].url
    queues = [processes["queue1"].url, processes["queue2"].url]
    reportings = [processes["reporting1"].url, processes["reporting2"].url]
    document = catalog_document(3, COUNTERS)
    harness.check(requests.post(f"{catalog}/api/catalog/import", json=document, headers=admin,
                              timeout=30), "catalog import")
    services = [s["code"] for s in document["services"]]
    counters = [c["code"] for c in document["counters"]]
    for n, code in enumerate(counters):
        harness.check(requests.post(f"{queues[n % 2]}/api/queue/counters/{code}/open",
                                  headers=admin, timeout=30), f"open {code}")

    lock = threading.Lock()
    issued, called, completed, failures = [], Counter(), Counter(), []
    done = threading.Event()
    deadline = time.monotonic() + DEADLINE_SECONDS

    def client(index):
        with requests.Session() as session:
            for n in range(index, TICKETS, CLIENTS):
                answer = session.post(f"{queues[n % 2]}/api/queue/tickets",
                                      json={"service": services[n % len(services)]}, timeout=30)
                with lock:
                    if answer.status_code == 201:
                        issued.append(answer.json())
                    else:
                        failures.append(("issue", answer.status_code, answer.text[:300]))

    def counter(code):
        turn = itertools.count()
        with requests.Session() as session:
            session.headers.update(admin)
            while not done.is_set() and time.monotonic() < deadline:
                url = queues[next(turn) % 2]
                answer = session.post(f"{url}/api/queue/counters/{code}/call-next", timeout=30)
                if answer.status_code != 200:
                    failures.append(("call-next", answer.status_code, answer.text[:300]))
                    time.sleep(0.1)
                    continue
                ticket = answer.json()["ticket"]
                if ticket is None:
                    time.sleep(0.02)
                    continue
                with lock:
                    called[ticket["ticket_id"]] += 1
                for action in ("start", "complete"):
                    url = queues[next(turn) % 2]
                    answer = session.post(f"{url}/api/queue/tickets/{ticket['ticket_id']}/{action}",
                                          json={"counter": code}, timeout=30)
                    if answer.status_code != 200:
                        failures.append((action, answer.status_code, answer.text[:300]))
                        break
                else:
                    with lock:
                        completed[ticket["ticket_id"]] += 1
                        if sum(completed.values()) >= TICKETS:
                            done.set()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    threads += [threading.Thread(target=counter, args=(code,)) for code in counters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_SECONDS + 40)

    assert failures == []
    assert len(issued) == TICKETS
    for service in services:  # one sequence per service: every number once, none skipped
        numbers = sorted(t["number"] for t in issued if t["service"] == service)
        assert numbers == list(range(1, len(numbers) + 1)), service
    assert max(called.values()) == 1, "a ticket was called twice"
    assert set(completed) == {t["ticket_id"] for t in issued}
    assert set(completed.values()) == {1}

    day = issued[0]["local_day"]

    def totals(url):
        answer = requests.get(f"{url}/api/reporting/daily", params={"site": "BWI", "date": day},
                              headers=admin, timeout=30)
        return answer.json()["totals"] if answer.status_code == 200 else None

    wait_until = time.monotonic() + 120
    while time.monotonic() < wait_until:
        figures = totals(reportings[0])
        if figures and figures["served"] >= TICKETS:
            break
        time.sleep(0.5)
    time.sleep(3)  # redeliveries and late folds would change nothing
    for url in reportings:
        figures = totals(url)
        assert (figures["issued"], figures["served"]) == (TICKETS, TICKETS), figures
