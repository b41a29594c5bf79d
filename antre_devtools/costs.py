"""What a request costs the store, counted rather than timed.

``RecordingDatabase`` logs every store operation (collection, operation, filter, sort) a
piece of code makes, on any backend; ``ExaminedDocuments`` counts the documents the
embedded store tests against a filter (mongomock has no indexes, so that count is what
its time grows with). ``hall_that_has_seen`` builds a queue whose day already ended many
tickets, and ``cost_of_a_ticket_life`` measures each request of one ticket's life in it.
The unit tests (``tests/unit/queue/test_flat_day.py``, ``test_indexes.py``) and the
benchmark's flat stage (``antre_devtools.bench.flat``) use the same instruments.
"""

from datetime import UTC, datetime, timedelta

import mongomock.collection
import mongomock.filtering

from services.kernel.infra import embedded
from services.queue.commands import QueueCommands
from services.queue.queries import Settings
from services.queue.repository import QueueRepository

# Monday 2026-11-23, 09:00 in Jakarta (UTC+7).
MONDAY_9AM = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now=MONDAY_9AM):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


READS = ("find", "find_one", "count_documents", "find_one_and_update", "update_one",
         "update_many", "distinct", "delete_one", "delete_many", "replace_one", "insert_one",
         "insert_many", "bulk_write")


class RecordingCursor:
    def __init__(self, cursor, record):
        self.cursor, self.record = cursor, record

    def sort(self, key, direction=None):
        self.record["sort"] = [key] if isinstance(key, str) else [k for k, _ in key]
        self.cursor = self.cursor.sort(key, direction) if direction else self.cursor.sort(key)
        return self

    def limit(self, n):
        self.cursor = self.cursor.limit(n)
        return self

    def skip(self, n):
        self.cursor = self.cursor.skip(n)
        return self

    def __iter__(self):
        return iter(self.cursor)


class RecordingCollection:
    def __init__(self, collection, log):
        self._collection, self._log = collection, log

    def __getattr__(self, name):
        attribute = getattr(self._collection, name)
        if name not in READS:
            return attribute

        def call(*args, **kwargs):  # records the query, then runs it
            if name == "insert_one":
                query = {"_id": args[0]["_id"]}  # an insert is by its _id
            elif name in ("insert_many", "bulk_write"):  # one round trip for them all
                query = {"_id": {"$in": [_key_of(op) for op in args[0]]}}
            else:
                query = args[1] if name == "distinct" else (args[0] if args
                                                             else kwargs.get("filter"))
            record = {"collection": self._collection.name, "op": name, "filter": query or {},
                      "sort": [k for k, _ in kwargs["sort"]] if kwargs.get("sort") else []}
            self._log.append(record)
            result = attribute(*args, **kwargs)
            return RecordingCursor(result, record) if name == "find" else result

        return call


def _key_of(operation):
    """The ``_id`` a bulk operation (or inserted document) is about."""
    if isinstance(operation, dict):
        return operation.get("_id")
    where = getattr(operation, "_filter", None) or getattr(operation, "_doc", None) or {}
    return where.get("_id")


class RecordingDatabase:
    def __init__(self, db, log):
        self._db, self._log = db, log

    def __getitem__(self, name):
        return RecordingCollection(self._db[name], self._log)

    def __getattr__(self, name):
        return self[name] if not name.startswith("_") else getattr(self._db, name)


def settle(repo):
    """What the service does after a request: the written events are published, then
    taken out of the outbox (an ended ticket moves to the ended collection)."""
    for change in repo.written:
        repo.published(change)
    repo.written.clear()


WAITING_NOW = 12  # the live backlog is the same in both halls


class ExaminedDocuments:
    """Counts the documents the embedded store tests against a filter (a document the
    faster filter leaves undecided is counted twice: it is tested twice)."""

    def __init__(self, patch):
        """``patch(owner, name, value)`` replaces an attribute for the measurement's
        lifetime (pytest's ``monkeypatch.setattr`` in a test)."""
        self.count = 0
        original = mongomock.filtering.filter_applies

        def counting(search_filter, document):
            self.count += 1
            return original(search_filter, document)

        patch(mongomock.filtering, "filter_applies", counting)
        patch(mongomock.collection, "filter_applies", counting)
        # The embedded store's faster filter decides most documents without mongomock.
        compile_filter = embedded.compile_filter

        def counting_compile(query):
            decide = compile_filter(query)
            if decide is None:
                return None

            def counted(document):
                self.count += 1
                return decide(document)
            return counted

        patch(embedded, "compile_filter", counting_compile)


def hall_that_has_seen(database, ended, prefix, catalog, service="KTP-EL", counter="L01"):
    """A queue on ``catalog`` whose day already ended ``ended`` tickets of ``service``
    (served at ``counter``), with the same live backlog whatever ``ended`` is: the
    commands, the repository, the log of store operations."""
    log = []
    raw = database(f"{prefix}queue")
    repo = QueueRepository(RecordingDatabase(raw, log))
    repo.ensure_indexes()
    clock = Clock()
    queue = QueueCommands(repo, catalog, clock, Settings())
    queue.open_counter(counter)
    # A few tickets through their whole life, for ended documents shaped as written.
    for _ in range(4):  # each request's events published before the next, as the service does
        ticket, _secret = queue.issue(service)
        settle(repo)
        called = queue.call_next(counter)
        settle(repo)
        queue.start(called["_id"], counter)
        settle(repo)
        clock.advance(minutes=3)
        queue.complete(called["_id"], counter)
        settle(repo)
    templates = list(raw.tickets_ended.find())
    assert len(templates) == 4 and raw.tickets.count_documents({}) == 0
    batch = []
    for n in range(ended - len(templates)):
        template = templates[n % len(templates)]
        batch.append({**template, "_id": f"past-{n}", "visit_id": f"past-{n}",
                      "number": 1000 + n, "queue_key": template["queue_key"] - n - 1})
        if len(batch) == 10_000:
            raw.tickets_ended.insert_many(batch)
            batch = []
    if batch:
        raw.tickets_ended.insert_many(batch)
    assert raw.tickets_ended.estimated_document_count() == ended
    for _ in range(WAITING_NOW):
        queue.issue(service)
    settle(repo)
    log.clear()
    return queue, repo, log


def cost_of_a_ticket_life(queue, repo, log, examined, service="KTP-EL", counter="L01"):
    """Store operations and examined documents of each request of one ticket's life."""
    costs = {}

    def measure(name, request):
        log.clear()
        before = examined.count if examined else 0
        result = request()
        settle(repo)  # the relay's writes belong to the request
        costs[name] = ([(r["collection"], r["op"]) for r in log],
                       (examined.count - before) if examined else None)
        return result

    ticket, _secret = measure("issue", lambda: queue.issue(service))
    measure("view a waiting ticket", lambda: queue.queries.view(ticket["ticket_id"]))
    called = measure("call-next", lambda: queue.call_next(counter))
    measure("start", lambda: queue.start(called["_id"], counter))
    queue.clock.advance(minutes=4)
    measure("complete", lambda: queue.complete(called["_id"], counter))
    measure("view an ended ticket", lambda: queue.queries.view(called["_id"]))
    measure("overview", queue.queries.overview)
    return costs


