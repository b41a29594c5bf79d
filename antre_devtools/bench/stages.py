"""Antre's benchmark: `make bench` (bounded, a few minutes), figures against a raw broker.

Run it with ``make bench`` or ``.venv/bin/python scripts/bench.py --help`` (the command
line; this module is what it runs).

Stages, each on a private RabbitMQ vhost, the services as ``nameko run`` processes with
their production config files (``deploy/config/*.yaml``), like ``bench_queue.py``
(``antre_devtools.harness``):

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
5. **flat**: in a process of its own (``antre_devtools.bench.flat``), on the embedded
   store, one ticket's life (issue, view, call-next, start, complete, overview) after 10^3
   and after 10^5 ended tickets: store operations (must be equal) and the time of
   ``--flat-tickets`` lives at each size.

The last line is JSON with, among others, ``issue_per_second_min_window``,
``lifecycle_tickets_per_second``, ``call_next_p99_ms``, ``event_to_report_p99_ms``,
``baseline_per_second``, ``ratio_issue_to_baseline``, ``double_calls`` and ``errors``.
The exit status is 1 when any request failed, a ticket was called twice or lost, or the
flat stage's operation counts differ.
"""

import json
import os
import random
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import requests
from kombu import Connection, Exchange

from antre_devtools import cli, harness
from antre_devtools.bench import flat
from antre_devtools.bench.load import (
    AGENCY,
    AUTH,
    SERVICE_CODES,
    TOKEN,
    LeanSession,
    Workload,
    baseline_round_trips,
    ms,
    p_ms,
    prepare_hall,
    ratio,
    rounded,
)
from antre_devtools.harness import REQUEST_TIMEOUT, HarnessError

WINDOW_SECONDS = 10
STAGES = ("lifecycle", "paced", "issuing", "reporting", "flat")
SERVICES = ("catalog", "queue", "reporting")  # the services this benchmark runs


# -- stage 2: the lifecycle ------------------------------------------------------------


class Lifecycle(Workload):
    """The queue benchmark's workload, also counting tickets handed to more than one call-next."""

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
        "lifecycle_tickets_per_second": rounded(args.tickets / wall) if wall else None,
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
        with LeanSession() as session:
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
        "paced_tickets_per_second": rounded(tickets / wall) if wall else None,
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
        with LeanSession() as session:
            n = index
            while not stop.is_set():
                try:
                    response = session.post(f"{queue_url}/api/queue/tickets",
                                            json={"service": services[n % len(services)]},
                                            timeout=REQUEST_TIMEOUT)
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
        thread.join(REQUEST_TIMEOUT + 5)
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
              "agency": AGENCY["code"], "service": SERVICE_CODES[n % 3],
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
            session.headers.update(AUTH)
            while not done.is_set():
                try:
                    response = session.get(f"{reporting_url}/api/reporting/daily",
                                           params={"site": "BWI", "date": local_day},
                                           timeout=REQUEST_TIMEOUT)
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
    poller.join(REQUEST_TIMEOUT + 5)
    counted = len(latencies)
    return {"events_published": sent, "event_rate_target": args.event_rate,
            "event_rate_sent": round(sent / publish_seconds, 1),
            "event_to_report_p50_ms": p_ms(latencies, 50),
            "event_to_report_p99_ms": p_ms(latencies, 99),
            "event_to_report_max_ms": ms(max(latencies) if latencies else None),
            "tickets_counted": served_seen[0], "tickets_published": tickets,
            "reporting_errors": errors[0] + (counted != tickets)}


def start_services(names, args, env, log_dir, ports):
    processes = harness.processes_for(names, ports, env, log_dir, cli.configs(args, names))
    return harness.start_all(processes, args.startup_timeout)


def run(args):
    """The benchmark with the options of ``scripts/bench.py``; the exit status."""
    signal.signal(signal.SIGTERM, harness.interrupt)
    isolation, ports, env = harness.bench_run(args, SERVICES, TOKEN)
    vhost, amqp_uri, mongo_url, log_dir = (isolation.vhost, isolation.amqp_uri,
                                           isolation.mongo_url, isolation.log_dir)
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
        baseline = baseline_round_trips(amqp_uri, args.baseline)
        result["baseline_per_second"] = rounded(len(baseline) / sum(baseline), 1)
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
            result.update(flat.in_own_process(args.flat_tickets, args.timeout))
        base = result["baseline_per_second"]
        result["ratio_issue_to_baseline"] = ratio(result.get("issue_per_second_min_window"), base)
        result["ratio_lifecycle_to_baseline"] = ratio(
            result.get("lifecycle_tickets_per_second"), base)
        result["double_calls"] = result.get("double_calls", 0) + result.get("paced_double_calls", 0)
        result["errors"] = sum(result.get(k, 0) for k in (
            "lifecycle_errors", "paced_errors", "issue_errors", "reporting_errors"))
        result["errors"] += 0 if result.get("flat_operations_equal", True) else 1
        failed = bool(result["errors"] or result["double_calls"])
        print_table(result)
        print(json.dumps(result, ensure_ascii=False))
        return 1 if failed else 0
    except HarnessError as exc:
        say(str(exc))
        return 2
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        harness.clean_up(processes, args.stop_grace, vhost if created else None, mongo_url,
                    isolation.mongo_prefix, log_dir, keep_logs=failed or args.keep_logs, say=say)




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

