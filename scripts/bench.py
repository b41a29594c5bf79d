"""Antre's benchmark: `make bench` (bounded, a few minutes), figures against a raw broker.

Run it with ``make bench`` or ``.venv/bin/python scripts/bench.py --help``.

Stages, each on a private RabbitMQ vhost, the services as ``nameko run`` processes with
their production config files (``deploy/config/*.yaml``), like ``bench_queue.py``:

1. **baseline**: raw kombu round trips (publish with confirm, consume, ack) on the same
   broker and vhost; every other figure is read against it.
2. **lifecycle**: ``--counters`` counters (default 50) loop call-next, start, complete
   while ``--clients`` clients issue ``--tickets`` tickets; tickets per second, call-next
   p50/p99, and double calls (a ticket handed to two call-nexts; must be 0).
   This stage is closed-loop: every client and counter sends its next request as soon
   as the last one is answered, so the service is saturated and call-next's latency
   is mostly waiting behind the other requests (Little's law: requests in flight /
   requests per second).
2b. **paced**: the same hall below saturation, as a hall is: tickets issued at
   ``--paced-rate`` per second for ``--paced-seconds``, and a counter with nobody to
   call presses "next" again after ``--paced-idle`` seconds; call-next p50/p99 there
   is what one call costs under that load.
3. **issuing**: ``--clients`` clients issue tickets for ``--issue-seconds`` (default 60);
   tickets issued in each 10 s window, and the slowest window.
4. **reporting ingest**: the reporting service gets ticket events published at
   ``--event-rate`` per second for ``--event-seconds``; event-to-figure latency is the time
   from publishing a ticket's ``completed`` event to the first answer of
   ``GET /api/reporting/daily`` that counts it as served (polled every ``--poll``
   seconds, so the figure includes up to one poll interval).
5. **flat**: in this process, on the embedded store, one ticket's life (issue, view, call-
   next, start, complete, overview) after 10^3 and after 10^5 ended tickets: store
   operations (must be equal) and the time of ``--flat-tickets`` lives at each size.

The last line is JSON with, among others, ``issue_per_second_min_window``,
``lifecycle_tickets_per_second``, ``call_next_p99_ms``, ``event_to_report_p99_ms``,
``baseline_per_second``, ``ratio_issue_to_baseline``, ``double_calls`` and ``errors``.
The exit status is 1 when any request failed, a ticket was called twice or lost, or the
flat stage's operation counts differ.
"""

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import requests
from kombu import Connection, Exchange

SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
sys.path[:0] = [str(ROOT), str(SCRIPTS)]

import bench_queue as bq  # noqa: E402  (the processes, vhost and baseline helpers)

WINDOW_SECONDS = 10


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--tickets", type=int, default=3000, help="lifecycle: tickets in total")
    parser.add_argument("--counters", type=int, default=50, help="lifecycle: counters")
    parser.add_argument("--clients", type=int, default=50, help="threads issuing tickets")
    parser.add_argument("--services", type=int, default=3, help="services in the catalog")
    parser.add_argument("--paced-rate", type=float, default=30.0, help="paced: tickets/s")
    parser.add_argument("--paced-seconds", type=float, default=30.0)
    parser.add_argument("--paced-idle", type=float, default=1.0,
                        help="paced: seconds an idle counter waits before calling again")
    parser.add_argument("--issue-seconds", type=float, default=60.0)
    parser.add_argument("--issue-clients", type=int, default=20)
    parser.add_argument("--event-rate", type=float, default=1000.0, help="events per second")
    parser.add_argument("--event-seconds", type=float, default=20.0)
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between report reads")
    parser.add_argument("--flat-tickets", type=int, default=200)
    parser.add_argument("--baseline", type=int, default=1000, help="raw kombu round trips")
    parser.add_argument("--timeout", type=float, default=300.0, help="per stage")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["lifecycle", "paced", "issuing", "reporting", "flat"])
    bq.add_process_arguments(parser)
    parser.add_argument("--catalog-config", default="deploy/config/catalog.yaml")
    parser.add_argument("--queue-config", default="deploy/config/queue.yaml")
    parser.add_argument("--reporting-config", default="deploy/config/reporting.yaml")
    return parser.parse_args(argv)


def ms(seconds):
    return bq.rounded(seconds * 1000 if seconds is not None else None)


def p_ms(durations, p):
    """The ``p``th percentile of ``durations`` (seconds), in ms."""
    return bq.rounded(bq.percentile(durations, p))


# -- stage 2: the lifecycle ------------------------------------------------------------


class Lifecycle(bq.Workload):
    """bench_queue's workload, also counting tickets handed to more than one call-next."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.called = {}
        self.double_calls = 0

    def _request(self, session, path, body=None, headers=None, latencies=None, what=None):
        answer = super()._request(session, path, body, headers, latencies, what)
        if answer and path.endswith("/call-next") and answer.get("ticket"):
            ticket_id = answer["ticket"]["ticket_id"]
            with self.lock:
                if ticket_id in self.called:
                    self.double_calls += 1
                self.called[ticket_id] = path
        return answer


def lifecycle(args, queue_url, services, counters):
    work = Lifecycle(queue_url, services, counters, args.tickets, args.clients, 0.01, 50)
    work.run(args.timeout)
    wall = (work.last_completion - work.first_issue
            if work.last_completion and work.first_issue else None)
    return {
        "lifecycle_tickets": args.tickets, "lifecycle_counters": len(counters),
        "lifecycle_clients": args.clients, "lifecycle_completed": len(work.completed),
        "lifecycle_tickets_per_second": bq.rounded(args.tickets / wall) if wall else None,
        "lifecycle_issue_p50_ms": p_ms(work.issue_latency, 50),
        "lifecycle_issue_p99_ms": p_ms(work.issue_latency, 99),
        "call_next_p50_ms": p_ms(work.call_latency, 50),
        "call_next_p99_ms": p_ms(work.call_latency, 99),
        "start_complete_p99_ms": p_ms(work.act_latency, 99),
        "double_calls": work.double_calls,
        "lifecycle_errors": work.errors + (len(work.completed) != args.tickets),
        "lifecycle_error_samples": work.error_samples[:5],
    }


# -- stage 2b: the same hall, paced ---------------------------------------------------------


class Paced(Lifecycle):
    """Tickets issued at a fixed rate instead of as fast as the service answers, and
    idle counters that call again after a while (each its own while: counters in a
    hall do not press "next" in step)."""

    def __init__(self, *args, rate, **kwargs):
        super().__init__(*args, **kwargs)
        self.rate = rate
        self.late = 0  # tickets issued more than a second after they were due
        self.jitter = random.Random(7)

    @property
    def idle_sleep(self):
        return self._idle * self.jitter.uniform(0.5, 1.5)

    @idle_sleep.setter
    def idle_sleep(self, seconds):
        self._idle = seconds

    def client(self, index):
        with bq.LeanSession() as session:
            for n in range(index, self.tickets, self.clients):
                with self.lock:
                    if self.first_issue is None:
                        self.first_issue = time.perf_counter()
                    start = self.first_issue
                due = start + n / self.rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                elif pause < -1:
                    with self.lock:
                        self.late += 1
                if self.stop.is_set():
                    return
                ticket = self._request(session, "/api/queue/tickets",
                                       {"service": self.services[n % len(self.services)]},
                                       latencies=self.issue_latency, what="issue")
                if ticket is not None:
                    with self.lock:
                        self.issued.add(ticket["ticket_id"])


def paced(args, queue_url, services, counters):
    tickets = int(args.paced_rate * args.paced_seconds)
    clients = max(1, min(args.clients, int(args.paced_rate)))
    work = Paced(queue_url, services, counters, tickets, clients, args.paced_idle, 50,
                 rate=args.paced_rate)
    work.run(args.timeout)
    wall = (work.last_completion - work.first_issue
            if work.last_completion and work.first_issue else None)
    return {
        "paced_rate": args.paced_rate, "paced_tickets": tickets,
        "paced_completed": len(work.completed),
        "paced_tickets_per_second": bq.rounded(tickets / wall) if wall else None,
        "paced_issue_p99_ms": p_ms(work.issue_latency, 99),
        "paced_call_next_p50_ms": p_ms(work.call_latency, 50),
        "paced_call_next_p99_ms": p_ms(work.call_latency, 99),
        "paced_start_complete_p99_ms": p_ms(work.act_latency, 99),
        "paced_late_issues": work.late,
        "paced_double_calls": work.double_calls,
        "paced_errors": work.errors + (len(work.completed) != tickets),
        "paced_error_samples": work.error_samples[:5],
    }


# -- stage 3: issuing for a while --------------------------------------------------------


def issuing(args, queue_url, services):
    stop = threading.Event()
    lock = threading.Lock()
    moments, errors, samples = [], [0], []

    def client(index):
        with bq.LeanSession() as session:
            n = index
            while not stop.is_set():
                try:
                    response = session.post(f"{queue_url}/api/queue/tickets",
                                            json={"service": services[n % len(services)]},
                                            timeout=bq.REQUEST_TIMEOUT)
                    ok = response.status_code == 201
                    text = "" if ok else response.text[:300]
                except requests.RequestException as exc:
                    ok, text = False, repr(exc)
                with lock:
                    if ok:
                        moments.append(time.monotonic())
                    else:
                        errors[0] += 1
                        if len(samples) < 5:
                            samples.append(text)
                n += args.issue_clients

    threads = [threading.Thread(target=client, args=(i,), daemon=True)
               for i in range(args.issue_clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(args.issue_seconds)
    stop.set()
    for thread in threads:
        thread.join(bq.REQUEST_TIMEOUT + 5)
    windows = [0] * max(1, int(args.issue_seconds // WINDOW_SECONDS))
    for moment in moments:
        index = int((moment - start) // WINDOW_SECONDS)
        if index < len(windows):
            windows[index] += 1
    rates = [round(count / WINDOW_SECONDS, 1) for count in windows]
    return {"issue_seconds": args.issue_seconds, "issue_clients": args.issue_clients,
            "issued": len(moments), "issue_per_second_windows": rates,
            "issue_per_second_min_window": min(rates),
            "issue_per_second": round(len(moments) / args.issue_seconds, 1),
            "issue_errors": errors[0], "issue_error_samples": samples}


# -- stage 4: reporting ingest -----------------------------------------------------------


def ticket_events(n, local_day, issued_at):
    """The four events of one served ticket, as the queue publishes them."""
    from services.queue import domain

    ticket = {"_id": f"bench{n:07d}", "visit_id": f"bench{n:07d}", "leg": 1, "site": "BWI",
              "agency": bq.AGENCY["code"], "service": bq.SERVICE_CODES[n % 3],
              "ticket_number": f"A-{n % 1000:03d}", "local_day": local_day, "status": "waiting",
              "channel": "kiosk", "priority": None, "target_wait_minutes": 30, "recalls": 0,
              "issued_at": issued_at}
    called = issued_at + timedelta(minutes=5)
    steps = [("issue", issued_at, {}),
             ("call", called, {"status": "called", "counter": "L01", "called_at": called,
                               "waiting_seconds": 300.0}),
             ("start", called, {"status": "serving", "serving_at": called}),
             ("complete", called + timedelta(minutes=4),
              {"status": "completed", "ended_at": called + timedelta(minutes=4),
               "service_seconds": 240.0})]
    events = []
    for action, moment, changes in steps:
        ticket = {**ticket, **changes}
        extra = {"position": 1, "estimated_wait_minutes": 5} if action == "issue" else {}
        events.append(domain.ticket_event(ticket, action, moment, **extra))
    return events


def reporting_ingest(args, amqp_uri, reporting_url):
    from services.kernel.events import CONTENT_TYPE

    now = datetime.now(UTC)
    local_day = (now + timedelta(hours=7)).date().isoformat()  # the bench site is in WIB
    total = int(args.event_rate * args.event_seconds) // 4 * 4
    tickets = total // 4
    completed_at = [None] * tickets
    served_seen = [0]
    latencies = []
    errors = [0]
    done = threading.Event()

    def poll():
        with requests.Session() as session:
            session.headers.update(bq.AUTH)
            while not done.is_set():
                try:
                    response = session.get(f"{reporting_url}/api/reporting/daily",
                                           params={"site": "BWI", "date": local_day},
                                           timeout=bq.REQUEST_TIMEOUT)
                    served = response.json()["totals"]["served"] if response.ok else None
                except (requests.RequestException, ValueError, KeyError):
                    served = None
                moment = time.monotonic()
                if served is None:
                    errors[0] += 1
                    time.sleep(args.poll)
                    continue
                for index in range(served_seen[0], min(served, tickets)):
                    if completed_at[index] is not None:
                        latencies.append(moment - completed_at[index])
                served_seen[0] = max(served_seen[0], served)
                if served_seen[0] >= tickets:
                    done.set()
                time.sleep(args.poll)

    exchange = Exchange("antre.events", type="topic", durable=True)
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    with Connection(amqp_uri) as connection:
        producer = connection.Producer()
        start = time.monotonic()
        sent = 0
        # Tickets one after another, each ticket's events in its publishing order.
        for n in range(tickets):
            for event in ticket_events(n, local_day, now - timedelta(hours=1)):
                due = start + sent / args.event_rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                envelope = event.envelope("/antre/queue")
                producer.publish(json.dumps(envelope, separators=(",", ":")), exchange=exchange,
                                 routing_key=event.routing_key, content_type=CONTENT_TYPE,
                                 content_encoding="utf-8", delivery_mode=2,
                                 message_id=envelope["id"],
                                 headers={"ce_type": envelope["type"], "ce_id": envelope["id"]})
                sent += 1
            completed_at[n] = time.monotonic()
        publish_seconds = time.monotonic() - start
    done.wait(args.timeout)
    done.set()
    poller.join(bq.REQUEST_TIMEOUT + 5)
    counted = len(latencies)
    return {"events_published": sent, "event_rate_target": args.event_rate,
            "event_rate_sent": round(sent / publish_seconds, 1),
            "event_to_report_p50_ms": p_ms(latencies, 50),
            "event_to_report_p99_ms": p_ms(latencies, 99),
            "event_to_report_max_ms": ms(max(latencies) if latencies else None),
            "tickets_counted": served_seen[0], "tickets_published": tickets,
            "reporting_errors": errors[0] + (counted != tickets)}


# -- stage 5: flat as the day grows ------------------------------------------------------


def flat(args):
    """One ticket's life after 10^3 and 10^5 ended tickets, in this process."""
    from services.kernel.infra.mongo import client_for
    from tests.unit.queue import test_flat_day as flat_day

    run = uuid.uuid4().hex[:6]
    result = {}
    for size in (1_000, 100_000):
        def database(name, size=size):
            return client_for("mongomock://bench/")[f"flat{run}_{size}_{name}"]

        queue, repo, log = flat_day.hall_that_has_seen(database, size, "")
        queue.catalog.services["KTP-EL"]["daily_quota"] = None  # many lives, one service
        morning = queue.clock.now
        costs = flat_day.cost_of_a_ticket_life(queue, repo, log, None)
        elapsed = 0.0
        for _ in range(args.flat_tickets):
            queue.clock.now = morning  # each life in the same open hour
            start = time.perf_counter()
            flat_day.cost_of_a_ticket_life(queue, repo, log, None)
            elapsed += time.perf_counter() - start
        seconds = elapsed / args.flat_tickets
        result[size] = ({name: len(ops) for name, (ops, _examined) in costs.items()}, seconds)
    (small_ops, small_s), (large_ops, large_s) = result[1_000], result[100_000]
    return {"flat_operations_1e3": small_ops, "flat_operations_1e5": large_ops,
            "flat_operations_equal": small_ops == large_ops,
            "flat_ticket_life_ms_1e3": ms(small_s), "flat_ticket_life_ms_1e5": ms(large_s),
            "flat_time_ratio_1e5_to_1e3": bq.ratio(large_s, small_s)}


# -- main --------------------------------------------------------------------------------


def start_services(names, args, env, log_dir, ports):
    targets = {"catalog": "services.catalog.service:CatalogService",
               "queue": "services.queue.service:QueueService",
               "reporting": "services.reporting.service:ReportingService"}
    processes = [bq.ServiceProcess(name, getattr(args, f"{name}_config"), targets[name],
                                   ports[name], env, log_dir) for name in names]
    for process in processes:
        process.start()
    for process in processes:
        process.wait_healthy(args.startup_timeout)
    return processes


def prepare_hall(catalog_url, queue_url, service_count, counter_count):
    document = bq.catalog_document(service_count, counter_count)
    bq.check(requests.post(f"{catalog_url}/api/catalog/import", json=document, headers=bq.AUTH,
                           timeout=bq.REQUEST_TIMEOUT), "catalog import")
    counters = [c["code"] for c in document["counters"]]
    for code in counters:
        bq.check(requests.post(f"{queue_url}/api/queue/counters/{code}/open", headers=bq.AUTH,
                               timeout=bq.REQUEST_TIMEOUT), f"open counter {code}")
    return [s["code"] for s in document["services"]], counters


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, bq._interrupt)
    run_id = uuid.uuid4().hex[:8]
    vhost = bq.Vhost(args.management, f"antre-bench-{run_id}")
    amqp_uri = f"{args.amqp.rstrip('/')}/{quote(vhost.name, safe='')}"
    mongo_url = os.environ.get("MONGO_URL") or "mongomock://localhost/"
    mongo_prefix = f"bench{run_id}_"
    log_dir = tempfile.mkdtemp(prefix="antre-bench-")
    ports = {name: bq.free_port() for name in ("catalog", "queue", "reporting")}
    env = {**os.environ, "AMQP_URI": amqp_uri, "MONGO_URL": mongo_url,
           "MONGO_DB_PREFIX": mongo_prefix, "CATALOG_SEED": "never", "ADMIN_TOKEN": bq.TOKEN,
           "LOG_LEVEL": "WARNING",
           **{f"{name.upper()}_HTTP_ADDRESS": f"127.0.0.1:{port}" for name, port in ports.items()}}
    processes, created, failed = [], False, True
    result = {"benchmark": "antre", "python": sys.version.split()[0], "cpus": os.cpu_count()}

    def say(text):
        print(f"bench: {text}", file=sys.stderr, flush=True)

    try:
        vhost.create()
        created = True
        say(f"vhost {vhost.name}; services' logs in {log_dir}")
        processes = start_services(["catalog", "queue"], args, env, log_dir, ports)
        catalog, queue = processes
        services, counters = prepare_hall(catalog.url, queue.url, args.services, args.counters)
        say(f"baseline: {args.baseline} raw kombu round trips")
        baseline = bq.baseline_round_trips(amqp_uri, args.baseline)
        result["baseline_per_second"] = bq.rounded(len(baseline) / sum(baseline), 1)
        result["baseline_p50_ms"] = p_ms(baseline, 50)
        if "lifecycle" not in args.skip:
            say(f"lifecycle: {args.tickets} tickets, {args.counters} counters, "
                f"{args.clients} clients")
            result.update(lifecycle(args, queue.url, services, counters))
            say(json.dumps({k: v for k, v in result.items() if k.startswith(("lifecycle", "call"))}))
        if "paced" not in args.skip:
            say(f"paced: {args.paced_rate:.0f} tickets/s for {args.paced_seconds:.0f} s, "
                f"{args.counters} counters")
            result.update(paced(args, queue.url, services, counters))
            say(json.dumps({k: v for k, v in result.items() if k.startswith("paced")}))
        if "issuing" not in args.skip:
            say(f"issuing: {args.issue_clients} clients for {args.issue_seconds:.0f} s")
            result.update(issuing(args, queue.url, services))
            say(f"issued per second, per {WINDOW_SECONDS} s window: "
                f"{result['issue_per_second_windows']}")
        if "reporting" not in args.skip:
            processes += start_services(["reporting"], args, env, log_dir, ports)
            say(f"reporting: {args.event_rate:.0f} events/s for {args.event_seconds:.0f} s")
            result.update(reporting_ingest(args, amqp_uri, processes[-1].url))
        if "flat" not in args.skip:
            say("flat: a ticket's life after 10^3 and 10^5 ended tickets")
            result.update(flat(args))
        base = result["baseline_per_second"]
        result["ratio_issue_to_baseline"] = bq.ratio(result.get("issue_per_second_min_window"),
                                                     base)
        result["ratio_lifecycle_to_baseline"] = bq.ratio(
            result.get("lifecycle_tickets_per_second"), base)
        result["double_calls"] = result.get("double_calls", 0) + result.get("paced_double_calls", 0)
        result["errors"] = sum(result.get(k, 0) for k in (
            "lifecycle_errors", "paced_errors", "issue_errors", "reporting_errors"))
        result["errors"] += 0 if result.get("flat_operations_equal", True) else 1
        failed = bool(result["errors"] or result["double_calls"])
        print_table(result)
        print(json.dumps(result, ensure_ascii=False))
        return 1 if failed else 0
    except bq.BenchError as exc:
        say(str(exc))
        return 2
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bq.clean_up(processes, args.stop_grace, vhost if created else None, mongo_url,
                    mongo_prefix, log_dir, keep_logs=failed or args.keep_logs, say=say)


def print_table(r):
    rows = [
        ("raw broker round trips / s (baseline)", r.get("baseline_per_second")),
        ("lifecycle tickets / s", r.get("lifecycle_tickets_per_second")),
        ("call-next p50 / p99 ms", f"{r.get('call_next_p50_ms')} / {r.get('call_next_p99_ms')}"),
        ("double calls", r.get("double_calls")),
        ("paced: tickets / s (target)", f"{r.get('paced_tickets_per_second')} "
                                        f"({r.get('paced_rate')})"),
        ("paced: call-next p50 / p99 ms",
         f"{r.get('paced_call_next_p50_ms')} / {r.get('paced_call_next_p99_ms')}"),
        ("issued / s, slowest 10 s window", r.get("issue_per_second_min_window")),
        ("issued / s, each window", r.get("issue_per_second_windows")),
        ("event to report p50 / p99 ms",
         f"{r.get('event_to_report_p50_ms')} / {r.get('event_to_report_p99_ms')}"),
        ("events / s sent", r.get("event_rate_sent")),
        ("ticket life ms at 10^3 / 10^5 stored",
         f"{r.get('flat_ticket_life_ms_1e3')} / {r.get('flat_ticket_life_ms_1e5')}"),
        ("store operations equal at 10^3 and 10^5", r.get("flat_operations_equal")),
        ("errors", r.get("errors")),
    ]
    print()
    for label, value in rows:
        print(f"{label:44} {value}")


if __name__ == "__main__":
    sys.exit(main())
