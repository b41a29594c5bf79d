"""Operate the running reporting service over RPC.

    python -m services.reporting.cli replay               # rebuild every projection
    python -m services.reporting.cli dead-letters         # list events that kept failing
    python -m services.reporting.cli replay-dead-letters  # retry them after a fix
    python -m services.reporting.cli requeue-dead-letter ID   # retry one
    python -m services.reporting.cli drop-dead-letter ID      # throw one away

AMQP_URI selects the broker.
"""

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from services.kernel.config import setting  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m services.reporting.cli")
    parser.add_argument("command", choices=("replay", "dead-letters", "replay-dead-letters",
                                            "requeue-dead-letter", "drop-dead-letter"))
    parser.add_argument("letter_id", nargs="?", help="a dead letter's id (from dead-letters)")
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args(argv)
    with ClusterRpcProxy({"AMQP_URI": setting("AMQP_URI")}, timeout=600) as cluster:
        if args.command == "replay":
            result = cluster.reporting.replay()
        elif args.command == "dead-letters":
            result = cluster.reporting.dead_letters(args.limit)
        elif args.command == "replay-dead-letters":
            result = {"replayed": cluster.reporting.replay_dead_letters(args.limit)}
        else:
            if not args.letter_id:
                parser.error(f"{args.command} needs the letter's id")
            action = "requeue" if args.command == "requeue-dead-letter" else "drop"
            result = cluster.reporting.take_dead_letter(args.letter_id, action)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
