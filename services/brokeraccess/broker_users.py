"""RabbitMQ users for agencies: each sees only its own events, none may publish.

An agency's system connects to the MPP's RabbitMQ as ``agency-<code>`` and may:

* declare, bind, consume and delete queues (and exchanges, e.g. a dead-letter exchange)
  whose names start with ``agency.<CODE>.`` - nothing else;
* bind those queues to ``antre.events`` only with binding keys that end in its own code:
  ``*.*.<CODE>``, ``ticket.*.<CODE>``, ``ticket.called.<CODE>``. ``#``, ``ticket.#`` or
  another agency's code are refused (RabbitMQ checks the binding key itself against the
  user's topic permission when the queue is bound);
* publish nowhere it could harm: not on ``antre.events``, not on the default exchange
  (``amq.default``), not on any ``amq.*`` exchange. Only its own ``agency.<CODE>.*``
  exchanges, which can only reach its own queues.

RabbitMQ has three regexes per user and vhost (configure, write, read), matched against
queue AND exchange names alike, plus per-exchange topic regexes (write for publishing,
read for binding) matched against routing and binding keys. The user has no tags, so it
cannot use the management UI or API.

Everything here talks to the management HTTP API (``http://user:pass@host:15672``); the
passwords are sent once and RabbitMQ stores only their salted hash.
"""

import secrets
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import requests

from services.kernel.codes import is_code

EXCHANGE = "antre.events"
USER_PREFIX = "agency-"
# Agency codes as the catalog validates them (services.kernel.codes). They
# contain no regex metacharacter ('-' is literal outside a character class), so they are
# used in the permission regexes as they are.

# Protect the broker from one misbehaving agency system.
MAX_CONNECTIONS = 10
MAX_CHANNELS = 50
TIMEOUT = 15


class ManagementError(RuntimeError):
    """The management API refused a request (its status and message, never a password)."""


def check_code(code):
    if not is_code(code):
        raise ValueError(f"not an agency code: {code!r} (upper-case letters, digits and '-')")
    return code


def user_name(code, prefix=""):
    """``agency-disdukcapil``; ``prefix`` keeps test runs (users are broker-wide) apart."""
    return f"{prefix}{USER_PREFIX}{check_code(code).lower()}"


def queue_prefix(code):
    return f"agency.{check_code(code)}."


def default_binding(code):
    return f"*.*.{check_code(code)}"


def permissions(code):
    """The vhost permissions of an agency: ``{"configure", "write", "read"}`` regexes.

    ``write`` and ``configure`` need at least one character after ``agency.<CODE>.``, so
    they never match the empty name (the default exchange, checked as ``amq.default``),
    ``antre.events`` or ``amq.*``. ``read`` adds ``antre.events``: binding a queue needs
    write on the queue and read on the exchange.
    """
    own = rf"agency\.{check_code(code)}\..+"
    return {"configure": f"^{own}$", "write": f"^{own}$", "read": rf"^({own}|antre\.events)$"}


def topic_permissions(code):
    """The topic permissions on ``antre.events``: bind only keys of the form
    ``<entity>.<action>.<CODE>`` where entity and action may each be ``*``; publish none.

    (No ``{``/``}`` here: RabbitMQ expands ``{username}``/``{vhost}`` in these regexes.)
    """
    word = r"(\*|[a-z_]+)"
    return {"exchange": EXCHANGE, "write": "^$", "read": rf"^{word}\.{word}\.{check_code(code)}$"}


def generate_password():
    return secrets.token_urlsafe(24)


class Management:
    """A thin client of the RabbitMQ management API.

    ``url`` may carry the credentials (``http://guest:guest@127.0.0.1:15672``); they are
    taken out of it so that error messages never show them.
    """

    def __init__(self, url, session=None):
        parts = urlsplit(url)
        self.session = session or requests.Session()
        if parts.username is not None:
            self.session.auth = (unquote(parts.username), unquote(parts.password or ""))
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.base = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))

    def request(self, method, path, json=None, ok=(200, 201, 204)):
        response = self.session.request(method, f"{self.base}/api/{path}", json=json,
                                        timeout=TIMEOUT)
        if response.status_code not in ok:
            raise ManagementError(f"{method} /api/{path}: {response.status_code} {response.text[:300]}")
        return response

    def get(self, path, missing=None):
        response = self.request("GET", path, ok=(200, 404))
        return missing if response.status_code == 404 else response.json()

    def put(self, path, body):
        return self.request("PUT", path, json=body)

    def delete(self, path):
        return self.request("DELETE", path, ok=(200, 204, 404)).status_code != 404


def _q(name):
    return quote(name, safe="")


def _client(mgmt):
    return mgmt if isinstance(mgmt, Management) else Management(mgmt)


def ensure_agency_user(mgmt_url, vhost, code, password=None, *, prefix="", rotate=False,
                       max_connections=MAX_CONNECTIONS, max_channels=MAX_CHANNELS):
    """Create or update the agency's user, its permissions in ``vhost`` and its topic
    permissions on ``antre.events``. Idempotent.

    A new user gets ``password`` or a generated one. An existing user keeps its password
    unless ``password`` is given or ``rotate`` is true (tags are reset to none either way).
    Returns ``{"username", "agency", "vhost", "created", "password"}``, where ``password``
    is None when it did not change.
    """
    api = _client(mgmt_url)
    name = user_name(code, prefix)
    existing = api.get(f"users/{_q(name)}")
    if existing is None or password is not None or rotate:
        password = password or generate_password()
        api.put(f"users/{_q(name)}", {"password": password, "tags": ""})
    elif existing.get("tags"):
        # Someone gave it tags (management, administrator...): take them away, keep the password.
        api.put(f"users/{_q(name)}", {"password_hash": existing["password_hash"],
                                      "hashing_algorithm": existing["hashing_algorithm"],
                                      "tags": ""})
    api.put(f"permissions/{_q(vhost)}/{_q(name)}", permissions(code))
    # One topic permission per exchange; anything else set for this user in the vhost goes.
    for other in api.get(f"topic-permissions/{_q(vhost)}/{_q(name)}", missing=[]) or []:
        if other["exchange"] != EXCHANGE:
            api.delete(f"topic-permissions/{_q(vhost)}/{_q(name)}/{_q(other['exchange'])}")
    api.put(f"topic-permissions/{_q(vhost)}/{_q(name)}", topic_permissions(code))
    for limit, value in (("max-connections", max_connections), ("max-channels", max_channels)):
        if value is not None:
            api.put(f"user-limits/{_q(name)}/{limit}", {"value": int(value)})
    return {"username": name, "agency": code, "vhost": vhost, "created": existing is None,
            "password": password}


def remove_agency_user(mgmt_url, code, *, prefix=""):
    """Delete the agency's user (users are broker-wide: its permissions in every vhost go
    with it, and RabbitMQ closes its open connections). True if it existed."""
    return _client(mgmt_url).delete(f"users/{_q(user_name(code, prefix))}")


def list_agency_users(mgmt_url, vhost=None, *, prefix=""):
    """The agency users that exist, sorted: ``[{"username", "agency", "tags", "vhosts"}]``.

    ``vhosts`` lists the vhosts where the user has permissions; with ``vhost``, only the
    users that have permissions in it.
    """
    api = _client(mgmt_url)
    start = f"{prefix}{USER_PREFIX}"
    users = [u for u in api.get("users", missing=[]) if u["name"].startswith(start)]
    found = []
    for user in sorted(users, key=lambda u: u["name"]):
        grants = api.get(f"users/{_q(user['name'])}/permissions", missing=[]) or []
        vhosts = sorted(g["vhost"] for g in grants)
        if vhost is not None and vhost not in vhosts:
            continue
        tags = user.get("tags") or []
        found.append({"username": user["name"], "agency": user["name"][len(start):].upper(),
                      "tags": tags if isinstance(tags, list) else [t for t in tags.split(",") if t],
                      "vhosts": vhosts})
    return found
