"""Give each agency a broker account that can read only its own events.

    python -m services.brokeraccess.cli sync \\
        --catalog-amqp amqp://guest:guest@127.0.0.1:5672/ \\
        --management-url http://guest:guest@127.0.0.1:15672 --vhost / \\
        [--agency DISDUKCAPIL ...] [--rotate] [--out broker-credentials.json] [--show]
    python -m services.brokeraccess.cli sync --agencies-from-file my-mpp.yaml ...
    python -m services.brokeraccess.cli list   --management-url ... [--vhost /]
    python -m services.brokeraccess.cli revoke --management-url ... --agency BPJSKES
    python -m services.brokeraccess.cli definitions --management-url ... [--vhost /] \\
        [--file deploy/rabbitmq/definitions.json]

``sync`` reads the active agencies from the running catalog service (over RPC on
``--catalog-amqp``, default ``AMQP_URI``), or from a catalog document with
``--agencies-from-file`` (no catalog needed), and ensures a user ``agency-<code>`` for
each (see :mod:`services.brokeraccess.broker_users` for what that user may do). Re-running it
is safe: existing users keep their passwords (``--rotate`` gives them new ones) and get
their permissions reset to the expected ones.

New passwords are written, with everything else an agency needs (vhost, queue prefix,
an example binding key, an AMQP URL), to ``--out`` (default ``broker-credentials.json``),
created with mode 0600 and merged with what the file already holds. Hand each agency its
own entry over a safe channel, then delete the file. Passwords appear on stdout only with
``--show``. ``--public-amqp-url`` is the broker address as agencies reach it (default:
the host of ``--catalog-amqp``).

``definitions`` applies the broker topology Antre expects (the events exchange and the
policies of ``deploy/rabbitmq/definitions.json``, see :mod:`services.brokeraccess.definitions`)
to a vhost; compose runs it once before the services start.

``revoke`` deletes an agency's user (everywhere: RabbitMQ users are broker-wide) and
closes its connections; its queues stay until an operator deletes them.
"""

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "Eventlet is deprecated": nameko 2 needs it
    import eventlet

eventlet.monkey_patch()  # noqa: E402  (before nameko, for its RPC proxy)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from urllib.parse import quote, urlsplit  # noqa: E402

import requests  # noqa: E402
import yaml  # noqa: E402

from services.brokeraccess import broker_users, definitions  # noqa: E402
from services.kernel.config import setting  # noqa: E402

DEFAULT_MANAGEMENT_URL = "http://guest:guest@127.0.0.1:15672"
DEFAULT_OUT = "broker-credentials.json"


def agencies_from_catalog(amqp_uri):
    """Codes of the active agencies, from the catalog service over RPC."""
    from nameko.standalone.rpc import ClusterRpcProxy

    with ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=60) as cluster:
        items = cluster.catalog.list("agencies", limit=500)["items"]
    return [item["code"] for item in items if item.get("active", True)]


def agencies_from_file(path):
    """Codes of the active agencies of a catalog document (YAML or JSON)."""
    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle) or {}
    return [item["code"] for item in document.get("agencies") or [] if item.get("active", True)]


def public_url(base, username, password, vhost):
    """``amqp://user:pass@host:port/vhost`` on the host and port of ``base``."""
    parts = urlsplit(base)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    return (f"{parts.scheme or 'amqp'}://{quote(username, safe='')}:{quote(password, safe='')}"
            f"@{host}:{port}/{quote(vhost, safe='')}")


def credential(result, public_amqp_url):
    code = result["agency"]
    return {
        "agency": code,
        "username": result["username"],
        "password": result["password"],
        "vhost": result["vhost"],
        "amqp_url": public_url(public_amqp_url, result["username"], result["password"],
                               result["vhost"]),
        "exchange": broker_users.EXCHANGE,
        "queue_prefix": broker_users.queue_prefix(code),
        "queue": f"{broker_users.queue_prefix(code)}events",
        "binding_key": broker_users.default_binding(code),
    }


def write_credentials(path, entries):
    """Merge ``entries`` into the JSON file at ``path`` (by agency and vhost), mode 0600."""
    existing = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            existing = json.load(handle).get("credentials", [])
    fresh = {(e["agency"], e["vhost"]) for e in entries}
    merged = [e for e in existing if (e["agency"], e["vhost"]) not in fresh] + entries
    temporary = f"{path}.tmp{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"credentials": sorted(merged, key=lambda e: (e["vhost"], e["agency"]))},
                  handle, indent=2)
        handle.write("\n")
    os.replace(temporary, path)
    os.chmod(path, 0o600)


def sync(args):
    if args.agencies_from_file:
        codes = agencies_from_file(args.agencies_from_file)
    else:
        codes = agencies_from_catalog(args.catalog_amqp)
    if args.agency:
        unknown = sorted(set(args.agency) - set(codes))
        if unknown:
            print(f"not active agencies of the catalog: {', '.join(unknown)}", file=sys.stderr)
            return 1
        codes = [code for code in codes if code in set(args.agency)]
    api = broker_users.Management(args.management_url)
    new = []
    for code in codes:
        result = broker_users.ensure_agency_user(api, args.vhost, code, prefix=args.user_prefix,
                                             rotate=args.rotate)
        state = "created" if result["created"] else ("rotated" if result["password"] else "updated")
        line = f"{state:8} {result['username']} (vhost {args.vhost!r})"
        if result["password"]:
            new.append(credential(result, args.public_amqp_url or args.catalog_amqp))
            if args.show:
                line += f" password {result['password']}"
        print(line)
    if new:
        write_credentials(args.out, new)
        print(f"{len(new)} new credential(s) written to {args.out} (mode 0600)")
    return 0


def apply_definitions(args):
    """Apply the definitions file, waiting up to ``--wait`` seconds for the management API
    (a broker that reports healthy may not listen on its management port yet)."""
    document = definitions.load(args.file)
    deadline = time.monotonic() + args.wait
    while True:
        try:
            applied = definitions.apply(args.management_url, args.vhost, document)
            break
        except requests.ConnectionError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1)
    print(f"applied {args.file} to vhost {args.vhost}: {json.dumps(applied)}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m services.brokeraccess.cli",
                                     description="Broker accounts for agencies.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(command, help_text):
        p = sub.add_parser(command, help=help_text)
        p.add_argument("--management-url", default=os.environ.get("RABBIT_MANAGEMENT_URL")
                       or DEFAULT_MANAGEMENT_URL, help="http://user:pass@host:15672")
        p.add_argument("--user-prefix", default="", help=argparse.SUPPRESS)  # tests
        return p

    p = common("sync", "create or update the users of the catalog's active agencies")
    p.add_argument("--catalog-amqp", default=setting("AMQP_URI"))
    p.add_argument("--agencies-from-file", metavar="CATALOG_YAML")
    p.add_argument("--vhost", default="/")
    p.add_argument("--agency", action="append", metavar="CODE", help="only these (repeatable)")
    p.add_argument("--rotate", action="store_true", help="new passwords for existing users")
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--public-amqp-url", help="the broker as agencies reach it")
    p.add_argument("--show", action="store_true", help="also print new passwords")

    p = common("list", "the agency users that exist")
    p.add_argument("--vhost")

    p = common("revoke", "delete agency users")
    p.add_argument("--agency", action="append", metavar="CODE", required=True)

    p = common("definitions", "apply the exchange and policies Antre expects to a vhost")
    p.add_argument("--vhost", default="/")
    p.add_argument("--file", default=str(definitions.DEFAULT_FILE))
    p.add_argument("--wait", type=float, default=60.0,
                   help="seconds to wait for the management API to answer")

    args = parser.parse_args(argv)
    try:
        if args.command == "sync":
            return sync(args)
        if args.command == "definitions":
            return apply_definitions(args)
        if args.command == "list":
            users = broker_users.list_agency_users(args.management_url, args.vhost,
                                               prefix=args.user_prefix)
            print(json.dumps(users, indent=2))
            return 0
        for code in args.agency:
            gone = broker_users.remove_agency_user(args.management_url, code, prefix=args.user_prefix)
            print(f"{'deleted' if gone else 'absent '} {broker_users.user_name(code, args.user_prefix)}")
        return 0
    except (broker_users.ManagementError, requests.RequestException, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
