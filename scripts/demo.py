"""A whole Antre hall on this machine: every service, the sample catalog and a simulated MPP day.

Run it with ``make demo`` or ``.venv/bin/python scripts/demo.py --help``.

What it does
------------
1. Starts catalog, queue, notify and reporting as separate ``nameko run`` processes with the
   compose config files (``deploy/config/<service>.yaml``) on a private RabbitMQ vhost (with
   the definitions compose applies, ``deploy/rabbitmq/definitions.json``), on ports 8001-8004
   when they are free (else on free ports). It reuses the helpers of ``scripts/bench_queue.py``
   (vhost, processes, health waits, clean shutdown). Each run gets a
   random ``ADMIN_TOKEN`` and ``AUTH_SECRET``, a fresh Fernet ``NOTIFY_SECRET_KEY``,
   ``CATALOG_SEED=never`` and ``PUBLIC_*_URL`` pointing at the other services. ``MONGO_URL``
   comes from the environment; without it every service keeps its data in memory (a warning
   says so) and with it the databases get a private prefix and are dropped at the end.
2. Loads ``services/catalog/sample/banyuwangi.yaml`` through ``POST /api/catalog/import``, with
   the site's opening hours replaced by "open all day, every day" so that the demo works at
   any hour (the real hours are 07:30-15:30 on weekdays).
3. Creates one operator account per counter used, a kiosk device and a report viewer's API
   key (catalog API), and logs the operators in.
4. Simulates an MPP day (07:30-15:30) at accelerated speed, over HTTP like a real hall:
   citizens arrive with a morning peak and take tickets at the kiosk (kiosk token; about one
   in ten a priority citizen), with a service mix weighted toward civil registry
   (Disdukcapil) and within the services' daily quotas; twelve counters are opened, each by
   its operator (operator token), and call, serve (service times drawn around each service's
   ``typical_service_minutes``), transfer a few citizens to another Disdukcapil service, and
   recall absent citizens twice before marking them no-show; some citizens give up and
   cancel with their ticket's secret; a share of the served ones fill in the survey (the
   nine IKM elements). ``--minutes`` is the wall time of the opening hours (then the
   counters finish the queue), ``--tickets`` the number of citizens. Like real kiosks and
   consoles, the simulated ones ride out a service that restarts (try stopping and starting
   one during the demo): they retry on 502/503/504, reading the ticket or counter back first
   when the request may have taken effect. The system test (``tests/system/``) runs this
   simulator through nginx while it kills and restarts services.
5. Prints the pages to open (kiosk, counter console with an operator's login, display
   board, dashboard) at the start, and a progress line every few seconds.
6. At the end waits until reporting has ingested every event (the daily report's totals
   stop changing and match), prints the simulator's own tally next to the reporting API's
   figures (daily report and IKM of the site's local day), flags any difference and exits
   1 when there is one. With ``--keep-running`` (the default when stdin is a terminal;
   ``--exit`` turns it off) the services keep running until Ctrl-C, so the pages can be
   looked at; then everything is stopped and the vhost deleted.

The simulator uses plain threads and ``requests``; it does not monkey-patch with eventlet.
A day that crosses the site's local midnight (17:00 UTC) splits the report over two days.
"""

import argparse
import importlib.util
import math
import os
import random
import secrets
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from urllib.parse import quote

import requests
import yaml

from services.brokeraccess import definitions
from services.brokeraccess.broker_users import ManagementError

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent


def _load_bench():
    """``scripts/bench_queue.py`` as a module (it is a script, not a package member)."""
    spec = importlib.util.spec_from_file_location("antre_bench_queue", SCRIPTS / "bench_queue.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_bench()
DemoError = bench.BenchError

SITE = "BWI"
SAMPLE = ROOT / "services/catalog/sample/banyuwangi.yaml"
SERVICES = {  # name -> (nameko class, default port)
    "catalog": ("services.catalog.service:CatalogService", 8001),
    "queue": ("services.queue.service:QueueService", 8002),
    "notify": ("services.notify.service:NotifyService", 8003),
    "reporting": ("services.reporting.service:ReportingService", 8004),
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# The counters opened: seven of civil registry (Disdukcapil), five of other busy agencies.
COUNTERS = ("BWI-L01", "BWI-L02", "BWI-L03", "BWI-L04", "BWI-L05", "BWI-L06", "BWI-L07",
            "BWI-L08", "BWI-L24", "BWI-L26", "BWI-L35", "BWI-L38")
CIVIL_REGISTRY = "DISDUKCAPIL"
CIVIL_REGISTRY_SHARE = 0.6
DAY_START = 7 * 60 + 30  # 07:30, in minutes
DAY_MINUTES = 8 * 60  # until 15:30
# Relative arrivals per hour of the day: a morning peak, a dip at lunch.
HOURLY_ARRIVALS = (14, 18, 16, 13, 7, 11, 12, 9)
PRIORITY_SHARE = 0.1
PRIORITY_GROUPS = ("elderly", "elderly", "pregnant", "disability", "child")
NO_SHOW_SHARE = 0.06
TRANSFER_SHARE = 0.06
GIVE_UP_SHARE = 0.08
FEEDBACK_SHARE = 0.4
REQUEST_TIMEOUT = 30.0
UNAVAILABLE = (502, 503, 504)  # the gateway (or a service) cannot serve the request now
OUTAGE_SECONDS = 60.0  # how long a client keeps retrying while a service is unavailable
ACTIVE = ("waiting", "called", "serving")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--tickets", type=int, default=300, help="citizens arriving during the day")
    parser.add_argument("--minutes", type=float, default=2.0,
                        help="wall-clock minutes of the simulated opening hours (07:30-15:30)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a new one)")
    keep = parser.add_mutually_exclusive_group()
    keep.add_argument("--keep-running", dest="keep_running", action="store_true", default=None,
                      help="keep the services running after the summary until Ctrl-C "
                           "(default when stdin is a terminal)")
    keep.add_argument("--exit", dest="keep_running", action="store_false",
                      help="stop the services right after the summary")
    parser.add_argument("--ingest-timeout", type=float, default=90.0,
                        help="seconds to wait for reporting to ingest every event")
    bench.add_process_arguments(parser)
    args = parser.parse_args(argv)
    if args.tickets < 1 or args.minutes <= 0:
        parser.error("--tickets must be at least 1 and --minutes positive")
    if args.keep_running is None:
        args.keep_running = sys.stdin.isatty()
    return args


def say(message=""):
    print(message, flush=True)


# -- statistics ------------------------------------------------------------------------------


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def millis_between(later, earlier):
    return round((parse_time(later) - parse_time(earlier)).total_seconds() * 1000)


def time_stats(millis):
    """Mean and nearest-rank p90 in seconds (as reporting computes them), or Nones."""
    if not millis:
        return None, None
    ordered = sorted(millis)
    p90 = ordered[max(1, math.ceil(0.9 * len(ordered))) - 1]
    return round(sum(ordered) / len(ordered) / 1000, 3), p90 / 1000


def ikm_of(surveys):
    """IKM (Permenpan RB 14/2017) and its grade from a list of {u1..u9: score}."""
    if not surveys:
        return None, None
    total = sum(sum(scores.values()) for scores in surveys)
    exact = Fraction(total * 25, 9 * len(surveys))
    ikm = math.floor(exact * 100 + Fraction(1, 2)) / 100  # half up, 2 decimals
    grade = "A" if ikm >= 88.31 else "B" if ikm >= 76.61 else "C" if ikm >= 65.0 else "D"
    return ikm, grade


# -- the services ----------------------------------------------------------------------------


def port_is_free(port):
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def choose_ports():
    ports = {}
    for name, (_, default) in SERVICES.items():
        ports[name] = default if port_is_free(default) else bench.free_port()
    return ports


def service_env(ports, amqp_uri, mongo_url, mongo_prefix, admin_token):
    from cryptography.fernet import Fernet

    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env = {**os.environ, "AMQP_URI": amqp_uri, "MONGO_URL": mongo_url,
           "MONGO_DB_PREFIX": mongo_prefix, "CATALOG_SEED": "never", "ADMIN_TOKEN": admin_token,
           "AUTH_SECRET": secrets.token_urlsafe(32),
           "NOTIFY_SECRET_KEY": Fernet.generate_key().decode(), "DEFAULT_SITE": SITE,
           "PUBLIC_BASE_URL": urls["queue"], "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING")}
    for name, port in ports.items():
        env[f"{name.upper()}_HTTP_ADDRESS"] = f"127.0.0.1:{port}"
        env[f"PUBLIC_{name.upper()}_URL"] = urls[name]
    return env


# -- set-up over the APIs --------------------------------------------------------------------


def api(method, url, what, token=None, **kwargs):
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = requests.request(method, url, headers=headers, timeout=REQUEST_TIMEOUT, **kwargs)
    return bench.check(response, what)


def demo_catalog():
    """The sample catalog, its site open around the clock."""
    document = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    for site in document["sites"]:
        site["opening_hours"] = [{"day": day, "open": "00:00", "close": "24:00", "breaks": []}
                                 for day in WEEKDAYS]
        site["closed_dates"] = []
    return document


class Hall:
    """What the simulator knows of the catalog: counters, services, quotas, operators."""

    def __init__(self, document):
        self.services = {s["code"]: s for s in document["services"] if s.get("active", True)}
        counters = {c["code"]: c for c in document["counters"]}
        self.counters = {code: counters[code] for code in COUNTERS}
        served = {s for code in COUNTERS for s in self.counters[code]["services"]}
        self.offered = [s for s in self.services if s in served]  # catalog order
        self.operators = {}  # counter -> (username, password, token)

    def weights(self):
        """Arrival weights per service, so that the counters are about equally busy.

        Disdukcapil gets CIVIL_REGISTRY_SHARE of the citizens, the other agencies the rest.
        Within a group each counter gets a share in inverse proportion to the typical service
        minutes of its services, and within a counter the services in catalog order (the
        common ones come first) get 1, 1/2, 1/3, ...
        """
        groups = {True: [], False: []}
        for code in COUNTERS:
            groups[self.counters[code]["agency"] == CIVIL_REGISTRY].append(code)
        weights = {}
        for civil, counters in groups.items():
            share = CIVIL_REGISTRY_SHARE if civil else 1 - CIVIL_REGISTRY_SHARE
            speed = {}
            for code in counters:
                minutes = [self.services[s].get("typical_service_minutes") or 10
                           for s in self.counters[code]["services"] if s in self.services]
                speed[code] = len(minutes) / sum(minutes)
            for code in counters:
                codes = [s for s in self.counters[code]["services"] if s in self.services]
                ranks = [1 / (i + 1) for i in range(len(codes))]
                for service, rank in zip(codes, ranks, strict=True):
                    weights[service] = weights.get(service, 0) + \
                        share * speed[code] / sum(speed.values()) * rank / sum(ranks)
        return weights


def set_up(urls, admin, hall):
    """Operators (one per counter), the kiosk and the report viewer's key; logins."""
    for code, counter in hall.counters.items():
        username = f"op.{code.lower()}"
        password = secrets.token_urlsafe(12)
        api("POST", f"{urls['catalog']}/api/catalog/accounts", f"account {username}", admin,
            json={"username": username, "password": password, "role": "operator",
                  "agency": counter["agency"], "counters": [code], "name": f"Operator {code}"})
        login = api("POST", f"{urls['catalog']}/api/catalog/auth/login", f"login {username}",
                    json={"username": username, "password": password})
        hall.operators[code] = (username, password, login["token"])
    kiosk = api("POST", f"{urls['catalog']}/api/catalog/devices", "kiosk device", admin,
                json={"kind": "kiosk", "site": SITE, "name": "Anjungan demo"})
    key = api("POST", f"{urls['catalog']}/api/catalog/api-keys", "API key", admin,
              json={"name": "Demo dashboard"})
    return kiosk["token"], key["key"]


# -- the simulator ---------------------------------------------------------------------------


class Day:
    """Citizens, a kiosk and counters over HTTP; keeps its own tally of every ticket."""

    def __init__(self, queue_url, hall, kiosk_token, tickets, minutes, rng):
        self.url = queue_url
        self.hall = hall
        self.kiosk_token = kiosk_token
        self.rng = rng
        self.scale = minutes * 60 / DAY_MINUTES  # wall seconds per simulated minute
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.arrivals_done = threading.Event()
        self.tickets = {}  # ticket_id -> {status, service, secret, issued_at, called_at, ...}
        self.surveys = []
        self.refused = Counter()
        self.errors = []
        self.outages = []  # (monotonic time, request, problem) of every unavailable answer
        self.give_ups = []  # (wall time, ticket_id)
        self.started = None
        self.arrivals = self._arrival_plan(tickets)

    # -- plan

    def _arrival_plan(self, count):
        weights = self.hall.weights()
        quota = {code: self.hall.services[code].get("daily_quota") for code in weights}
        plan = []
        hours = list(range(len(HOURLY_ARRIVALS)))
        for _ in range(count):
            hour = self.rng.choices(hours, HOURLY_ARRIVALS)[0]
            open_codes = [c for c in weights if quota[c] is None or quota[c] > 0]
            if not open_codes:
                break
            service = self.rng.choices(open_codes, [weights[c] for c in open_codes])[0]
            if quota[service] is not None:
                quota[service] -= 1
            priority = self.rng.choice(PRIORITY_GROUPS) if self.rng.random() < PRIORITY_SHARE else None
            plan.append((hour * 60 + self.rng.uniform(0, 60), service, priority))
        return sorted(plan)

    def sim_clock(self):
        minutes = DAY_START + (time.monotonic() - self.started) / self.scale
        return f"{int(minutes // 60) % 24:02d}:{int(minutes % 60):02d}"

    def sleep_sim(self, minutes):
        self.stop.wait(max(0.02, minutes * self.scale))

    # -- HTTP
    #
    # Like a kiosk or a counter console, the simulator rides out a service that is down for a
    # moment (restarted, or killed and restarted by its supervisor): the gateway answers 502,
    # 503 or 504, or the connection drops. Then the request may or may not have taken effect
    # (the service may have died after its write and before its answer). Before each retry the
    # simulator asks ``settle``, which reads the ticket or the counter back and returns the
    # answer when the request did take effect (None: not yet, retry). A request without
    # ``settle`` is retried as it is: a ticket issued twice is then a second ticket, which the
    # counters serve like any other (the simulator learns of it when it is called).

    def _post(self, session, path, what, body=None, token=None, secret=None, ok_conflict=False,
              settle=None, conflict_settles=False):
        deadline = time.monotonic() + OUTAGE_SECONDS
        delay, in_doubt = 0.1, False
        while True:
            try:
                response = session.post(f"{self.url}{path}", json=body,
                                        headers=self._headers(token, secret),
                                        timeout=REQUEST_TIMEOUT)
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if 200 <= response.status_code < 300:
                    return response.json()
                if response.status_code == 409 and in_doubt:
                    # The earlier attempt may have taken effect after all.
                    if conflict_settles:
                        return response.json()
                    done = settle(session) if settle is not None else None
                    if done is not None:
                        return done
                if ok_conflict and response.status_code == 409:
                    return {"conflict": response.json()}
                if response.status_code not in UNAVAILABLE:
                    self._error(f"{what}: {response.status_code} {response.text[:300]}")
                    return None
                problem = f"{response.status_code} {response.text[:100]!r}"
            with self.lock:
                self.outages.append((time.monotonic(), what, problem))
            if time.monotonic() > deadline or self.stop.is_set():
                self._error(f"{what}: unavailable for {OUTAGE_SECONDS:.0f}s: {problem}")
                return None
            in_doubt = True
            self.stop.wait(delay)
            delay = min(1.0, delay * 2)
            if settle is not None:
                done = settle(session)
                if done is not None:
                    return done

    def _get(self, session, path, token=None, secret=None):
        """GET ``path``: its JSON, or None when it fails in any way (used to settle doubts)."""
        try:
            response = session.get(f"{self.url}{path}", headers=self._headers(token, secret),
                                   timeout=REQUEST_TIMEOUT)
        except requests.RequestException:
            return None
        return response.json() if response.status_code == 200 else None

    @staticmethod
    def _headers(token, secret):
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if secret:
            headers["X-Ticket-Secret"] = secret
        return headers

    def _ticket_in(self, ticket_id, statuses, token=None, secret=None):
        """A ``settle``: the ticket, when it is in one of ``statuses``."""
        def settle(session):
            ticket = self._get(session, f"/api/queue/tickets/{ticket_id}", token, secret)
            return ticket if ticket and ticket["status"] in statuses else None
        return settle

    def _counter_in(self, code, states, token):
        """A ``settle``: the counter, when it is in one of ``states``."""
        def settle(session):
            counter = self._get(session, f"/api/queue/counters/{code}", token)
            return counter if counter and counter["state"] in states else None
        return settle

    def _new_leg(self, ticket_id, token):
        """A ``settle`` for a transfer: the new leg, when the ticket was transferred."""
        def settle(session):
            ticket = self._get(session, f"/api/queue/tickets/{ticket_id}", token)
            if not ticket or ticket["status"] != "transferred":
                return None
            return self._get(session, f"/api/queue/tickets/{ticket['transferred_to']}", token)
        return settle

    def _called_at(self, code, token):
        """A ``settle`` for call-next: the ticket now called at ``code``, if there is one."""
        def settle(session):
            counter = self._get(session, f"/api/queue/counters/{code}", token)
            ticket = counter and counter.get("ticket")
            return {"ticket": ticket} if ticket and ticket["status"] == "called" else None
        return settle

    def _error(self, message):
        with self.lock:
            self.errors.append(message)
            if len(self.errors) >= 20:
                self.stop.set()

    def _record(self, ticket, secret=None, **extra):
        """Add a ticket to the tally, or complete its entry.

        A counter may call a ticket before the thread that issued (or transferred) it has
        recorded it: whichever comes first creates the entry, the other only adds to it.
        """
        with self.lock:
            entry = self.tickets.setdefault(ticket["ticket_id"], {
                "status": "waiting", "service": ticket["service"], "secret": None,
                "issued_at": ticket["issued_at"], "called_at": None, "leg": ticket["leg"],
                "number": ticket["ticket_number"], "local_day": ticket["local_day"]})
            if secret:
                entry["secret"] = secret
            entry.update(extra)
            return entry

    def _set(self, ticket_id, **changes):
        with self.lock:
            self.tickets[ticket_id].update(changes)

    # -- the kiosk and the citizens

    def kiosk(self):
        with requests.Session() as session:
            for at, service, priority in self.arrivals:
                self.stop.wait(max(0.0, self.started + at * self.scale - time.monotonic()))
                if self.stop.is_set():
                    break
                body = {"service": service, "priority": priority}
                answer = self._post(session, "/api/queue/tickets", f"issue {service}", body,
                                    token=self.kiosk_token, ok_conflict=True)
                if answer is None:
                    continue
                if "conflict" in answer:
                    with self.lock:
                        self.refused[answer["conflict"].get("error", "conflict")] += 1
                    continue
                self._record(answer, answer["secret"])
                if self.rng.random() < GIVE_UP_SHARE:
                    patience = self.rng.uniform(5, 30)  # simulated minutes
                    with self.lock:
                        self.give_ups.append((time.monotonic() + patience * self.scale,
                                              answer["ticket_id"]))
        self.arrivals_done.set()

    def citizens(self):
        """Citizens who lose patience cancel their ticket (with its secret) if still waiting."""
        with requests.Session() as session:
            while not self.stop.is_set() and not self.finished():
                now = time.monotonic()
                with self.lock:
                    due = [g for g in self.give_ups if g[0] <= now]
                    self.give_ups = [g for g in self.give_ups if g[0] > now]
                for _, ticket_id in due:
                    with self.lock:
                        ticket = self.tickets[ticket_id]
                        if ticket["status"] != "waiting":
                            continue
                    answer = self._post(session, f"/api/queue/tickets/{ticket_id}/cancel",
                                        f"cancel {ticket['number']}", {"reason": "Terlalu lama"},
                                        secret=ticket["secret"], ok_conflict=True,
                                        settle=self._ticket_in(ticket_id, ("cancelled",),
                                                               secret=ticket["secret"]))
                    if answer is not None and "conflict" not in answer:
                        self._set(ticket_id, status="cancelled")
                self.stop.wait(0.1)

    # -- the counters

    def finished(self):
        with self.lock:
            return self.arrivals_done.is_set() and not any(
                t["status"] in ACTIVE for t in self.tickets.values())

    def counter(self, code):
        token = self.hall.operators[code][2]
        rng = random.Random(self.rng.random())
        with requests.Session() as session:
            if self._post(session, f"/api/queue/counters/{code}/open", f"open {code}", token=token,
                          settle=self._counter_in(code, ("open",), token)) is None:
                return
            while not self.stop.is_set():
                answer = self._post(session, f"/api/queue/counters/{code}/call-next",
                                    f"call-next {code}", token=token,
                                    settle=self._called_at(code, token))
                ticket = answer and answer.get("ticket")
                if not ticket:
                    # Done when nothing is left, by the tally and by the queue itself (a ticket
                    # whose issuing answer was lost in an outage is known only to the queue).
                    if self.finished():
                        break
                    self.sleep_sim(1)
                    continue
                self._serve(session, code, token, ticket, rng)
            self._post(session, f"/api/queue/counters/{code}/close", f"close {code}", token=token,
                       settle=self._counter_in(code, ("closed",), token))

    def _serve(self, session, code, token, ticket, rng):
        tid, number = ticket["ticket_id"], ticket["ticket_number"]
        self._record(ticket, status="called", called_at=ticket["called_at"], counter=code)
        base = f"/api/queue/tickets/{tid}"
        act = {"counter": code}
        self.sleep_sim(rng.uniform(0.3, 1))  # the citizen walks to the counter
        if rng.random() < NO_SHOW_SHARE:
            for _ in range(2):  # a recall retried after an outage may count twice: harmless
                if self._post(session, f"{base}/recall", f"recall {number}", act, token) is None:
                    return
                self.sleep_sim(1)
            if self._post(session, f"{base}/no-show", f"no-show {number}", act, token,
                          settle=self._ticket_in(tid, ("no_show",), token)) is not None:
                self._set(tid, status="no_show")
            return
        if self._post(session, f"{base}/start", f"start {number}", act, token,
                      settle=self._ticket_in(tid, ("serving",), token)) is None:
            return
        self._set(tid, status="serving")
        typical = self.hall.services[ticket["service"]].get("typical_service_minutes") or 10
        self.sleep_sim(typical * min(3.0, max(0.3, rng.lognormvariate(0, 0.35))))
        targets = [s for s in self.hall.offered if s != ticket["service"]
                   and self.hall.services[s]["agency"] == ticket["agency"]]
        if ticket["leg"] == 1 and targets and rng.random() < TRANSFER_SHARE:
            target = rng.choice(targets)
            leg = self._post(session, f"{base}/transfer", f"transfer {number}",
                             {"counter": code, "service": target}, token,
                             settle=self._new_leg(tid, token))
            if leg is not None:
                with self.lock:
                    secret = self.tickets[tid]["secret"]
                self._set(tid, status="transferred")
                self._record(leg, secret)
            return
        if self._post(session, f"{base}/complete", f"complete {number}", act, token,
                      settle=self._ticket_in(tid, ("completed",), token)) is None:
            return
        self._set(tid, status="completed")
        with self.lock:
            secret = self.tickets[tid]["secret"]
        if secret and rng.random() < FEEDBACK_SHARE:
            scores = {f"u{i}": rng.choices((2, 3, 4), (1, 5, 6))[0] for i in range(1, 10)}
            if self._post(session, f"{base}/feedback", f"feedback {number}", {"scores": scores},
                          secret=secret, conflict_settles=True) is not None:
                with self.lock:
                    self.surveys.append(scores)

    # -- the run

    def tally(self):
        with self.lock:
            statuses = Counter(t["status"] for t in self.tickets.values())
            waits = [millis_between(t["called_at"], t["issued_at"])
                     for t in self.tickets.values() if t["called_at"]]
            surveys = list(self.surveys)
        mean, p90 = time_stats(waits)
        ikm, grade = ikm_of(surveys)
        return {"issued": sum(statuses.values()), "served": statuses["completed"],
                "no_show": statuses["no_show"], "cancelled": statuses["cancelled"],
                "transferred": statuses["transferred"], "waiting": statuses["waiting"],
                "in_service": statuses["called"] + statuses["serving"], "wait_mean": mean,
                "wait_p90": p90, "respondents": len(surveys), "ikm": ikm, "grade": grade}

    def progress(self):
        t = self.tally()
        return (f"[{self.sim_clock()}] issued {t['issued']:4d}  waiting {t['waiting']:3d}  "
                f"at counters {t['in_service']:2d}  served {t['served']:4d}  no-show {t['no_show']:3d}  "
                f"cancelled {t['cancelled']:3d}  transferred {t['transferred']:3d}  "
                f"surveys {t['respondents']:3d}")

    def run(self, drain_limit):
        self.started = time.monotonic()
        threads = [threading.Thread(target=self.kiosk, name="kiosk", daemon=True),
                   threading.Thread(target=self.citizens, name="citizens", daemon=True)]
        threads += [threading.Thread(target=self.counter, args=(code,), name=f"counter-{code}",
                                     daemon=True) for code in self.hall.counters]
        for thread in threads:
            thread.start()
        next_progress = time.monotonic()
        deadline = None
        try:
            while any(t.is_alive() for t in threads):
                if time.monotonic() >= next_progress:
                    say(self.progress())
                    next_progress += 5
                if self.arrivals_done.is_set() and deadline is None:
                    deadline = time.monotonic() + drain_limit
                if deadline and time.monotonic() > deadline and not self.stop.is_set():
                    self._error(f"the counters did not finish the queue within {drain_limit:.0f}s")
                    self.stop.set()
                time.sleep(0.2)
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(REQUEST_TIMEOUT + 5)
        say(self.progress())


# -- the summary -----------------------------------------------------------------------------


def reported(reporting_url, key, day):
    totals = api("GET", f"{reporting_url}/api/reporting/daily", "daily report", key,
                 params={"site": SITE, "date": day})["totals"]
    ikm = api("GET", f"{reporting_url}/api/reporting/ikm", "IKM report", key,
              params={"site": SITE, "from": day, "to": day})["overall"]
    wait = totals.get("waiting_time") or {}
    return {"issued": totals["issued"], "served": totals["served"], "no_show": totals["no_show"],
            "cancelled": totals["cancelled"], "transferred": totals["transferred"],
            "waiting": totals["waiting"], "in_service": totals["in_service"],
            "wait_mean": wait.get("mean"), "wait_p90": wait.get("p90"),
            "respondents": ikm["respondents"], "ikm": ikm["ikm"], "grade": ikm["grade"]}


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(a - b) <= 0.0015
    return a == b


def wait_for_reporting(reporting_url, key, day, expected, timeout):
    """Poll until reporting matches the tally, or its figures stop changing (then the last)."""
    deadline = time.monotonic() + timeout
    last, stable_since = None, time.monotonic()
    while True:
        figures = reported(reporting_url, key, day)
        if all(same(expected[k], figures[k]) for k in expected):
            return figures
        if figures != last:
            last, stable_since = figures, time.monotonic()
        elif time.monotonic() - stable_since > 20 or time.monotonic() > deadline:
            return figures
        time.sleep(1)


ROWS = (("issued", "issued (legs)"), ("served", "served"), ("no_show", "no-show"),
        ("cancelled", "cancelled"), ("transferred", "transferred"), ("waiting", "still waiting"),
        ("in_service", "at a counter"), ("wait_mean", "waiting time mean (s)"),
        ("wait_p90", "waiting time p90 (s)"), ("respondents", "IKM respondents"),
        ("ikm", "IKM"), ("grade", "IKM grade"))


def print_summary(day, expected, figures, refused, errors, scale):
    mismatches = [k for k, _ in ROWS if not same(expected[k], figures[k])]
    say()
    say(f"Summary of {SITE}, local day {day}")
    say(f"{'':26}{'simulator':>12}{'reporting API':>16}")
    for key, label in ROWS:
        def show(value):
            return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
        flag = "" if key not in mismatches else "   <-- MISMATCH"
        say(f"{label:26}{show(expected[key]):>12}{show(figures[key]):>16}{flag}")
    say(f"(times are wall-clock seconds, as the services saw them: 1 simulated minute = {scale:.3f} s)")
    if refused:
        say(f"refused at the kiosk: {dict(refused)}")
    for error in errors[:10]:
        say(f"request error: {error}")
    if mismatches:
        say(f"MISMATCH in: {', '.join(mismatches)}")
    else:
        say("The reporting API agrees with the simulator on every figure.")
    return mismatches


# -- main ------------------------------------------------------------------------------------


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, bench._interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
    rng = random.Random(args.seed)
    run_id = uuid.uuid4().hex[:8]
    vhost = bench.Vhost(args.management, f"antre-demo-{run_id}")
    amqp_uri = f"{args.amqp.rstrip('/')}/{quote(vhost.name, safe='')}"
    mongo_url = os.environ.get("MONGO_URL") or "mongomock://localhost/"
    mongo_prefix = f"demo{run_id}_"
    log_dir = tempfile.mkdtemp(prefix="antre-demo-")
    admin = secrets.token_urlsafe(24)
    processes, sim, vhost_created, status = [], None, False, 2
    try:
        if mongo_url.startswith("mongomock://"):
            say("WARNING: MONGO_URL is not set to a MongoDB server: every service keeps its data "
                "IN MEMORY and loses it when it stops.")
        ports = choose_ports()
        env = service_env(ports, amqp_uri, mongo_url, mongo_prefix, admin)
        processes = [bench.ServiceProcess(name, f"deploy/config/{name}.yaml", target, ports[name],
                                          env, log_dir)
                     for name, (target, _) in SERVICES.items()]
        urls = {p.name: p.url for p in processes}
        vhost.create()
        vhost_created = True
        try:  # as compose does before the services start
            definitions.apply(args.management, vhost.name, definitions.load())
        except (ManagementError, requests.RequestException) as exc:
            raise DemoError(f"could not apply deploy/rabbitmq/definitions.json: {exc}") from None
        say(f"Starting {', '.join(SERVICES)} on vhost {vhost.name} (logs in {log_dir}) ...")
        for process in processes:
            process.start()
        for process in processes:
            process.wait_healthy(args.startup_timeout)

        document = demo_catalog()
        api("POST", f"{urls['catalog']}/api/catalog/import", "catalog import", admin, json=document)
        say(f"Loaded the sample catalog ({len(document['services'])} services, "
            f"{len(document['counters'])} counters). NOTE: the site's opening hours were replaced by "
            "'open all day, every day' so the demo works at any hour.")
        hall = Hall(document)
        kiosk_token, api_key = set_up(urls, admin, hall)
        sim = Day(urls["queue"], hall, kiosk_token, args.tickets, args.minutes, rng)
        username, password, _ = hall.operators[COUNTERS[0]]
        say()
        say("Open these pages:")
        say(f"  kiosk:           {urls['queue']}/kiosk/{SITE}#token={kiosk_token}")
        say(f"  counter console: {urls['queue']}/counter  (operator {username} / {password}, "
            f"counter {COUNTERS[0]}; every counter has its operator op.<counter code, lower case>)")
        say(f"  display board:   {urls['notify']}/display/{SITE}")
        say(f"  dashboard:       {urls['reporting']}/dashboard/{SITE}#key={api_key}")
        say(f"  admin token:     {admin}")
        say()
        say(f"Simulating {SITE}'s day 07:30-15:30 in {args.minutes:g} min: {len(sim.arrivals)} "
            f"citizens, {len(hall.counters)} counters, 1 simulated minute = {sim.scale:.3f} s")
        sim.run(drain_limit=max(120.0, args.minutes * 60 * 2))

        expected = sim.tally()
        days = sorted({t["local_day"] for t in sim.tickets.values()})
        day = days[-1] if days else datetime.now().date().isoformat()
        if len(days) > 1:
            say(f"NOTE: the run crossed the site's midnight ({', '.join(days)}); "
                f"only {day} is compared")
        say("Waiting for reporting to ingest every event ...")
        figures = wait_for_reporting(urls["reporting"], api_key, day, expected, args.ingest_timeout)
        mismatches = print_summary(day, expected, figures, sim.refused, sim.errors,
                                   sim.scale)
        status = 1 if mismatches or sim.errors else 0
        if args.keep_running:
            say()
            say("The services keep running: open the pages above. Ctrl-C stops everything.")
            while all(p.process.poll() is None for p in processes):
                time.sleep(1)
            say("A service stopped on its own; stopping the others.")
        return status
    except DemoError as exc:
        say(f"demo: {exc}")
        return 2
    except KeyboardInterrupt:
        say("\ndemo: stopping ...")
        return status if status != 2 else 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if sim is not None:
            sim.stop.set()
        bench.clean_up(processes, args.stop_grace, vhost if vhost_created else None, mongo_url,
                       mongo_prefix, log_dir, keep_logs=status != 0 or args.keep_logs,
                       say=lambda text: say(f"demo: {text}"))


if __name__ == "__main__":
    sys.exit(main())
