"""MongoDB access for services: one client per URL, a database per service.

``mongodb://`` and ``mongodb+srv://`` URLs get a real pymongo client.
``mongomock://`` gets an in-process mongomock client; all mongomock clients of
one process that use the same URL share one store, so a test and the service it
starts see the same data. Nothing in a mongomock store survives the process.
"""

import logging
import threading

from nameko.extensions import DependencyProvider

from services.kernel.config import database_name, setting

log = logging.getLogger(__name__)

_clients = {}
_lock = threading.Lock()


def client_for(url):
    """A (cached) client for ``url``."""
    with _lock:
        client = _clients.get(url)
        if client is None:
            if url.startswith("mongomock://"):
                import mongomock

                look_up_ids_directly()
                client = mongomock.MongoClient(tz_aware=True)
            elif url.startswith(("mongodb://", "mongodb+srv://")):
                import pymongo

                client = pymongo.MongoClient(url, tz_aware=True, serverSelectionTimeoutMS=5000)
            else:
                raise ValueError(f"MONGO_URL must start with mongodb:// or mongomock://, got {url!r}")
            _clients[url] = client
        return client


_ID_TYPES = (str, int, bytes)


def look_up_ids_directly():
    """Make the embedded store find a document by its ``_id`` without a scan.

    mongomock answers every query, ``{"_id": x}`` included, by testing each document of
    the collection, so a look-up by key costs as much as the collection is large. A real
    MongoDB answers it from the ``_id`` index. The patch takes the one candidate from the
    store's dictionary and still applies the whole filter to it, so the answer is the same;
    only the cost changes. Idempotent; applied when the first embedded client is made.
    """
    from mongomock import filtering
    from mongomock.collection import Collection

    if getattr(Collection, "_antre_id_lookup", False):
        return
    scan = Collection._iter_documents

    def _iter_documents(self, filter):
        key = filter.get("_id") if isinstance(filter, dict) else None
        if key is None or type(key) not in _ID_TYPES and type(key).__name__ != "ObjectId":
            return scan(self, filter)
        try:
            document = self._store[key]
        except KeyError:
            return iter(())
        return iter([document] if filtering.filter_applies(filter, document) else [])

    Collection._iter_documents = _iter_documents
    Collection._antre_id_lookup = True


def ensure_outbox_index(collection):
    """The outbox sweep looks for events older than its grace period: on an index of
    the pending events' times, sparse (a document with nothing pending is not in it)."""
    collection.create_index([("outbox.queued_at", 1)], sparse=True)


def is_in_memory(url):
    return url.startswith("mongomock://")


def ping(db):
    """True when the database answers."""
    try:
        db.client.admin.command("ping")
        return True
    except Exception:  # any driver error means "not healthy"; reported, not raised
        log.warning("MongoDB ping failed", exc_info=True)
        return False


class MongoDatabase(DependencyProvider):
    """Injects a repository built on this service's own database.

    ``repository_factory(db)`` builds the object handed to workers; when it has an
    ``ensure_indexes()`` method, that runs once at container start-up.
    """

    def __init__(self, repository_factory=None, **kwargs):
        self.repository_factory = repository_factory or (lambda db: db)
        super().__init__(**kwargs)

    def setup(self):
        config = self.container.config
        url = setting("MONGO_URL", config)
        if is_in_memory(url):
            log.warning(
                "MONGO_URL=%s: %s keeps its data in memory only; nothing survives a restart",
                url,
                self.container.service_name,
            )
        self.db = client_for(url)[database_name(self.container.service_name, config)]
        self.repository = self.repository_factory(self.db)
        ensure = getattr(self.repository, "ensure_indexes", None)
        if ensure:
            ensure()
        outboxes = getattr(self.repository, "outbox_collections", None)
        for collection in outboxes() if outboxes else ():
            ensure_outbox_index(collection)

    def get_dependency(self, worker_ctx):
        return self.repository
