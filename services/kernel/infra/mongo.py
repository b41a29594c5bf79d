"""MongoDB access for services: one client per URL, a database per service.

``mongodb://`` and ``mongodb+srv://`` URLs get a real pymongo client.
``mongomock://`` gets an in-process mongomock client; all mongomock clients of
one process that use the same URL share one store, so a test and the service it
starts see the same data. Nothing in a mongomock store survives the process.
"""

import logging
import threading

from nameko.extensions import DependencyProvider
from pymongo import ASCENDING, DESCENDING

from services.kernel.config import database_name, setting

log = logging.getLogger(__name__)

_clients = {}
_lock = threading.Lock()


class Index:
    """An index as a repository declares it: ``Index("status", "next_attempt_at")``,
    ``Index("webhook_id", "-created_at")`` (``-``: descending), with pymongo's options
    (``unique=True``, ``sparse=True``)."""

    def __init__(self, *fields, **options):
        self.keys = [(f.removeprefix("-"), DESCENDING if f.startswith("-") else ASCENDING)
                     for f in fields]
        self.options = options


class Collection:
    """A repository's collection, declared on its class with its indexes:
    ``messages = Collection("messages", Index("status", "next_attempt_at"))`` is
    ``self.db["messages"]``. The name is always written out: it is where the data
    lives, and renaming the attribute must not move it. :class:`MongoDatabase` creates
    the declared indexes (:meth:`Repository.ensure_indexes`).

    The repository needs a ``db`` attribute. The collection is looked up once per
    repository object and then kept on it (a plain attribute from then on).
    """

    def __init__(self, name, *indexes):
        self.name = name
        self.indexes = indexes

    def __set_name__(self, owner, attribute):
        self.attribute = attribute

    def __get__(self, repository, owner=None):
        if repository is None:
            return self
        collection = repository.db[self.name]
        repository.__dict__[self.attribute] = collection
        return collection

    @staticmethod
    def declared(repository):
        """The collections ``repository``'s class declares, as ``(attribute, Collection)``."""
        return [(name, value) for cls in reversed(type(repository).__mro__)
                for name, value in vars(cls).items() if isinstance(value, Collection)]


class Repository:
    """A base for a service's repository on its database ``db`` whose collections are
    declared with :class:`Collection`: :meth:`ensure_indexes` creates the indexes the
    declarations name (a subclass with more to do calls it first)."""

    def __init__(self, db):
        self.db = db

    def ensure_indexes(self):
        for attribute, declared in Collection.declared(self):
            for index in declared.indexes:
                getattr(self, attribute).create_index(index.keys, **index.options)


def client_for(url):
    """A (cached) client for ``url``."""
    with _lock:
        client = _clients.get(url)
        if client is None:
            if url.startswith("mongomock://"):
                import mongomock

                from services.kernel.infra import embedded

                embedded.apply()
                client = mongomock.MongoClient(tz_aware=True)
            elif url.startswith(("mongodb://", "mongodb+srv://")):
                import pymongo

                client = pymongo.MongoClient(url, tz_aware=True, serverSelectionTimeoutMS=5000)
            else:
                raise ValueError(f"MONGO_URL must start with mongodb:// or mongomock://, got {url!r}")
            _clients[url] = client
        return client


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
    ``ensure_indexes()`` method (a :class:`Repository` has), that runs once at
    container start-up. Before the first
    worker runs, each repository method named in :attr:`RECOVERY` finishes what a crash
    left half done and answers how many it finished; a count above 0 is logged.
    """

    RECOVERY = ()  # (repository method, log message with one %d)

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

    def start(self):
        for method, message in self.RECOVERY:
            finished = getattr(self.repository, method)()
            if finished:
                log.warning(message, finished)

    def get_dependency(self, worker_ctx):
        return self.repository
