"""The benchmarks' hall and load: a small catalog, a raw kombu baseline, and the client and
counter threads that issue, call, start and complete tickets over HTTP, timing each request.

Figures are read against the baseline (a raw broker round trip measured in the same run on
the same broker), which cancels most of the machine: see ``antre_devtools.bench.queue``.
"""

import http.client
import json
import math
import threading
import time
import uuid
from urllib.parse import urlsplit

import requests
from kombu import Connection, Exchange, Queue

from antre_devtools.harness import REQUEST_TIMEOUT, check

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SERVICE_CODES = ("KTP-EL", "KK", "AKTA-LAHIR", "AKTA-MATI", "KIA", "PINDAH-DATANG", "LEGALISIR",
                 "AKTA-KAWIN")
AGENCY = {"code": "DISDUKCAPIL", "name": "Dinas Kependudukan dan Pencatatan Sipil",
          "kind": "local_office"}
MAX_ERROR_SAMPLES = 10


# -- statistics ------------------------------------------------------------------------------


def percentile(values, p):
    """Nearest-rank percentile of ``values`` (seconds), in milliseconds."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1] * 1000


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def rounded(value, digits=2):
    return round(value, digits) if value is not None else None


def ms(seconds):
    return rounded(seconds * 1000 if seconds is not None else None)


def p_ms(durations, p):
    """The ``p``th percentile of ``durations`` (seconds), in ms."""
    return rounded(percentile(durations, p))


# -- the broker baseline --------------------------------------------------------------------


def baseline_round_trips(amqp_uri, count, warmup=20):
    """Durations (seconds) of ``count`` publish-with-confirm, consume, ack round trips."""
    durations = []
    received = []
    exchange = Exchange("bench.baseline", type="direct", durable=False, auto_delete=True)
    queue = Queue(f"bench-baseline-{uuid.uuid4().hex[:8]}", exchange, routing_key="rt",
                  durable=False, auto_delete=True)
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as connection:
        producer = connection.Producer(serializer="json")
        with connection.Consumer(queue, callbacks=[lambda body, message: (message.ack(),
                                                                          received.append(body))],
                                 accept=["json"]):
            for i in range(warmup + count):
                received.clear()
                start = time.perf_counter()
                producer.publish({"n": i, "ticket": "A-001", "service": "KTP-EL"}, exchange=exchange,
                                 routing_key="rt", declare=[queue])
                while not received:
                    connection.drain_events(timeout=REQUEST_TIMEOUT)
                if i >= warmup:
                    durations.append(time.perf_counter() - start)
    return durations


# -- the catalog -----------------------------------------------------------------------------


def catalog_document(service_count, counter_count):
    codes = SERVICE_CODES[:service_count]
    return {
        "version": 1,
        "sites": [{
            "code": "BWI", "name": "Mal Pelayanan Publik Kabupaten Banyuwangi (benchmark)",
            "timezone": "Asia/Jakarta",
            "opening_hours": [{"day": day, "open": "00:00", "close": "24:00", "breaks": []}
                              for day in WEEKDAYS],
        }],
        "agencies": [AGENCY],
        "services": [{
            "code": code, "site": "BWI", "agency": AGENCY["code"], "name": f"Layanan {code}",
            "ticket_prefix": chr(ord("A") + i), "requirements": [], "procedure": [],
            "completion_time": {"amount": 1, "unit": "working_days"}, "fee": 0,
            # product and complaint_channel are left out: the schema defaults them to "" but
            # rejects an explicit empty string (and so does zone below).
            "legal_basis": [], "daily_quota": None,
            "target_wait_minutes": 30, "typical_service_minutes": 10, "active": True,
        } for i, code in enumerate(codes)],
        "counters": [{
            "code": f"L{n:02d}", "site": "BWI", "agency": AGENCY["code"], "name": f"Loket {n}",
            "services": list(codes), "active": True,
        } for n in range(1, counter_count + 1)],
    }



def prepare_hall(catalog_url, queue_url, service_count, counter_count):
    """Import ``catalog_document`` and open every counter; (service codes, counter codes)."""
    document = catalog_document(service_count, counter_count)
    check(requests.post(f"{catalog_url}/api/catalog/import", json=document, headers=AUTH,
                        timeout=REQUEST_TIMEOUT), "catalog import")
    counters = [c["code"] for c in document["counters"]]
    for code in counters:
        check(requests.post(f"{queue_url}/api/queue/counters/{code}/open", headers=AUTH,
                            timeout=REQUEST_TIMEOUT), f"open counter {code}")
    return [s["code"] for s in document["services"]], counters


# -- the workload ----------------------------------------------------------------------------


class LeanResponse:
    __slots__ = ("status_code", "content")

    def __init__(self, status_code, content):
        self.status_code, self.content = status_code, content

    @property
    def ok(self):
        return 200 <= self.status_code < 400

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


class LeanSession:
    """What the workload uses of ``requests.Session`` (``post``, ``headers``, answers
    with ``status_code``, ``text`` and ``json()``), on one keep-alive ``http.client``
    connection per host. A ``requests`` call costs the client about as much CPU as the
    service spends answering it; on a 2-core machine the load generator would take the
    core the service needs, and add its own waits to every latency it measures.
    Transport failures raise ``requests.ConnectionError``, as ``requests`` does."""

    def __init__(self):
        self.headers = {}
        self._connections = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def post(self, url, json=None, headers=None, timeout=REQUEST_TIMEOUT):
        return self.request("POST", url, json, headers, timeout)

    def request(self, method, url, body=None, headers=None, timeout=REQUEST_TIMEOUT):
        parts = urlsplit(url)
        connection = self._connections.get(parts.netloc)
        if connection is None:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
            self._connections[parts.netloc] = connection
        payload = b"" if body is None else json.dumps(body).encode()
        sent = {**self.headers, **(headers or {}), "Content-Type": "application/json",
                "Content-Length": str(len(payload))}
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request(method, path, body=payload, headers=sent)
            answer = connection.getresponse()
            return LeanResponse(answer.status, answer.read())
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            self._connections.pop(parts.netloc, None)
            raise requests.ConnectionError(f"{type(exc).__name__}: {exc}") from exc


class Workload:
    """Client threads issue tickets; counter threads call, start and complete them."""

    def __init__(self, queue_url, services, counters, tickets, clients, idle_sleep, max_errors):
        self.url = queue_url
        self.services, self.counters = services, counters
        self.tickets, self.clients = tickets, clients
        self.idle_sleep, self.max_errors = idle_sleep, max_errors
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.done = threading.Event()
        self.issue_latency, self.call_latency, self.act_latency = [], [], []
        self.empty_calls = 0
        self.issued, self.completed = set(), set()
        self.errors = 0
        self.error_samples = []
        self.first_issue = self.last_completion = None

    def _request(self, session, path, body=None, headers=None, latencies=None, what=None):
        """POST ``path``; the JSON answer, or None after recording a failure."""
        start = time.perf_counter()
        try:
            response = session.post(f"{self.url}{path}", json=body, headers=headers,
                                    timeout=REQUEST_TIMEOUT)
            status, text = response.status_code, response.text
        except requests.RequestException as exc:
            status, text = None, f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - start
        with self.lock:
            if latencies is not None:
                latencies.append(elapsed)
            if status is not None and 200 <= status < 300:
                return response.json()
            self.errors += 1
            if len(self.error_samples) < MAX_ERROR_SAMPLES:
                self.error_samples.append({"request": f"POST {path}", "what": what,
                                           "status": status, "body": text[:1000]})
            if self.errors >= self.max_errors:
                self.stop.set()
        return None

    def client(self, index):
        with LeanSession() as session:
            for n in range(index, self.tickets, self.clients):
                if self.stop.is_set():
                    return
                with self.lock:
                    if self.first_issue is None:
                        self.first_issue = time.perf_counter()
                service = self.services[n % len(self.services)]
                ticket = self._request(session, "/api/queue/tickets", {"service": service},
                                       latencies=self.issue_latency, what="issue")
                if ticket is not None:
                    with self.lock:
                        self.issued.add(ticket["ticket_id"])

    def counter(self, code):
        with LeanSession() as session:
            session.headers.update(AUTH)
            base = f"/api/queue/counters/{code}"
            while not (self.stop.is_set() or self.done.is_set()):
                answer = self._request(session, f"{base}/call-next", latencies=self.call_latency,
                                       what=f"call-next {code}")
                if answer is None:
                    time.sleep(0.05)
                    continue
                ticket = answer.get("ticket")
                if ticket is None:
                    with self.lock:
                        self.empty_calls += 1
                    time.sleep(self.idle_sleep)
                    continue
                ticket_id = ticket["ticket_id"]
                for action in ("start", "complete"):
                    if self._request(session, f"/api/queue/tickets/{ticket_id}/{action}",
                                     {"counter": code}, latencies=self.act_latency,
                                     what=f"{action} {ticket['ticket_number']} at {code}") is None:
                        break
                else:
                    with self.lock:
                        if ticket_id in self.completed:
                            self.error_samples.append({"what": f"{ticket_id} completed twice"})
                            self.errors += 1
                        self.completed.add(ticket_id)
                        if len(self.completed) >= self.tickets:
                            self.last_completion = time.perf_counter()
                            self.done.set()

    def run(self, timeout):
        threads = [threading.Thread(target=self.counter, args=(code,), name=f"counter-{code}",
                                    daemon=True) for code in self.counters]
        threads += [threading.Thread(target=self.client, args=(i,), name=f"client-{i}", daemon=True)
                    for i in range(self.clients)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout
        while not (self.done.is_set() or self.stop.is_set()):
            if time.monotonic() > deadline:
                self.stop.set()
                with self.lock:
                    self.error_samples.append({"what": f"timeout: {len(self.completed)} of "
                                                       f"{self.tickets} completed after {timeout:.0f}s"})
                break
            self.done.wait(0.2)
        self.stop.set()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT + 5)
