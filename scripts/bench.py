"""Antre's benchmark: `make bench` (bounded, a few minutes), figures against a raw broker.

Run it with ``make bench`` or ``.venv/bin/python scripts/bench.py --help``.
The stages and the figures of the last line (JSON): ``antre_devtools/bench/stages.py``.
"""

import sys

from antre_devtools import cli
from antre_devtools.bench import stages
from antre_devtools.bench.load import SERVICE_CODES


def parse_args(argv=None):
    parser = cli.parser(__doc__)
    cli.add_workload_arguments(parser, tickets=3000, clients=50, counters=50, baseline=1000,
                               max_services=len(SERVICE_CODES), timeout_help="per stage",
                               what="lifecycle: ")
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
    parser.add_argument("--skip", action="append", default=[], choices=stages.STAGES)
    cli.add_process_arguments(parser)
    cli.add_config_arguments(parser, stages.SERVICES)
    args = parser.parse_args(argv)
    cli.check_workload_arguments(parser, args, len(SERVICE_CODES))
    return args


if __name__ == "__main__":
    sys.exit(stages.run(parse_args()))
