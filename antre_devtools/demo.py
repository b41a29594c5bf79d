"""A whole Antre hall on this machine: every service, the sample catalog and a simulated MPP day.

Run it with ``make demo`` or ``.venv/bin/python scripts/demo.py --help`` (the command line;
this module is what it runs, the simulator is ``antre_devtools.hall``).

What it does
------------
1. Starts every service of ``services.registry`` as a separate ``nameko run`` process with
   the compose config files (``deploy/config/<service>.yaml``) on a private RabbitMQ vhost
   (with the definitions compose applies, ``deploy/rabbitmq/definitions.json``), on their
   development ports from the registry when they are free (else on free ports), through
   ``antre_devtools.harness`` (vhost, processes, health waits, clean shutdown). Each run gets a
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
   arrivals, calls, service, transfers, no-shows, cancellations and surveys, as
   ``antre_devtools.hall.Day`` describes. ``--minutes`` is the wall time of the opening
   hours (then the counters finish the queue), ``--tickets`` the number of citizens. Like real kiosks and
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

import random
import secrets
import signal
import time
from datetime import datetime

from antre_devtools import harness
from antre_devtools.hall import (
    COUNTERS,
    SITE,
    Day,
    Hall,
    demo_catalog,
    print_summary,
    say,
    set_up,
    wait_for_reporting,
)
from antre_devtools.harness import HarnessError, api
from services import registry


def run(args):
    """The demo with the options of ``scripts/demo.py``; the exit status."""
    signal.signal(signal.SIGTERM, harness.interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
    rng = random.Random(args.seed)
    isolation = harness.Isolation("demo", args.management, args.amqp)
    vhost, amqp_uri, mongo_url, log_dir = (isolation.vhost, isolation.amqp_uri,
                                           isolation.mongo_url, isolation.log_dir)
    mongo_prefix = isolation.mongo_prefix
    admin = secrets.token_urlsafe(24)
    processes, sim, vhost_created, status = [], None, False, 2
    try:
        if mongo_url.startswith("mongomock://"):
            say("WARNING: MONGO_URL is not set to a MongoDB server: every service keeps its data "
                "IN MEMORY and loses it when it stops.")
        ports = harness.development_ports()
        env = harness.service_env(ports, amqp_uri, mongo_url, mongo_prefix, admin, site=SITE)
        processes = harness.processes_for(registry.names(), ports, env, log_dir)
        urls = {p.name: p.url for p in processes}
        vhost.create()
        vhost_created = True
        vhost.apply_definitions()  # as compose does before the services start
        say(f"Starting {', '.join(registry.names())} on vhost {vhost.name} (logs in {log_dir}) ...")
        harness.start_all(processes, args.startup_timeout)

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
    except HarnessError as exc:
        say(f"demo: {exc}")
        return 2
    except KeyboardInterrupt:
        say("\ndemo: stopping ...")
        return status if status != 2 else 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if sim is not None:
            sim.stop.set()
        harness.clean_up(processes, args.stop_grace, vhost if vhost_created else None, mongo_url,
                       mongo_prefix, log_dir, keep_logs=status != 0 or args.keep_logs,
                       say=lambda text: say(f"demo: {text}"))
