"""The options the command lines in ``scripts/`` share, so that each defines them once."""

import argparse

from antre_devtools import harness
from services import registry


def parser(doc):
    """A parser described by the first paragraph of a script's docstring, with defaults
    shown in ``--help``."""
    return argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def add_process_arguments(parser):
    """The options of every script that runs the services as processes on a private vhost."""
    parser.add_argument("--amqp", default=harness.AMQP_URL, help="broker, without the vhost")
    parser.add_argument("--management", default=harness.MANAGEMENT_URL,
                        help="RabbitMQ management API")
    parser.add_argument("--startup-timeout", type=float, default=60.0,
                        help="seconds to wait for GET /health of each service")
    parser.add_argument("--stop-grace", type=float, default=5.0,
                        help="seconds the services get to stop after SIGTERM before SIGKILL")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the services' logs even when everything went well")


def add_config_arguments(parser, names):
    """``--<service>-config`` for each service in ``names``, by default its registry file."""
    for name in names:
        parser.add_argument(f"--{name}-config", default=registry.entry(name).config_file)


def configs(args, names):
    """The config files chosen with ``add_config_arguments``: name -> file."""
    return {name: getattr(args, f"{name}_config") for name in names}


def add_workload_arguments(parser, *, tickets, clients, counters, baseline, max_services,
                           timeout_help, what=""):
    """The hall the benchmarks load: tickets, clients, counters, services, the baseline's
    round trips, and the time a run may take."""
    parser.add_argument("--tickets", type=int, default=tickets, help=f"{what}tickets in total")
    parser.add_argument("--clients", type=int, default=clients, help="threads issuing tickets")
    parser.add_argument("--counters", type=int, default=counters,
                        help=f"{what}counters calling and serving")
    parser.add_argument("--services", type=int, default=3,
                        help=f"services in the catalog, the tickets spread over them "
                             f"(1-{max_services})")
    parser.add_argument("--baseline", type=int, default=baseline, help="raw kombu round trips")
    parser.add_argument("--timeout", type=float, default=300.0, help=timeout_help)


def check_workload_arguments(parser, args, max_services):
    if not 1 <= args.services <= max_services:
        parser.error(f"--services must be between 1 and {max_services}")
    for name in ("tickets", "clients", "counters", "baseline"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
