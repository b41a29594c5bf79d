"""A whole Antre hall on this machine: every service, the sample catalog and a simulated MPP day.

Run it with ``make demo`` or ``.venv/bin/python scripts/demo.py --help``.
What it does, step by step: ``antre_devtools/demo.py``; the simulated day:
``antre_devtools/hall.py``.
"""

import sys

from antre_devtools import cli, demo


def parse_args(argv=None):
    parser = cli.parser(__doc__)
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
    cli.add_process_arguments(parser)
    args = parser.parse_args(argv)
    if args.tickets < 1 or args.minutes <= 0:
        parser.error("--tickets must be at least 1 and --minutes positive")
    if args.keep_running is None:
        args.keep_running = sys.stdin.isatty()
    return args


if __name__ == "__main__":
    sys.exit(demo.run(parse_args()))
