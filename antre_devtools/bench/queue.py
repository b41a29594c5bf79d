"""Load benchmark of the queue service, measured against a raw RabbitMQ baseline.

Run it with ``make bench-queue`` or ``.venv/bin/python scripts/bench_queue.py --help``
(the command line; this module is what it runs).

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

import json
import os
import signal
import sys

import requests

from antre_devtools import harness
from antre_devtools.bench.load import (
    AUTH,
    TOKEN,
    Workload,
    baseline_round_trips,
    percentile,
    prepare_hall,
    ratio,
    rounded,
)
from antre_devtools.harness import REQUEST_TIMEOUT, HarnessError, check

SERVICES = ("catalog", "queue")  # the services this benchmark runs


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


def warm_up(queue_url, services, counter):
    """Not measured: one ticket per service, served, fills the queue's catalog cache and
    opens the RPC reply queue."""
    for code in services:
        check(requests.post(f"{queue_url}/api/queue/tickets", json={"service": code},
                            timeout=REQUEST_TIMEOUT), "warm-up issue")
    for _ in services:
        answer = check(requests.post(f"{queue_url}/api/queue/counters/{counter}/call-next",
                                     headers=AUTH, timeout=REQUEST_TIMEOUT), "warm-up call-next")
        for action in ("start", "complete"):
            check(requests.post(f"{queue_url}/api/queue/tickets/{answer['ticket']['ticket_id']}/"
                                f"{action}", json={"counter": counter}, headers=AUTH,
                                timeout=REQUEST_TIMEOUT), f"warm-up {action}")


def run(args):
    """The benchmark with the options of ``scripts/bench_queue.py``; the exit status."""
    # SIGTERM (e.g. from make or CI) unwinds like Ctrl-C, so the finally below still runs.
    signal.signal(signal.SIGTERM, harness.interrupt)

    isolation, ports, env = harness.bench_run(args, SERVICES, TOKEN)
    vhost, amqp_uri, mongo_url, log_dir = (isolation.vhost, isolation.amqp_uri,
                                           isolation.mongo_url, isolation.log_dir)
    processes = []
    work = None
    vhost_created = False
    failed = True
    try:
        processes = harness.processes_for(SERVICES, ports, env, log_dir,
                                          {"catalog": args.catalog_config,
                                           "queue": args.queue_config})
        vhost.create()
        vhost_created = True
        print(f"vhost {vhost.name}; services' logs in {log_dir}", file=sys.stderr)
        catalog, queue = harness.start_all(processes, args.startup_timeout)

        services, counters = prepare_hall(catalog.url, queue.url, args.services, args.counters)
        warm_up(queue.url, services, counters[0])

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
    except HarnessError as exc:
        print(f"bench-queue: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench-queue: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finish cleaning up
        if work is not None:
            work.stop.set()  # after Ctrl-C the threads are still sending requests
        harness.clean_up(processes, args.stop_grace, vhost if vhost_created else None, mongo_url,
                         isolation.mongo_prefix, log_dir, keep_logs=failed or args.keep_logs,
                         say=lambda text: print(f"bench-queue: {text}", file=sys.stderr))
