"""Load benchmark of the queue service, measured against a raw RabbitMQ baseline.

Run it with ``make bench-queue`` or ``.venv/bin/python scripts/bench_queue.py --help``.

What it does
------------
1. Creates a private RabbitMQ vhost through the management API (deleted at the end),
   and starts the catalog and queue services as separate ``nameko run`` processes with
   their production config files (``deploy/config/*.yaml``), on free local ports.
2. Imports a small catalog over HTTP: one site open around the clock, one agency,
   ``--services`` services and ``--counters`` counters that serve every service.
3. Measures a raw kombu round trip on the same broker and vhost: publish a small JSON
   message with publisher confirms, consume it, ack; ``--baseline`` times from one thread.
4. Runs the workload: ``--clients`` threads issue ``--tickets`` tickets in total over
   ``POST /api/queue/tickets`` while one thread per counter loops call-next, start,
   complete until every ticket is completed.

What it reports
---------------
Tickets per second (tickets / time from the first issue to the last completion), the
p50 and p99 latency of issuing a ticket and of call-next, the number of failed requests
(any non-2xx answer or transport error; it must be zero, else the exit status is 1),
the baseline's p50/p99 and round trips per second, and the ratios between the two.

Why ratios
----------
Absolute timings depend on the machine, its load and the broker more than on Antre.
A ticket issue or a call-next is an HTTP request whose handler reads the catalog over
RPC (briefly cached), writes the queue store and relays an event through the broker;
its cost in broker round trips is what the code controls. Dividing by a raw round trip
measured in the same run on the same broker cancels most of the machine, so figures
from different runs and machines can be compared, and a regression shows as a ratio
that grows. The last line of the output is JSON so the figures can be pasted into a note.

The script starts its services with ``MONGO_URL`` from the environment, or
``mongomock://localhost/`` (each process then has its own in-memory store, which is
fine: each service owns its own database). With a real MongoDB the databases get a
private prefix and are dropped at the end. It uses plain threads and ``requests``; it
does not monkey-patch with eventlet.
"""

import argparse
import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import requests
from kombu import Connection, Exchange, Queue

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SERVICE_CODES = ("KTP-EL", "KK", "AKTA-LAHIR", "AKTA-MATI", "KIA", "PINDAH-DATANG", "LEGALISIR",
                 "AKTA-KAWIN")
AGENCY = {"code": "DISDUKCAPIL", "name": "Dinas Kependudukan dan Pencatatan Sipil",
          "kind": "local_office"}
REQUEST_TIMEOUT = 30.0
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672"  # the local broker, without a vhost
MANAGEMENT_URL = "http://guest:guest@127.0.0.1:15672"
MAX_ERROR_SAMPLES = 10


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--tickets", type=int, default=600, help="tickets issued in total")
    parser.add_argument("--clients", type=int, default=20, help="threads issuing tickets")
    parser.add_argument("--counters", type=int, default=8, help="counters calling and serving")
    parser.add_argument("--services", type=int, default=3,
                        help=f"services the tickets are spread over (1-{len(SERVICE_CODES)})")
    parser.add_argument("--baseline", type=int, default=500, help="raw kombu round trips")
    parser.add_argument("--idle-sleep", type=float, default=0.01,
                        help="seconds a counter waits after an empty call-next")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds the workload may take before it is called stuck")
    parser.add_argument("--max-errors", type=int, default=50,
                        help="failed requests after which the workload stops")
    parser.add_argument("--catalog-config", default="deploy/config/catalog.yaml")
    parser.add_argument("--queue-config", default="deploy/config/queue.yaml")
    add_process_arguments(parser)
    args = parser.parse_args(argv)
    if not 1 <= args.services <= len(SERVICE_CODES):
        parser.error(f"--services must be between 1 and {len(SERVICE_CODES)}")
    for name in ("tickets", "clients", "counters", "baseline"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def add_process_arguments(parser):
    """The options of every script that runs the services as processes on a private vhost."""
    parser.add_argument("--amqp", default=AMQP_URL, help="broker, without the vhost")
    parser.add_argument("--management", default=MANAGEMENT_URL, help="RabbitMQ management API")
    parser.add_argument("--startup-timeout", type=float, default=60.0,
                        help="seconds to wait for GET /health of each service")
    parser.add_argument("--stop-grace", type=float, default=5.0,
                        help="seconds the services get to stop after SIGTERM before SIGKILL")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the services' logs even when everything went well")


class BenchError(Exception):
    """The benchmark could not run (set-up failed); the message says why."""


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


# -- the broker ------------------------------------------------------------------------------


class Vhost:
    """A private vhost, created and deleted through the management API."""

    def __init__(self, management, name):
        parts = urlsplit(management)
        self.base = f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}/api"
        self.auth = (parts.username or "guest", parts.password or "guest")
        self.user = self.auth[0]
        self.name = name

    def _call(self, method, path, body=None):
        response = requests.request(method, f"{self.base}{path}", json=body, auth=self.auth,
                                    timeout=REQUEST_TIMEOUT)
        if response.status_code >= 300 and not (method == "DELETE" and response.status_code == 404):
            raise BenchError(f"management API {method} {path}: {response.status_code} "
                             f"{response.text[:300]}")

    def create(self):
        vhost = quote(self.name, safe="")
        self._call("PUT", f"/vhosts/{vhost}")
        self._call("PUT", f"/permissions/{vhost}/{quote(self.user, safe='')}",
                   {"configure": ".*", "write": ".*", "read": ".*"})

    def delete(self):
        self._call("DELETE", f"/vhosts/{quote(self.name, safe='')}")


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


# -- the services ----------------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nameko_executable():
    beside = Path(sys.executable).parent / "nameko"
    found = str(beside) if beside.exists() else shutil.which("nameko")
    if not found:
        raise BenchError("nameko is not installed next to this Python nor on PATH (make install)")
    return found


class ServiceProcess:
    """One ``nameko run`` process, its log in ``log_dir``."""

    def __init__(self, name, config, target, port, env, log_dir):
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        self.config = config if Path(config).is_absolute() else ROOT / config
        if not self.config.exists():
            raise BenchError(f"{name}: no config file {self.config}")
        self.command = [nameko_executable(), "run", "--config", str(self.config), target]
        self.env = env
        self.log_path = Path(log_dir) / f"{name}.log"
        self.process = None

    def start(self):
        """Start the process; a restart appends to the same log."""
        with open(self.log_path, "ab") as log:
            # A session of its own: Ctrl-C reaches this script only, which stops the services.
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass  # not listening yet: try again until the deadline, which reports the log
            time.sleep(0.2)
        raise BenchError(f"{self.name}: no healthy GET /health within {timeout:.0f}s:\n{self.log_tail()}")

    def terminate(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_or_kill(self, deadline):
        """Wait for the process until ``deadline`` (monotonic), then SIGKILL it."""
        if self.process is None:
            return
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"bench-queue: {self.name} ignored SIGTERM; killing it", file=sys.stderr)
            self.process.kill()
            self.process.wait()

    def stop(self, how, grace=10.0):
        """Stop the process the way an operator or the kernel would: ``"term"`` sends SIGTERM
        and waits up to ``grace`` seconds (then SIGKILL, as docker stop does); ``"kill"``
        sends SIGKILL at once. Returns the exit status."""
        if how == "term":
            self.terminate()
            self.wait_or_kill(time.monotonic() + grace)
        elif how == "kill":
            self.process.kill()
            self.process.wait()
        else:
            raise ValueError(f"how must be 'term' or 'kill', not {how!r}")
        return self.process.returncode

    def log_tail(self, lines=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_problems(self):
        """Log lines at ERROR or above, and tracebacks."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines()
                if " ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")]


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


def check(response, what):
    if not 200 <= response.status_code < 300:
        raise BenchError(f"{what}: {response.status_code} {response.text[:500]}")
    return response.json()


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


# -- the report ------------------------------------------------------------------------------


def report(args, work, baseline, vhost):
    wall = (work.last_completion - work.first_issue
            if work.last_completion and work.first_issue else None)
    tickets_per_second = args.tickets / wall if wall else None
    base_p50, base_p99 = percentile(baseline, 50), percentile(baseline, 99)
    base_rate = len(baseline) / sum(baseline) if baseline else None
    issue_p50, issue_p99 = percentile(work.issue_latency, 50), percentile(work.issue_latency, 99)
    call_p50, call_p99 = percentile(work.call_latency, 50), percentile(work.call_latency, 99)
    act_p50, act_p99 = percentile(work.act_latency, 50), percentile(work.act_latency, 99)
    result = {
        "benchmark": "queue", "tickets": args.tickets, "clients": args.clients,
        "counters": args.counters, "services": args.services, "vhost": vhost,
        "completed": len(work.completed), "errors": work.errors,
        "wall_seconds": rounded(wall, 3), "tickets_per_second": rounded(tickets_per_second),
        "issue_p50_ms": rounded(issue_p50), "issue_p99_ms": rounded(issue_p99),
        "call_next_p50_ms": rounded(call_p50), "call_next_p99_ms": rounded(call_p99),
        "call_next_requests": len(work.call_latency), "call_next_empty": work.empty_calls,
        "start_complete_p50_ms": rounded(act_p50), "start_complete_p99_ms": rounded(act_p99),
        "baseline_round_trips": len(baseline), "baseline_p50_ms": rounded(base_p50, 3),
        "baseline_p99_ms": rounded(base_p99, 3), "baseline_per_second": rounded(base_rate, 1),
        "issue_p50_ratio": ratio(issue_p50, base_p50),
        "call_next_p50_ratio": ratio(call_p50, base_p50),
        "throughput_ratio": ratio(tickets_per_second, base_rate),
        "python": sys.version.split()[0], "cpus": os.cpu_count(),
    }

    def ms(value):
        return f"{value:9.2f}" if value is not None else f"{'-':>9}"

    print()
    print(f"Queue benchmark: {args.tickets} tickets, {args.clients} clients, {args.counters} counters, "
          f"{args.services} services (vhost {vhost})")
    print(f"{'':28}{'p50 ms':>9}  {'p99 ms':>9}  {'count':>7}  {'x baseline p50':>14}")
    rows = [("issue ticket", issue_p50, issue_p99, len(work.issue_latency), result["issue_p50_ratio"]),
            ("call-next", call_p50, call_p99, len(work.call_latency), result["call_next_p50_ratio"]),
            ("start / complete", act_p50, act_p99, len(work.act_latency),
             ratio(act_p50, base_p50)),
            ("baseline kombu round trip", base_p50, base_p99, len(baseline), 1.0 if base_p50 else None)]
    for label, p50, p99, count, times in rows:
        print(f"{label:28}{ms(p50)}  {ms(p99)}  {count:7d}  {times if times is not None else '-':>14}")
    print(f"tickets per second: {result['tickets_per_second']} (wall {result['wall_seconds']} s); "
          f"baseline round trips per second: {result['baseline_per_second']}; "
          f"ratio {result['throughput_ratio']}")
    print(f"completed {len(work.completed)}/{args.tickets}; empty call-next {work.empty_calls}; "
          f"errors {work.errors}")
    for sample in work.error_samples:
        print(f"  error: {json.dumps(sample, ensure_ascii=False)}")
    print(json.dumps(result, ensure_ascii=False))
    return result


# -- main ------------------------------------------------------------------------------------


def drop_mongo_databases(mongo_url, prefix):
    if mongo_url.startswith("mongomock://"):
        return
    from pymongo import MongoClient  # only with a real MongoDB

    with MongoClient(mongo_url, serverSelectionTimeoutMS=5000) as client:
        for name in client.list_database_names():
            if name.startswith(prefix):
                client.drop_database(name)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def stop_all(processes, stop_grace):
    """SIGTERM to every process at once, then SIGKILL to those still running after
    ``stop_grace`` seconds."""
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + stop_grace
    for process in processes:
        process.wait_or_kill(deadline)


def clean_up(processes, stop_grace, vhost, mongo_url, mongo_prefix, log_dir, keep_logs, say):
    """Stop the services (SIGTERM, then SIGKILL after ``stop_grace``), delete the vhost
    (None: it was never made) and the databases, and keep or remove the logs. Problems
    are reported through ``say``: cleaning up must not hide the run's result."""
    stop_all(processes, stop_grace)
    if vhost is not None:
        try:
            vhost.delete()
        except (BenchError, requests.RequestException) as exc:
            say(f"could not delete vhost {vhost.name}: {exc}")
    try:
        drop_mongo_databases(mongo_url, mongo_prefix)
    except Exception as exc:  # reported, not raised: the run's own result comes first
        say(f"could not drop databases {mongo_prefix}*: {exc}")
    if keep_logs:
        say(f"services' logs kept in {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)


def main(argv=None):
    args = parse_args(argv)
    # SIGTERM (e.g. from make or CI) unwinds like Ctrl-C, so the finally below still runs.
    signal.signal(signal.SIGTERM, _interrupt)

    run_id = uuid.uuid4().hex[:8]
    vhost = Vhost(args.management, f"antre-bench-{run_id}")
    amqp_uri = f"{args.amqp.rstrip('/')}/{quote(vhost.name, safe='')}"
    mongo_url = os.environ.get("MONGO_URL") or "mongomock://localhost/"
    mongo_prefix = f"bench{run_id}_"
    log_dir = tempfile.mkdtemp(prefix="antre-bench-")
    catalog_port, queue_port = free_port(), free_port()
    env = {**os.environ, "AMQP_URI": amqp_uri, "MONGO_URL": mongo_url,
           "MONGO_DB_PREFIX": mongo_prefix, "CATALOG_HTTP_ADDRESS": f"127.0.0.1:{catalog_port}",
           "QUEUE_HTTP_ADDRESS": f"127.0.0.1:{queue_port}", "CATALOG_SEED": "never",
           "ADMIN_TOKEN": TOKEN, "LOG_LEVEL": "WARNING"}
    processes = []
    work = None
    vhost_created = False
    failed = True
    try:
        processes = [
            ServiceProcess("catalog", args.catalog_config, "services.catalog.service:CatalogService",
                           catalog_port, env, log_dir),
            ServiceProcess("queue", args.queue_config, "services.queue.service:QueueService",
                           queue_port, env, log_dir),
        ]
        vhost.create()
        vhost_created = True
        print(f"vhost {vhost.name}; services' logs in {log_dir}", file=sys.stderr)
        for process in processes:
            process.start()
        for process in processes:
            process.wait_healthy(args.startup_timeout)
        catalog, queue = processes

        document = catalog_document(args.services, args.counters)
        check(requests.post(f"{catalog.url}/api/catalog/import", json=document, headers=AUTH,
                            timeout=REQUEST_TIMEOUT), "catalog import")
        services = [s["code"] for s in document["services"]]
        counters = [c["code"] for c in document["counters"]]
        for code in counters:
            check(requests.post(f"{queue.url}/api/queue/counters/{code}/open", headers=AUTH,
                                timeout=REQUEST_TIMEOUT), f"open counter {code}")
        # Warm-up, not measured: one ticket per service, served, fills the queue's
        # catalog cache and opens the RPC reply queue.
        for code in services:
            check(requests.post(f"{queue.url}/api/queue/tickets", json={"service": code},
                                timeout=REQUEST_TIMEOUT), "warm-up issue")
        for _ in services:
            answer = check(requests.post(f"{queue.url}/api/queue/counters/{counters[0]}/call-next",
                                         headers=AUTH, timeout=REQUEST_TIMEOUT), "warm-up call-next")
            for action in ("start", "complete"):
                check(requests.post(f"{queue.url}/api/queue/tickets/{answer['ticket']['ticket_id']}/"
                                    f"{action}", json={"counter": counters[0]}, headers=AUTH,
                                    timeout=REQUEST_TIMEOUT), f"warm-up {action}")

        print(f"baseline: {args.baseline} kombu round trips ...", file=sys.stderr)
        baseline = baseline_round_trips(amqp_uri, args.baseline)
        print(f"workload: {args.tickets} tickets ...", file=sys.stderr)
        work = Workload(queue.url, services, counters, args.tickets, args.clients, args.idle_sleep,
                        args.max_errors)
        work.run(args.timeout)
        result = report(args, work, baseline, vhost.name)
        problems = [f"[{p.name}] {line}" for p in processes for line in p.log_problems()]
        for line in problems[:20]:
            print(f"  log: {line}", file=sys.stderr)
        failed = bool(result["errors"] or result["completed"] != args.tickets
                      or len(work.issued) != args.tickets)
        return 1 if failed else 0
    except BenchError as exc:
        print(f"bench-queue: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench-queue: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finish cleaning up
        if work is not None:
            work.stop.set()  # after Ctrl-C the threads are still sending requests
        clean_up(processes, args.stop_grace, vhost if vhost_created else None, mongo_url,
                 mongo_prefix, log_dir, keep_logs=failed or args.keep_logs,
                 say=lambda text: print(f"bench-queue: {text}", file=sys.stderr))


if __name__ == "__main__":
    sys.exit(main())
