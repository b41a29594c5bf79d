"""Load benchmark of the queue service, measured against a raw RabbitMQ baseline.

Run it with ``make bench-queue`` or ``.venv/bin/python scripts/bench_queue.py --help``.
What it measures and why as ratios: ``antre_devtools/bench/queue.py``.
"""

import sys

from antre_devtools import cli
from antre_devtools.bench import queue
from antre_devtools.bench.load import SERVICE_CODES


def parse_args(argv=None):
    parser = cli.parser(__doc__)
    cli.add_workload_arguments(parser, tickets=600, clients=20, counters=8, baseline=500,
                               max_services=len(SERVICE_CODES),
                               timeout_help="seconds the workload may take before it is "
                                            "called stuck")
    parser.add_argument("--idle-sleep", type=float, default=0.01,
                        help="seconds a counter waits after an empty call-next")
    parser.add_argument("--max-errors", type=int, default=50,
                        help="failed requests after which the workload stops")
    cli.add_config_arguments(parser, queue.SERVICES)
    cli.add_process_arguments(parser)
    args = parser.parse_args(argv)
    cli.check_workload_arguments(parser, args, len(SERVICE_CODES))
    return args


if __name__ == "__main__":
    sys.exit(queue.run(parse_args()))
