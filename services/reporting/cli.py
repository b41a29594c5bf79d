"""Operate the running reporting service over RPC.

    python -m services.reporting.cli replay               # rebuild every projection
    python -m services.reporting.cli dead-letters         # list events that kept failing
    python -m services.reporting.cli replay-dead-letters  # retry them after a fix

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
    parser.add_argument("command", choices=("replay", "dead-letters", "replay-dead-letters"))
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args(argv)
    with ClusterRpcProxy({"AMQP_URI": setting("AMQP_URI")}, timeout=600) as cluster:
        if args.command == "replay":
            result = cluster.reporting.replay()
        elif args.command == "dead-letters":
            result = cluster.reporting.dead_letters(args.limit)
        else:
            result = {"replayed": cluster.reporting.replay_dead_letters(args.limit)}
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
