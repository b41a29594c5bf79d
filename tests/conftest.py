"""Fixtures shared by every test.

nameko 2.14's pytest plugin no longer monkey-patches, so it happens here, first.
The Mongo store comes from ``MONGO_URL`` (``mongomock://`` by default, or a real
``mongodb://host/``); each test gets databases under a prefix of its own, dropped
afterwards. Each test that needs the broker gets a fresh vhost (nameko's
``rabbit_config``).
"""

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "Eventlet is deprecated": nameko 2 needs it
    import eventlet

eventlet.monkey_patch()  # noqa: E402  (must precede every other import)

import json  # noqa: E402
import os  # noqa: E402
import uuid  # noqa: E402

import pytest  # noqa: E402
from kombu import Connection, Queue, binding  # noqa: E402

from services.kernel.infra import embedded  # noqa: E402
from services.kernel.infra.mongo import client_for  # noqa: E402
from services.kernel.infra.outbox import events_exchange  # noqa: E402

# The embedded store as the services run it (``client_for`` applies this too), for the
# tests that make a mongomock client of their own.
embedded.apply()

ADMIN_TOKEN = "test-admin-token"
AUTH_SECRET = "test-auth-secret-for-signing-tokens"


@pytest.fixture(scope="session")
def mongo_url():
    return os.environ.get("MONGO_URL") or "mongomock://localhost/"


@pytest.fixture
def db_prefix(mongo_url):
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    yield prefix
    client = client_for(mongo_url)
    for name in client.list_database_names():
        if name.startswith(prefix):
            client.drop_database(name)


@pytest.fixture
def database(mongo_url, db_prefix):
    """A database factory: ``database("catalog")`` is that service's database."""
    return lambda service: client_for(mongo_url)[f"{db_prefix}{service}"]


@pytest.fixture
def service_config(rabbit_config, web_config, mongo_url, db_prefix):
    config = dict(rabbit_config)
    config.update(web_config)
    config.update({
        "MONGO_URL": mongo_url,
        "MONGO_DB_PREFIX": db_prefix,
        "CATALOG_SEED": "never",
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "AUTH_SECRET": AUTH_SECRET,
    })
    return config


@pytest.fixture
def admin_headers():
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class EventTap:
    """A test subscriber: an exclusive queue bound to the events exchange."""

    def __init__(self, amqp_uri, *bindings):
        from services.kernel.infra.consumer import register_codec

        register_codec()  # kombu decodes application/cloudevents+json like a consumer does
        self.connection = Connection(amqp_uri)
        exchange = events_exchange()
        self.queue = Queue(f"tap-{uuid.uuid4().hex[:8]}", exchange,
                           bindings=[binding(exchange, routing_key=key) for key in bindings],
                           exclusive=True)  # gone with the connection, not the consumer
        self.queue(self.connection.default_channel).declare()
        self.received = []

    def drain(self, expected=None, timeout=10.0):
        """Collect messages until ``expected`` have arrived, or ``timeout`` passed, or
        (with no ``expected``) the queue stays empty for half a second."""
        clock = eventlet.hubs.get_hub().clock
        deadline = clock() + timeout
        quiet_since = clock()
        bound = self.queue(self.connection.default_channel)
        while clock() < deadline:
            if expected is not None and len(self.received) >= expected:
                break
            message = bound.get(no_ack=False, accept=["application/cloudevents+json", "json"])
            if message is None:
                if expected is None and clock() - quiet_since > 0.5:
                    break
                eventlet.sleep(0.05)
                continue
            quiet_since = clock()
            self.received.append({
                "routing_key": message.delivery_info["routing_key"],
                "content_type": message.content_type,
                "event": json.loads(message.body),
            })
            message.ack()
        return self.received

    def close(self):
        self.connection.release()


@pytest.fixture
def event_tap(rabbit_config):
    taps = []

    def make(*bindings):
        tap = EventTap(rabbit_config["AMQP_URI"], *(bindings or ("#",)))
        taps.append(tap)
        return tap

    yield make
    for tap in taps:
        tap.close()


class Http:
    """A requests session bound to one service's base URL."""

    def __init__(self, port):
        import requests

        self.base = f"http://127.0.0.1:{port}"
        self.session = requests.Session()

    def __getattr__(self, method):
        def call(path, **kwargs):
            kwargs.setdefault("timeout", 30)
            return self.session.request(method.upper(), self.base + path, **kwargs)

        return call


@pytest.fixture
def start_service(container_factory, service_config):
    """``start_service(ServiceClass, **config)`` -> (container, Http) on a port of its own.

    Every container of a test shares the broker vhost and the database prefix.
    """
    from nameko.testing.utils import find_free_port

    def start(cls, port=None, **overrides):
        port = port or find_free_port()
        config = {**service_config, "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}", **overrides}
        container = container_factory(cls, config)
        container.start()
        return container, Http(port)

    return start


@pytest.fixture
def cluster(service_config):
    """RPC to every service of the test's vhost: ``cluster.queue.issue_ticket(...)``."""
    from nameko.standalone.rpc import ClusterRpcProxy

    from services.kernel.infra.rpc import register_remote_errors

    register_remote_errors()
    with ClusterRpcProxy(service_config, timeout=60) as proxy:
        yield proxy
