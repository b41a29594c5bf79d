"""Load or save the catalog of a running catalog service, over RPC.

    python -m services.catalog.cli import my-mpp.yaml [--mode replace] [--dry-run]
    python -m services.catalog.cli export > catalog.yaml

``make seed`` imports the sample catalog this way. AMQP_URI selects the broker.
"""

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import yaml  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from services.catalog.commands import parse_document  # noqa: E402
from services.kernel.config import setting  # noqa: E402
from services.kernel.errors import AntreError  # noqa: E402
from services.kernel.infra.rpc import register_remote_errors  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m services.catalog.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("import", help="import a catalog document (YAML or JSON)")
    load.add_argument("file")
    load.add_argument("--mode", choices=("merge", "replace"), default="merge")
    load.add_argument("--dry-run", action="store_true")
    save = sub.add_parser("export", help="print the whole catalog")
    save.add_argument("--format", choices=("yaml", "json"), default="yaml")
    args = parser.parse_args(argv)

    config = {"AMQP_URI": setting("AMQP_URI")}
    register_remote_errors()  # the catalog's refusals arrive as AntreError, not RemoteError
    with ClusterRpcProxy(config, timeout=60) as cluster:
        try:
            if args.command == "import":
                with open(args.file, encoding="utf-8") as handle:
                    document = parse_document(handle.read())
                result = cluster.catalog.import_catalog(document, mode=args.mode,
                                                        dry_run=args.dry_run)
                result.pop("changed")
                print(json.dumps(result, indent=2))
            else:
                document = cluster.catalog.export_catalog()
                if args.format == "yaml":
                    print(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
                else:
                    print(json.dumps(document, indent=2, ensure_ascii=False))
        except AntreError as exc:
            print(json.dumps(exc.to_dict(), indent=2, ensure_ascii=False), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
