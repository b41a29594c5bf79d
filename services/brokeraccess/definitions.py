"""The broker topology Antre expects, from ``deploy/rabbitmq/definitions.json``.

The file holds one vhost's definitions in RabbitMQ's own format: the events exchange and
the policies (an offline agency's queue is bounded). It is applied through the
management API (``POST /api/definitions/<vhost>``), which adds and updates what it names
and leaves everything else alone, so applying it again is safe.

Why not RabbitMQ's ``load_definitions`` at boot: with definitions to load, RabbitMQ
skips creating its default user and vhost, so the file would have to carry the users,
and their password hashes would live in the repository instead of ``deploy/.env``.
"""

import json
from pathlib import Path
from urllib.parse import quote

from services.brokeraccess.broker_users import Management, ManagementError

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "deploy/rabbitmq/definitions.json"
# What a vhost's definitions may hold; users, vhosts and permissions are broker-wide and
# come from deploy/.env (the administrator) and `make broker-access` (agencies).
VHOST_KEYS = {"rabbit_version", "rabbitmq_version", "exchanges", "queues", "bindings",
              "policies", "parameters"}


def load(path=DEFAULT_FILE):
    """The definitions document at ``path``, checked; ValueError names what is wrong."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a JSON object of definitions")
    unexpected = sorted(set(document) - VHOST_KEYS)
    if unexpected:
        raise ValueError(f"{path}: not a vhost's definitions: {', '.join(unexpected)} "
                         f"(allowed: {', '.join(sorted(VHOST_KEYS))})")
    for key in ("exchanges", "queues", "bindings", "policies", "parameters"):
        items = document.get(key, [])
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ValueError(f"{path}: {key} must be a list of objects")
        if any("vhost" in item for item in items):
            raise ValueError(f"{path}: {key} must not name a vhost (it is given when applying)")
    return document


def apply(management, vhost, document):
    """Add or update ``document``'s definitions in ``vhost`` (``management``: a URL with
    credentials, or a :class:`Management`). Returns the names of what was applied."""
    mgmt = management if isinstance(management, Management) else Management(management)
    if mgmt.get(f"vhosts/{quote(vhost, safe='')}") is None:
        raise ManagementError(f"vhost {vhost!r} does not exist")
    mgmt.request("POST", f"definitions/{quote(vhost, safe='')}", json=document)
    return {key: [item.get("name") for item in document.get(key, [])]
            for key in ("exchanges", "queues", "policies") if document.get(key)}
